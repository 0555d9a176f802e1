import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "./config.ts";
import { ConfigError } from "./lib/errors.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "mlops-config-"));

describe("loadConfig", () => {
  test("defaults from an empty environment", () => {
    const cwd = tmp();
    const c = loadConfig({}, cwd);
    expect(c.port).toBe(8000);
    expect(c.host).toBe("0.0.0.0");
    expect(c.dataDir).toBe(join(cwd, "data"));
    expect(c.databasePath).toBe(join(cwd, "data", "mlops.db"));
    expect(c.autoDeployOnSuccess).toBe(true);
    expect(c.minAccuracyThreshold).toBe(0.7);
    expect(c.workerConcurrency).toBeGreaterThanOrEqual(1);
    expect(c.pipelineTimeoutSeconds).toBe(3600);
    expect(c.shutdownGraceSeconds).toBe(30);
    expect(c.retentionDays).toBe(30);
    expect(c.githubApiUrl).toBe("https://api.github.com");
    expect(c.mlflowTrackingUri).toBe("");
    expect(c.publicUrl).toBe("");
    expect(c.python).toBe("python3");
    expect(c.papermill).toBe("papermill");
    expect(c.maxBatchRows).toBe(10_000);
    expect(c.maxRequestBytes).toBe(10 * 1024 * 1024);
    expect(c.maxArtifactBytes).toBe(2 * 1024 ** 3);
  });

  test("valid values become typed fields", () => {
    const cwd = tmp();
    mkdirSync(join(cwd, ".venv", "bin"), { recursive: true });
    writeFileSync(join(cwd, ".venv", "bin", "python"), "");
    writeFileSync(join(cwd, ".venv", "bin", "papermill"), "");
    const c = loadConfig(
      {
        PORT: "9001",
        HOST: "127.0.0.1",
        DATA_DIR: "state",
        DATABASE_URL: "sqlite:///other/x.db",
        AUTO_DEPLOY_ON_SUCCESS: "false",
        MIN_ACCURACY_THRESHOLD: "0.85",
        WORKER_CONCURRENCY: "3",
        PIPELINE_TIMEOUT_SECONDS: "60",
        SHUTDOWN_GRACE_SECONDS: "0",
        RETENTION_DAYS: "0",
        MLFLOW_TRACKING_URI: "http://127.0.0.1:5000/",
        PUBLIC_URL: "https://mlops.example.com/",
        ADMIN_TOKEN: "a-long-enough-admin-token",
        RUNNER_BACKEND: "local",
        MAX_BATCH_ROWS: "500",
        MAX_REQUEST_BYTES: "65536",
        MAX_ARTIFACT_BYTES: "5000000000",
      },
      cwd,
    );
    expect(c).toMatchObject({
      retentionDays: 0,
      port: 9001,
      host: "127.0.0.1",
      dataDir: join(cwd, "state"),
      databasePath: join(cwd, "other", "x.db"),
      autoDeployOnSuccess: false,
      minAccuracyThreshold: 0.85,
      workerConcurrency: 3,
      pipelineTimeoutSeconds: 60,
      shutdownGraceSeconds: 0,
      mlflowTrackingUri: "http://127.0.0.1:5000",
      publicUrl: "https://mlops.example.com",
      adminToken: "a-long-enough-admin-token",
      python: join(cwd, ".venv", "bin", "python"),
      papermill: join(cwd, ".venv", "bin", "papermill"),
      maxBatchRows: 500,
      maxRequestBytes: 65536,
      maxArtifactBytes: 5_000_000_000,
    });
  });

  const bad: [string, string, string][] = [
    ["PORT", "abc", "must be a whole number from 0 to 65535"],
    ["PORT", "70000", "must be a whole number from 0 to 65535"],
    ["MIN_ACCURACY_THRESHOLD", "1.5", "must be a number from 0 to 1"],
    ["MIN_ACCURACY_THRESHOLD", "high", "must be a number from 0 to 1"],
    ["AUTO_DEPLOY_ON_SUCCESS", "maybe", "must be true or false"],
    ["WORKER_CONCURRENCY", "0", "must be a whole number from 1 to 64"],
    ["PIPELINE_TIMEOUT_SECONDS", "-5", "must be a whole number of seconds"],
    ["SHUTDOWN_GRACE_SECONDS", "30s", "must be a whole number of seconds from 0 to 86400"],
    ["SHUTDOWN_GRACE_SECONDS", "90000", "must be a whole number of seconds from 0 to 86400"],
    ["RETENTION_DAYS", "-1", "must be a whole number of days from 0 to 36500 (0 keeps everything)"],
    ["RETENTION_DAYS", "30d", "must be a whole number of days from 0 to 36500"],
    ["RUNNER_BACKEND", "kubernetes", "must be local or ray"],
    ["RAY_ADDRESS", "ray-head:8265", "must be an http(s) URL"],
    ["RAY_HEADERS", "Authorization: x", "must be a JSON object of header names to string values"],
    ["RAY_HEADERS", '{"X-Count": 3}', "must be a JSON object of header names to string values"],
    ["RAY_PENDING_TIMEOUT_SECONDS", "0", "must be a whole number of seconds from 1 to 604800"],
    ["MLFLOW_TRACKING_URI", "not a url", "must be an http(s) URL"],
    ["MLFLOW_TRACKING_URI", "file:///tmp/mlruns", "must be an http(s) URL"],
    ["FRONTEND_URL", "ftp://localhost:3000", "must be an http(s) origin"],
    ["PUBLIC_URL", "mlops.example.com", "must be an http(s) URL"],
    ["PUBLIC_URL", "ftp://mlops.example.com", "must be an http(s) URL"],
    ["DATABASE_URL", "postgres://x/y", "only SQLite is supported"],
    ["ADMIN_TOKEN", "short", "at least 16 characters"],
    ["PREDICT_TOKEN", "short", "at least 16 characters"],
    ["LOG_LEVEL", "loud", "must be debug, info"],
    ["MAX_BATCH_ROWS", "0", "must be a whole number of rows from 1 to 10000000"],
    ["MAX_BATCH_ROWS", "lots", "must be a whole number of rows"],
    ["MAX_REQUEST_BYTES", "10MB", "must be a whole number of bytes from 1024"],
    ["MAX_ARTIFACT_BYTES", "2GB", "must be a whole number of bytes from 1024 to 1099511627776"],
    ["MAX_ARTIFACT_BYTES", "100", "must be a whole number of bytes from 1024 to 1099511627776"],
  ];
  for (const [name, value, message] of bad) {
    test(`${name}=${value} is refused with the variable named`, () => {
      let err: unknown;
      try {
        loadConfig({ [name]: value }, tmp());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as Error).message;
      expect(text).toContain(`invalid ${name}=${JSON.stringify(value)}`);
      expect(text).toContain(message);
      expect(text.split("\n")).toHaveLength(1);
    });
  }

  test("RUNNER_BACKEND=ray needs RAY_ADDRESS and PUBLIC_URL, each named on one line; with both, Ray's settings are read", () => {
    const tryLoad = (env: Record<string, string>) => {
      try {
        loadConfig(env, tmp());
        return "";
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(tryLoad({ RUNNER_BACKEND: "ray", PUBLIC_URL: "https://mlops.example.com" })).toBe(
      'invalid RUNNER_BACKEND="ray": RAY_ADDRESS must be set to the Ray Jobs API, such as http://ray-head:8265',
    );
    expect(tryLoad({ RUNNER_BACKEND: "ray", RAY_ADDRESS: "http://ray-head:8265" })).toBe(
      'invalid RUNNER_BACKEND="ray": PUBLIC_URL must be set (Ray jobs upload their results to it)',
    );
    const config = loadConfig(
      { RUNNER_BACKEND: "ray", RAY_ADDRESS: "http://ray-head:8265/", PUBLIC_URL: "https://mlops.example.com", RAY_HEADERS: '{"Authorization": "Bearer t"}' },
      tmp(),
    );
    expect(config.runnerBackend).toBe("ray");
    expect(config.ray).toEqual({
      address: "http://ray-head:8265",
      headers: { Authorization: "Bearer t" },
      pendingTimeoutSeconds: 600,
      lostTimeoutSeconds: 120,
    });
    expect(tryLoad({ RUNNER_BACKEND: "ray", RAY_ADDRESS: "http://ray-head:8265", PUBLIC_URL: "https://m.example.com", RAY_LOST_TIMEOUT_SECONDS: "0" })).toBe(
      'invalid RAY_LOST_TIMEOUT_SECONDS="0": must be a whole number of seconds from 1 to 86400',
    );
    expect(config.workerConcurrency).toBe(16);
    expect(loadConfig({}, tmp()).runnerBackend).toBe("local");
  });

  test("an unwritable data dir is refused", () => {
    const cwd = tmp();
    const file = join(cwd, "not-a-dir");
    writeFileSync(file, "x");
    expect(() => loadConfig({ DATA_DIR: join(file, "data") }, cwd)).toThrow(/invalid DATA_DIR=.*must be a directory this process can create, read and write/);
  });
});
