// Composition root: config → db → secrets → app → listening server; stop() undoes it in reverse.
import { createApp, type Lifecycle } from "./app.ts";
import type { Config } from "./config.ts";
import { migrate, openDatabase } from "./db/connection.ts";
import { ensureSecrets } from "./db/settings-store.ts";
import { createLogger, type Logger } from "./lib/logger.ts";
import { VERSION } from "./lib/version.ts";

export type RunningServer = {
  url: string;
  /** Set when this start generated the admin token (first start): shown once. */
  generatedAdminToken?: string;
  logger: Logger;
  /** Stop accepting work, finish requests in flight, close the database. Idempotent. */
  stop(): Promise<void>;
};

/** Start everything for `config` and listen. Throws if the port cannot be bound. */
export async function startServer(config: Config): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const lifecycle: Lifecycle = { phase: "starting" };
  const db = openDatabase(config.databasePath);
  const applied = migrate(db);
  if (applied.length) logger.info({ applied }, "database migrated");
  const secrets = ensureSecrets(db, config);

  const app = createApp({
    config,
    db,
    secrets,
    version: VERSION,
    lifecycle,
    logger,
    modelsServing: () => 0,
    queueDepth: () => 0,
  });
  const server = Bun.serve({ port: config.port, hostname: config.host, fetch: app.fetch, idleTimeout: 60 });
  lifecycle.phase = "ready";
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const url = `http://${shownHost}:${server.port}`;
  logger.info({ url, version: VERSION, data_dir: config.dataDir }, "mlops ready");

  let stopping: Promise<void> | undefined;
  return {
    url,
    generatedAdminToken: secrets.generatedAdminToken,
    logger,
    stop() {
      stopping ??= (async () => {
        lifecycle.phase = "stopping";
        await server.stop();
        db.$client.close();
      })();
      return stopping;
    },
  };
}
