// Small pieces the pipeline pages share: status badges, times, durations, commit shas.

/** A pipeline or phase status, styled per status (`status-failed`, ...); `id` for the one a page watches. */
export function StatusBadge(props: { status: string; id?: string }) {
  return (
    <span id={props.id} class={`status status-${props.status}`}>
      {props.status}
    </span>
  );
}

/** An ISO time as `YYYY-MM-DD HH:MM:SS` (UTC), or a dash. */
export function When(props: { iso: string | null }) {
  if (!props.iso) return <span class="muted">—</span>;
  return (
    <time datetime={props.iso} title={`${props.iso} (UTC)`}>
      {props.iso.slice(0, 19).replace("T", " ")}
    </time>
  );
}

/** Milliseconds as `850 ms`, `12.3 s`, `4 min 05 s` or `1 h 02 min`; a dash when unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** The first 7 characters of a commit sha, the whole sha on hover. */
export function ShortSha(props: { sha: string }) {
  return <code title={props.sha}>{props.sha.slice(0, 7)}</code>;
}

/** The repository a pipeline came from, by full name, or a note that it was removed. */
export function RepoRef(props: { repoId: number | null; name?: string }) {
  if (props.repoId === null || props.name === undefined) return <span class="muted">removed</span>;
  return <span title={`repository #${props.repoId}`}>{props.name}</span>;
}
