import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "./connection.ts";
import { hashToken } from "../lib/tokens.ts";
import { ensureSecrets, getSetting, resetAdminToken } from "./settings-store.ts";

const freshDb = () => {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), "mlops-settings-")), "mlops.db"));
  migrate(db);
  return db;
};

describe("ensureSecrets", () => {
  test("first start generates both secrets, stores the webhook secret and only the admin token's hash", () => {
    const db = freshDb();
    const s = ensureSecrets(db, { githubWebhookSecret: "", adminToken: "" });
    expect(s.generatedAdminToken).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(s.adminTokenSha256).toBe(hashToken(s.generatedAdminToken!));
    expect(getSetting(db, "github_webhook_secret")).toBe(s.webhookSecret);
    const all = JSON.stringify(db.$client.query("SELECT * FROM settings").all());
    expect(all).not.toContain(s.generatedAdminToken!);
  });

  test("a second start reuses them and prints no token", () => {
    const db = freshDb();
    const first = ensureSecrets(db, { githubWebhookSecret: "", adminToken: "" });
    const second = ensureSecrets(db, { githubWebhookSecret: "", adminToken: "" });
    expect(second.generatedAdminToken).toBeUndefined();
    expect(second.webhookSecret).toBe(first.webhookSecret);
    expect(second.adminTokenSha256).toBe(first.adminTokenSha256);
  });

  test("environment values win and nothing is generated", () => {
    const db = freshDb();
    const s = ensureSecrets(db, { githubWebhookSecret: "from-env", adminToken: "env-token-0123456789" });
    expect(s).toEqual({ webhookSecret: "from-env", adminTokenSha256: hashToken("env-token-0123456789") });
    expect(getSetting(db, "admin_token_sha256")).toBeUndefined();
  });

  test("reset-admin-token replaces the stored hash", () => {
    const db = freshDb();
    const first = ensureSecrets(db, { githubWebhookSecret: "", adminToken: "" });
    const token = resetAdminToken(db);
    expect(token).not.toBe(first.generatedAdminToken);
    expect(ensureSecrets(db, { githubWebhookSecret: "", adminToken: "" }).adminTokenSha256).toBe(hashToken(token));
  });
});
