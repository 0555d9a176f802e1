// The deploy/ examples stay correct without a container engine: Debian's docker-compose parses the compose file (with
// the settings it demands), and HAProxy checks its config with the addresses compose gives it.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const DEPLOY = join(import.meta.dir, "..", "deploy");
const COMPOSE = join(DEPLOY, "docker-compose.yml");
const HAPROXY = join(DEPLOY, "haproxy.cfg");

function run(argv: string[], env: Record<string, string>): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env }, stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

const SETTINGS = { ADMIN_TOKEN: "a".repeat(32), GITHUB_WEBHOOK_SECRET: "s".repeat(32) };

describe("deploy/docker-compose.yml", () => {
  test("parses: a primary, two replicas following it, HAProxy with the repository's config, MLflow and a replica following it behind a profile", () => {
    const r = run(["docker-compose", "-f", COMPOSE, "--profile", "mlflow", "config"], SETTINGS);
    expect(r.code).toBe(0);
    // What compose made of the file, every variable substituted and every reference resolved.
    const config = Bun.YAML.parse(r.out) as {
      services: Record<string, { command?: string[]; environment?: Record<string, string>; volumes?: string[]; image?: string }>;
    };
    expect(Object.keys(config.services).sort()).toEqual(["haproxy", "mlflow", "primary", "replica-mlflow", "replica1", "replica2"]);
    expect(config.services.primary!.command).toEqual(["serve"]);
    for (const replica of ["replica1", "replica2"]) expect(config.services[replica]!.command).toEqual(["replica", "http://primary:8000"]);
    expect(config.services["replica-mlflow"]!.command).toEqual(["replica", "--follow-mlflow"]);
    expect(config.services["replica-mlflow"]!.environment!.MLFLOW_TRACKING_URI).toBe("http://mlflow:5000");
    const haproxy = config.services.haproxy!;
    expect(haproxy.volumes).toContain(`${HAPROXY}:/usr/local/etc/haproxy/haproxy.cfg:ro`);
    // HAProxy reaches the replicas by their service names.
    expect([haproxy.environment!.REPLICA1_ADDR, haproxy.environment!.REPLICA2_ADDR]).toEqual(["replica1:8000", "replica2:8000"]);
  });

  test("refuses to start without the primary's secrets, naming them", () => {
    const r = run(["docker-compose", "-f", COMPOSE, "config"], {});
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("set ADMIN_TOKEN");
  });
});

describe("deploy/haproxy.cfg", () => {
  test("is a valid HAProxy configuration with the addresses compose (or a test) gives it", () => {
    const r = run(["haproxy", "-c", "-f", HAPROXY], { LISTEN_ADDR: ":8080", REPLICA1_ADDR: "replica1:8000", REPLICA2_ADDR: "replica2:8000" });
    expect(r.out).toContain("Configuration file is valid");
    expect(r.code).toBe(0);
  });
});
