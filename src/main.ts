#!/usr/bin/env bun
// The command line: `mlops [serve]`, `mlops replica <primary URL>`, `mlops replica --follow-mlflow`, `mlops --version`,
// `mlops --help`, `mlops reset-admin-token`, `mlops create-replica-token`, `mlops mlflow-signature-key`, `mlops check-model`.
import { checkModel } from "./cli/check-model.ts";
import { loadConfig, loadMlflowReplicaConfig, loadReplicaConfig, type ReplicaConfig } from "./config.ts";
import { offerExamples } from "./examples/first-run.ts";
import { migrate, openDatabase } from "./db/connection.ts";
import { getSetting, resetAdminToken } from "./db/settings-store.ts";
import { ConfigError } from "./lib/errors.ts";
import { makeNonDumpable } from "./lib/non-dumpable.ts";
import { VERSION } from "./lib/version.ts";
import { VersionSigner } from "./mlflow/model-signature.ts";
import { startReplica } from "./replica/replica-server.ts";
import { ReplicaTokens } from "./replication/replica-tokens.ts";
import { startServer } from "./server.ts";

const HELP = `mlops ${VERSION} — push a notebook to GitHub, get a deployed model.

Usage:
  mlops [serve]              start the server (configuration from the environment; see README)
  mlops serve --examples     the same; on a data dir with no repositories, register and run the bundled
                             example notebooks and print a curl line to try (used by scripts/start.sh)
  mlops replica <primary URL>
                             serve predictions only, following what the primary deploys (REPLICA_TOKEN required;
                             also PORT, HOST, DATA_DIR = its file cache, PREDICT_TOKEN, SHUTDOWN_GRACE_SECONDS)
  mlops replica --follow-mlflow
                             serve predictions only, following MLflow's "deployed" aliases instead of a primary
                             (MLFLOW_TRACKING_URI and MLFLOW_SIGNATURE_KEY required; MLFLOW_POLL_SECONDS, default 5)
  mlops reset-admin-token    replace the admin token and print the new one
  mlops create-replica-token [--name <label>]
                             make a token for a serving replica (GET /api/replication/* only) and print it
                             alone on the last line; list and revoke tokens under /api/replica-tokens
  mlops mlflow-signature-key print the key that verifies the model versions this server signs in MLflow (a
                             replica's MLFLOW_SIGNATURE_KEY; derived from the webhook secret, which it is not)
  mlops check-model <file>   load an ONNX model, print its inputs and outputs, predict a row of zeros
  mlops --version            print the version
  mlops --help               print this help

Main settings: PORT (8000), HOST (0.0.0.0), DATA_DIR (./data), ADMIN_TOKEN, GITHUB_WEBHOOK_SECRET,
MLFLOW_TRACKING_URI, WORKER_CONCURRENCY, PIPELINE_TIMEOUT_SECONDS, MIN_ACCURACY_THRESHOLD, SHUTDOWN_GRACE_SECONDS.
`;

