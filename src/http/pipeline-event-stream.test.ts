// Live log streams end when the server stops (the bus closes): without `done`, so clients reconnect to the next server.
import { expect, test } from "bun:test";
import { makeTestApp } from "../testing/test-app.ts";

function runningPipeline() {
  const t = makeTestApp();
  const { pipelineStore: store, bus } = t.deps;
  const id = store.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "a.ipynb" }).id;
  store.markRunning(id);
  bus.append(id, "stdout", "epoch 1");
  return { ...t, id };
}

test("an open stream of a running pipeline ends, without done, when the bus closes", async () => {
  const { app, auth, deps, id } = runningPipeline();
  const res = await app.request(`/api/pipelines/${id}/events`, { headers: auth });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("epoch 1")) text += decoder.decode((await reader.read()).value);
  deps.bus.append(id, "stdout", "epoch 2");
  deps.bus.close();
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value);
  }
  expect(text).toContain("epoch 2");
  expect(text).not.toContain("event: done");
});

test("a stream opened after the bus closed replays the stored lines and ends", async () => {
  const { app, auth, deps, id } = runningPipeline();
  deps.bus.close();
  const res = await app.request(`/api/pipelines/${id}/events`, { headers: auth });
  const text = await res.text();
  expect(text).toContain("epoch 1");
  expect(text).not.toContain("event: done");
});
