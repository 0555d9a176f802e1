// A request without a Host header, sent on a real socket as HAProxy's default health check does (HTTP/1.0), gets the
// answer the route gives, not a 500.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { startTestServer, type TestServer } from "../testing/e2e.ts";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

/** Send `request` as raw bytes and return the status line and body of the answer. */
function raw(request: string): Promise<{ status: string; body: string }> {
  const port = Number(new URL(server.base).port);
  return new Promise((resolve, reject) => {
    let data = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    socket.on("data", (chunk) => (data += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", body = ""] = data.split("\r\n\r\n");
      resolve({ status: head.split("\r\n")[0]!, body });
    });
  });
}

describe("requests without a Host header", () => {
  test("HTTP/1.0 GET /health without Host is answered as with one", async () => {
    const r = await raw("GET /health HTTP/1.0\r\n\r\n");
    expect(r.status).toBe("HTTP/1.1 200 OK");
    expect((JSON.parse(r.body) as { status: string }).status).toBe("ok");
  });

  test("an unknown path without Host is a 404 in JSON, and the server answers normally after it", async () => {
    const r = await raw("GET /nowhere HTTP/1.0\r\n\r\n");
    expect(r.status).toBe("HTTP/1.1 404 Not Found");
    expect(JSON.parse(r.body)).toHaveProperty("error");
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
  });
});
