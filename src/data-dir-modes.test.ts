// Files at rest: the data dir is the server's user's only (0700), the database and its -wal and -shm 0600, also
// when an older install left them looser. Notebooks still run (they reach their work dir through the sandbox).
import { expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "./db/connection.ts";
import { makeRepo, sendPush, startTestServer, waitForStatus } from "./testing/e2e.ts";
import { modelNotebook, registerRepo, tinyOnnxBase64, waitForCreated } from "./testing/pipeline-fixtures.ts";

const mode = (path: string) => statSync(path).mode & 0o777;

test("a new database and its -wal and -shm are 0600; a looser existing file is tightened", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-modes-"));
  const fresh = join(dir, "fresh.db");
  const db = openDatabase(fresh);
  migrate(db);
  db.$client.run("INSERT INTO settings (key, value) VALUES ('k', 'v')");
  for (const f of [fresh, `${fresh}-wal`, `${fresh}-shm`]) expect({ f, mode: mode(f) }).toEqual({ f, mode: 0o600 });
  db.$client.close();

  const old = join(dir, "old.db");
  writeFileSync(old, "");
  chmodSync(old, 0o644);
  openDatabase(old).$client.close();
  expect(mode(old)).toBe(0o600);
});

test("the server makes its data dir 0700 (tightening an older one), and notebooks still run", async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), "mlops-modes-server-")), "data");
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  const server = await startTestServer({}, dataDir);
  try {
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(dataDir, "mlops.db"))).toBe(0o600);
    const repo = makeRepo({ "model.ipynb": modelNotebook("modes", await tinyOnnxBase64()) });
    const repoId = await registerRepo(server, "acme/modes", repo.dir);
    await sendPush(server.base, { fullName: "acme/modes", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForCreated(server, repoId);
    expect((await waitForStatus(server, p!.id, ["succeeded", "failed"], 90_000)).status).toBe("succeeded");
  } finally {
    await server.stop();
  }
}, 120_000);
