import { describe, expect, test } from "bun:test";
import { createHmac, randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { AcceptPush } from "../github/deliveries.ts";
import { MAX_WEBHOOK_BYTES } from "./webhook.ts";
import { TEST_WEBHOOK_SECRET, makeTestApp } from "../testing/test-app.ts";

const FIXTURES = resolve(import.meta.dir, "..", "testing", "fixtures", "github-webhooks");
const fixtureFiles = readdirSync(FIXTURES).filter((f) => f.endsWith(".json"));
const fixture = (name: string) => Bun.file(join(FIXTURES, name)).bytes();
const eventOf = (file: string) => file.slice(0, file.indexOf("."));

const sign = (body: Uint8Array | string, secret = TEST_WEBHOOK_SECRET) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

type Call = Parameters<AcceptPush>[0];

function setup() {
  const calls: Call[] = [];
  const t = makeTestApp(
    {},
    {
      acceptPush: (input) => {
        calls.push(input);
        return { queued: true, job_id: calls.length };
      },
    },
  );
  const deliveries = () =>
    t.db.$client
      .query<{ id: string; event: string; repo_full_name: string | null; outcome: string; detail: string; payload: string | null }, []>(
        "SELECT id, event, repo_full_name, outcome, detail, payload FROM webhook_deliveries ORDER BY rowid",
      )
      .all();
  const post = async (body: Uint8Array | string, headers: Record<string, string | undefined> = {}): Promise<Response> => {
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) h[k] = v;
    return t.app.request("/webhook/github", { method: "POST", headers: h, body: body as BodyInit });
  };
  /** A delivery as GitHub sends it: signed, with event and a fresh delivery id unless given. */
  const deliver = (event: string, body: Uint8Array | string, id: string = randomUUID()): Promise<Response> =>
    post(body, { "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": id, "X-Hub-Signature-256": sign(body) });
  const register = async (repo: Record<string, unknown>) => {
    const res = await t.app.request("/api/repos", { method: "POST", headers: { ...t.auth, "Content-Type": "application/json" }, body: JSON.stringify(repo) });
    expect(res.status).toBe(201);
  };
  return { ...t, calls, deliveries, post, deliver, register };
}

/** A copy of the new-branch push fixture pointed at `ref` (a push GitHub would send for a branch). */
async function pushTo(ref: string, changes: Record<string, unknown> = {}): Promise<string> {
  const payload = JSON.parse(await Bun.file(join(FIXTURES, "push.with-new-branch.payload.json")).text());
  return JSON.stringify({ ...payload, ref, ...changes }, null, 2);
}

describe("POST /webhook/github with every fixture", () => {
  for (const file of fixtureFiles) {
    test(`${file} (event ${eventOf(file)}) → 200, nothing started`, async () => {
      const { deliver, calls, deliveries } = setup();
      const event = eventOf(file);
      const res = await deliver(event, await fixture(file), `d-${file}`);
      expect(res.status).toBe(200);
      const body = await res.json();
      if (event === "ping") expect(body).toEqual({ ok: true, zen: "Anything added dilutes everything else." });
      else if (event === "push") expect(body).toEqual({ ignored: "repository Codertocat/Hello-World is not registered" });
      else expect(body).toEqual({ ignored: `${event} events are not used` });
      expect(calls).toHaveLength(0);
      const rows = deliveries();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ id: `d-${file}`, event, outcome: event === "ping" ? "ping" : "ignored", payload: null });
    });
  }

  test("push.payload.json (a tag deletion) starts nothing even for a registered repository", async () => {
    const { deliver, calls, register } = setup();
    await register({ full_name: "Codertocat/Hello-World" });
    const res = await deliver("push", await fixture("push.payload.json"));
    expect(res.status).toBe(200);
    expect((await res.json()).ignored).toContain("tag push (simple-tag deleted)");
    expect(calls).toHaveLength(0);
  });

  test("a push to the registered branch → 202 with acceptPush's result, raw payload stored", async () => {
    const { deliver, calls, deliveries, register } = setup();
    await register({ full_name: "codertocat/hello-world", branch: "main" });
    const body = await pushTo("refs/heads/main");
    const res = await deliver("push", body, "delivery-run-1");
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ queued: true, job_id: 1 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.deliveryId).toBe("delivery-run-1");
    expect(calls[0]!.repo).toMatchObject({ id: 1, full_name: "codertocat/hello-world", branch: "main" });
    expect(calls[0]!.payload).toMatchObject({
      ref: "refs/heads/main",
      before: "0".repeat(40),
      after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
      created: true,
      deleted: false,
      repository: { full_name: "Codertocat/Hello-World", clone_url: "https://github.com/Codertocat/Hello-World.git" },
      head_commit: { id: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", message: "Initial commit" },
      commits: [{ added: ["README.md"], modified: [], removed: [] }],
    });
    expect(deliveries()).toEqual([
      {
        id: "delivery-run-1",
        event: "push",
        repo_full_name: "Codertocat/Hello-World",
        outcome: "accepted",
        detail: "push to main at 6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        payload: body,
      },
    ]);
  });

  test("GitHub's default form encoding (payload=<json>) is accepted, signed over the form bytes", async () => {
    const { post, calls, register } = setup();
    await register({ full_name: "Codertocat/Hello-World" });
    const form = new URLSearchParams({ payload: await pushTo("refs/heads/main") }).toString();
    const res = await post(form, {
      "Content-Type": "application/x-www-form-urlencoded",
      "X-GitHub-Event": "push",
      "X-GitHub-Delivery": "form-1",
      "X-Hub-Signature-256": sign(form),
    });
    expect(res.status).toBe(202);
    expect(calls).toHaveLength(1);
  });
});

