// The desired state a serving replica follows: every deployed model's version, with the sha256 and size of its file,
// and a revision that grows with every deploy, rollback and undeploy. The revision is the id of the newest deployments
// row (AUTOINCREMENT, so never reused), which survives restarts with the database.
import { statSync } from "node:fs";
import type { Db } from "../db/connection.ts";
import type { Logger } from "../lib/logger.ts";

/** One model as a replica should serve it. */
export type DesiredModel = { version: number; sha256: string; size: number };
/** The full desired state: what every event of GET /api/replication/deployments carries. */
export type DesiredState = { revision: number; models: Record<string, DesiredModel> };

type Row = { modelName: string; version: number; sha256: string; path: string };

/**
 * Read the desired state now, in one read transaction (revision and models agree). A deployed version whose file is
 * missing is left out (this server could not serve it either) and logged.
 */
export function readDesiredState(db: Db, logger?: Logger): DesiredState {
  const client = db.$client;
  const { revision, rows } = client.transaction(() => {
    const revision = client.query<{ r: number | null }, []>("SELECT max(id) AS r FROM deployments").get()?.r ?? 0;
    const rows = client
      .query<Row, []>(
        `SELECT d.model_name AS modelName, d.version AS version, v.sha256 AS sha256, v.path AS path FROM deployments d
         JOIN model_versions v ON v.model_name = d.model_name AND v.version = d.version
         WHERE d.id = (SELECT max(id) FROM deployments WHERE model_name = d.model_name) AND d.version IS NOT NULL
         ORDER BY d.model_name`,
      )
      .all();
    return { revision, rows };
  })();
  const models: Record<string, DesiredModel> = {};
  for (const r of rows) {
    let size: number;
    try {
      size = statSync(r.path).size;
    } catch (err) {
      logger?.error({ err, model: r.modelName, version: r.version }, "a deployed model's file is missing: left out of the replication state");
      continue;
    }
    models[r.modelName] = { version: r.version, sha256: r.sha256, size };
  }
  return { revision, models };
}