async function main(argv: string[]): Promise<number> {
  const [command = "serve", ...rest] = argv;
  if (command === "--version" || command === "-v" || command === "version") {
    console.log(VERSION);
    return 0;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    console.log(HELP);
    return 0;
  }
  if (command === "reset-admin-token") {
    const config = loadConfig(process.env);
    const db = openDatabase(config.databasePath);
    migrate(db);
    console.log(`new admin token: ${resetAdminToken(db)}`);
    db.$client.close();
    return 0;
  }
  if (command === "create-replica-token") {
    const named = rest[0] === "--name" && rest.length === 2;
    if (rest.length && !named) {
      console.error("usage: mlops create-replica-token [--name <label>]");
      return 2;
    }
    const config = loadConfig(process.env);
    const db = openDatabase(config.databasePath);
    migrate(db);
    const made = new ReplicaTokens(db).create(named ? rest[1]!.trim() : "");
    db.$client.close();
    console.log(`replica token ${made.id}${made.name ? ` (${made.name})` : ""} created; shown once, keep it (the replica's REPLICA_TOKEN):`);
    console.log(made.token);
    return 0;
  }
  if (command === "mlflow-signature-key") {
    if (rest.length) {
      console.error("usage: mlops mlflow-signature-key");
      return 2;
    }
    const config = loadConfig(process.env);
    const db = openDatabase(config.databasePath);
    migrate(db);
    // The secret the server signs with: the environment's, else the one it generated and stored at its first start.
    const secret = config.githubWebhookSecret || getSetting(db, "github_webhook_secret");
    db.$client.close();
    if (!secret) {
      console.error("mlops: no webhook secret yet: start the server once on this DATA_DIR, or set GITHUB_WEBHOOK_SECRET as the server has it");
      return 1;
    }
    console.log("model signature key (a replica following MLflow verifies with it; keep it secret, it can sign versions):");
    console.log(new VersionSigner(secret).keyHex());
    return 0;
  }
  if (command === "check-model") {
    if (rest.length !== 1) {
      console.error("usage: mlops check-model <model.onnx>");
      return 2;
    }
    return await checkModel(rest[0]!);
  }
  if (command === "replica") {
    if (rest.length !== 1 || (rest[0]!.startsWith("-") && rest[0] !== "--follow-mlflow")) {
      console.error(
        rest.includes("--follow-mlflow")
          ? "mlops replica: give either a primary URL or --follow-mlflow, not both; see mlops --help"
          : "usage: mlops replica <primary URL> (with REPLICA_TOKEN set) or mlops replica --follow-mlflow (with MLFLOW_TRACKING_URI and MLFLOW_SIGNATURE_KEY set); see mlops --help",
      );
      return 2;
    }
    return await runReplica(rest[0] === "--follow-mlflow" ? undefined : rest[0]!);
  }
  const examples = rest[0] === "--examples";
  if (command !== "serve" || rest.length > (examples ? 1 : 0)) {
    console.error(`mlops: unknown command "${argv.join(" ")}"; see mlops --help`);
    return 2;
  }
  // First, before the secrets are read: no other process of this uid may read them out of /proc.
  const stillDumpable = makeNonDumpable();
  const config = loadConfig(process.env);
  const server = await startServer(config);
  if (stillDumpable)
    server.logger.warn({ reason: stillDumpable }, "the server could not make itself non-dumpable: processes of its uid can read its environment");
  if (server.generatedAdminToken) {
    console.log(
      `\nmlops is running at ${server.url}\nadmin token (shown once, keep it): ${server.generatedAdminToken}\n` +
        `open ${server.url}/ and sign in with it; the JSON API takes it as "Authorization: Bearer <token>"\n`,
    );
  }
  if (examples) {
    await offerExamples({ ...server, dataDir: config.dataDir, print: (line) => console.log(line) }).catch((err) =>
      console.error(`mlops: could not start the examples: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
  // The first signal stops gracefully (running notebooks get SHUTDOWN_GRACE_SECONDS); a second one stops them at once.
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) {
      server.logger.warn({ signal }, "second stop signal: stopping running notebooks now");
      server.hurry();
      return;
    }
    signalled = true;
    server.logger.info({ signal, grace_seconds: config.shutdownGraceSeconds }, "stopping");
    server.stop().then(
      () => process.exit(0),
      (err) => {
        server.logger.error({ err }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  return -1; // keep running
}

// `mlops replica`: serving only, following `primaryUrl` (or MLflow when undefined); the first signal drains (health 503
// for SHUTDOWN_GRACE_SECONDS), a second ends the wait.
async function runReplica(primaryUrl: string | undefined): Promise<number> {
  const stillDumpable = makeNonDumpable();
  const config: ReplicaConfig = primaryUrl === undefined ? loadMlflowReplicaConfig(process.env) : loadReplicaConfig(process.env, primaryUrl);
  const replica = await startReplica(config);
  if (stillDumpable)
    replica.logger.warn({ reason: stillDumpable }, "the replica could not make itself non-dumpable: processes of its uid can read its environment");
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) {
      replica.logger.warn({ signal }, "second stop signal: stopping now");
      replica.hurry();
      return;
    }
    signalled = true;
    replica.logger.info({ signal, grace_seconds: config.shutdownGraceSeconds }, "stopping");
    replica.stop().then(
      () => process.exit(0),
      (err) => {
        replica.logger.error({ err }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    if (err instanceof ConfigError) {
      console.error(`mlops: cannot start: ${err.message.split("\n").join("\nmlops: cannot start: ")}`);
      process.exit(2);
    }
    console.error(`mlops: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