describe("webhook under bad input (docs/faults.md)", () => {
  test("no signature → 401 invalid signature, nothing stored", async () => {
    const { post, deliveries, register, calls } = setup();
    await register({ full_name: "Codertocat/Hello-World" });
    const body = await pushTo("refs/heads/main");
    const res = await post(body, { "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "x1" });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "invalid signature" });
    expect(deliveries()).toHaveLength(0);
    expect(calls).toHaveLength(0);
  });

  const wrongSignatures: [string, (body: string) => string][] = [
    ["another secret", (b) => sign(b, "not-the-secret")],
    ["signature of other bytes", (b) => sign(`${b} `)],
    ["sha1 scheme", (b) => `sha1=${createHmac("sha1", TEST_WEBHOOK_SECRET).update(b).digest("hex")}`],
    ["bare hex", (b) => createHmac("sha256", TEST_WEBHOOK_SECRET).update(b).digest("hex")],
    ["garbage", () => "sha256=zz"],
  ];
  for (const [name, signature] of wrongSignatures) {
    test(`wrong signature (${name}) → 401, nothing stored`, async () => {
      const { post, deliveries, register, calls } = setup();
      await register({ full_name: "Codertocat/Hello-World" });
      const body = await pushTo("refs/heads/main");
      const res = await post(body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "x2",
        "X-Hub-Signature-256": signature(body),
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: "invalid signature" });
      expect(deliveries()).toHaveLength(0);
      expect(calls).toHaveLength(0);
    });
  }

  test("the exact bytes are verified: a leading BOM is part of the signed body", async () => {
    const { post } = setup();
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"zen":"x"}')]);
    const headers = { "X-GitHub-Event": "ping", "X-GitHub-Delivery": "bom" };
    // Signed without the BOM but sent with it: must not verify.
    expect((await post(bytes, { ...headers, "X-Hub-Signature-256": sign('{"zen":"x"}') })).status).toBe(401);
    // Signed with the BOM: verifies, then the BOM makes it malformed JSON.
    expect((await post(bytes, { ...headers, "X-Hub-Signature-256": sign(bytes) })).status).toBe(400);
  });

  test("bytes that are not UTF-8 → 401 (cannot be verified as GitHub signs)", async () => {
    const { post, deliveries } = setup();
    const bytes = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    const res = await post(bytes, { "X-GitHub-Event": "ping", "X-GitHub-Delivery": "bin", "X-Hub-Signature-256": sign(bytes) });
    expect(res.status).toBe(401);
    expect(deliveries()).toHaveLength(0);
  });

  for (const [name, body] of [
    ["truncated JSON", '{"ref": "refs/heads/main", '],
    ["not JSON at all", "hello"],
    ["a JSON array", "[1,2]"],
    ["a JSON string", '"push"'],
  ] as const) {
    test(`malformed JSON after a valid signature (${name}) → 400, nothing stored`, async () => {
      const { deliver, deliveries } = setup();
      const res = await deliver("push", body);
      expect(res.status).toBe(400);
      expect((await res.json()).error).toContain("JSON");
      expect(deliveries()).toHaveLength(0);
    });
  }

  test("a push payload without the fields we use → 400 naming them, nothing stored", async () => {
    const { deliver, deliveries } = setup();
    const res = await deliver("push", JSON.stringify({ ref: "refs/heads/main", repository: { full_name: "a/b" } }));
    expect(res.status).toBe(400);
    const { error } = await res.json();
    for (const field of ["before", "after", "repository.clone_url"]) expect(error).toContain(field);
    expect(deliveries()).toHaveLength(0);
  });

  test("missing X-GitHub-Event or X-GitHub-Delivery → 400, nothing stored", async () => {
    const { post, deliveries } = setup();
    const body = await fixture("ping.payload.json");
    const noEvent = await post(body, { "X-GitHub-Delivery": "p1", "X-Hub-Signature-256": sign(body) });
    expect(noEvent.status).toBe(400);
    expect((await noEvent.json()).error).toContain("X-GitHub-Event");
    const noDelivery = await post(body, { "X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(body) });
    expect(noDelivery.status).toBe(400);
    expect((await noDelivery.json()).error).toContain("X-GitHub-Delivery");
    expect(deliveries()).toHaveLength(0);
  });

  test("over 25 MB by Content-Length → 413 before the body is read", async () => {
    const { app, deliveries } = setup();
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024));
        if (pulled > 10) controller.close();
      },
    });
    const res = await app.request("/webhook/github", {
      method: "POST",
      headers: { "Content-Length": String(MAX_WEBHOOK_BYTES + 1), "X-GitHub-Event": "push", "X-GitHub-Delivery": "big1", "X-Hub-Signature-256": "sha256=00" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await res.json()).error).toContain("25 MB");
    expect(pulled).toBeLessThanOrEqual(1);
    expect(deliveries()).toHaveLength(0);
  });

  test("over 25 MB without Content-Length → 413 once the cap is passed while reading", async () => {
    const { app, deliveries } = setup();
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += chunk.length;
        controller.enqueue(chunk);
        if (sent > 40 * 1024 * 1024) controller.close();
      },
    });
    const res = await app.request("/webhook/github", {
      method: "POST",
      headers: { "X-GitHub-Event": "push", "X-GitHub-Delivery": "big2", "X-Hub-Signature-256": "sha256=00" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(40 * 1024 * 1024);
    expect(deliveries()).toHaveLength(0);
  });

  test("a signed body just under 25 MB is read and verified", async () => {
    const { deliver } = setup();
    const body = JSON.stringify({ zen: "z", padding: "x".repeat(MAX_WEBHOOK_BYTES - 100) });
    const res = await deliver("ping", body);
    expect(res.status).toBe(200);
  });

  test("same X-GitHub-Delivery twice → 200 duplicate, acceptPush called once, one row", async () => {
    const { deliver, calls, deliveries, register } = setup();
    await register({ full_name: "Codertocat/Hello-World" });
    const body = await pushTo("refs/heads/main");
    expect((await deliver("push", body, "same-id")).status).toBe(202);
    const again = await deliver("push", body, "same-id");
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ duplicate: true, delivery: "same-id" });
    expect(calls).toHaveLength(1);
    expect(deliveries().map((d) => [d.id, d.outcome])).toEqual([["same-id", "accepted"]]);
  });

  test("the same delivery arriving many times at once is accepted exactly once", async () => {
    const { deliver, calls, register } = setup();
    await register({ full_name: "Codertocat/Hello-World" });
    const body = await pushTo("refs/heads/main");
    const answers = await Promise.all(Array.from({ length: 8 }, () => deliver("push", body, "racy").then((r) => r.status)));
    expect(answers.filter((s) => s === 202)).toHaveLength(1);
    expect(answers.filter((s) => s === 200)).toHaveLength(7);
    expect(calls).toHaveLength(1);
  });

  test("a duplicate of an ignored delivery is still a duplicate", async () => {
    const { deliver } = setup();
    const body = await fixture("issues.opened.payload.json");
    expect(await (await deliver("issues", body, "i-1")).json()).toEqual({ ignored: "issues events are not used" });
    expect(await (await deliver("issues", body, "i-1")).json()).toEqual({ duplicate: true, delivery: "i-1" });
  });

  const ignoredPushes: [string, () => Promise<string>, string][] = [
    [
      "unregistered repository",
      () => pushTo("refs/heads/main", { repository: { full_name: "someone/else", clone_url: "https://github.com/someone/else.git" } }),
      "repository someone/else is not registered",
    ],
    ["other branch", () => pushTo("refs/heads/feature/x"), "push to branch feature/x: the registered branch is main"],
    ["tag", () => pushTo("refs/tags/v1.0"), "tag push (v1.0): only pushes to branch main run pipelines"],
    [
      "branch deletion",
      () => pushTo("refs/heads/main", { deleted: true, created: false, after: "0".repeat(40), head_commit: null, commits: [] }),
      "branch deletion: branch main was deleted",
    ],
    ["a ref that is not a branch", () => pushTo("refs/notes/commits"), "refs/notes/commits is not a branch"],
  ];
  for (const [name, body, reason] of ignoredPushes) {
    test(`push: ${name} → 200 with the reason, acceptPush not called`, async () => {
      const { deliver, calls, deliveries, register } = setup();
      await register({ full_name: "Codertocat/Hello-World", branch: "main" });
      const res = await deliver("push", await body());
      expect(res.status).toBe(200);
      expect((await res.json()).ignored).toContain(reason);
      expect(calls).toHaveLength(0);
      expect(deliveries()).toMatchObject([{ outcome: "ignored", detail: expect.stringContaining(reason), payload: null }]);
    });
  }

  test("acceptPush failing rolls the delivery back (500), so GitHub's redelivery is not a duplicate", async () => {
    let fail = true;
    const calls: string[] = [];
    const t = makeTestApp(
      {},
      {
        acceptPush: ({ deliveryId }) => {
          // Writes made here share the delivery's transaction.
          t.db.$client.query("INSERT INTO settings (key, value) VALUES (?, 'x')").run(`job-${calls.length}`);
          calls.push(deliveryId);
          if (fail) throw new Error("queue is full");
          return { queued: true };
        },
      },
    );
    await t.app.request("/api/repos", {
      method: "POST",
      headers: { ...t.auth, "Content-Type": "application/json" },
      body: JSON.stringify({ full_name: "Codertocat/Hello-World" }),
    });
    const body = await pushTo("refs/heads/main");
    const send = () =>
      t.app.request("/webhook/github", {
        method: "POST",
        headers: { "X-GitHub-Event": "push", "X-GitHub-Delivery": "retry-me", "X-Hub-Signature-256": sign(body) },
        body,
      });
    expect((await send()).status).toBe(500);
    const count = (sql: string) => t.db.$client.query<{ n: number }, []>(sql).get()!.n;
    expect(count("SELECT count(*) AS n FROM webhook_deliveries")).toBe(0);
    expect(count("SELECT count(*) AS n FROM settings WHERE key LIKE 'job-%'")).toBe(0);
    fail = false;
    expect((await send()).status).toBe(202);
    expect(count("SELECT count(*) AS n FROM webhook_deliveries")).toBe(1);
    expect(count("SELECT count(*) AS n FROM settings WHERE key LIKE 'job-%'")).toBe(1);
  });
});

describe("GET /api/deliveries", () => {
  test("lists recent deliveries newest first, without payloads, for admins only", async () => {
    const { app, auth, deliver, register } = setup();
    await register({ full_name: "Codertocat/Hello-World" });
    await deliver("ping", await fixture("ping.payload.json"), "a");
    await deliver("issues", await fixture("issues.opened.payload.json"), "b");
    await deliver("push", await pushTo("refs/heads/main"), "c");
    expect((await app.request("/api/deliveries")).status).toBe(401);

    const res = await app.request("/api/deliveries?limit=2", { headers: auth });
    expect(res.status).toBe(200);
    const { deliveries } = await res.json();
    expect(deliveries.map((d: { id: string }) => d.id)).toEqual(["c", "b"]);
    expect(deliveries[0]).toMatchObject({ event: "push", repo_full_name: "Codertocat/Hello-World", outcome: "accepted" });
    expect(deliveries[0].received_at).toBeString();
    expect(JSON.stringify(deliveries)).not.toContain("head_commit");

    const pings = await (await app.request("/api/deliveries?outcome=ping", { headers: auth })).json();
    expect(pings.deliveries).toMatchObject([{ id: "a", detail: "Anything added dilutes everything else." }]);

    for (const bad of ["limit=0", "limit=abc", "limit=5000", "outcome=nope", "colour=red"]) {
      const r = await app.request(`/api/deliveries?${bad}`, { headers: auth });
      expect(r.status).toBe(400);
    }
  });
});
