// Which repository a model name belongs to: claimed by the first pipeline that registers it, moved only by an admin.
import type { Database } from "bun:sqlite";
import type { Db } from "../db/connection.ts";
import { ConflictError } from "../lib/errors.ts";

/** A pipeline of one repository named a model that belongs to another. The message is the pipeline's reason. */
export class ModelOwnedError extends ConflictError {
  constructor(
    readonly model: string,
    readonly owner: string,
  ) {
    super(`model ${model} belongs to ${owner}`, { model, owner });
  }
}

// One statement, so two connections claiming the same new name cannot both win: the INSERT takes SQLite's write lock,
// the loser's conflict turns into a no-op update, and RETURNING gives every caller the owner that stands.
const SQL_CLAIM = `INSERT INTO model_owners (model_name, repo_full_name) VALUES ($model, $fullName)
  ON CONFLICT (model_name) DO UPDATE SET model_name = model_name
  RETURNING repo_full_name AS owner`;

const SQL_TRANSFER = `INSERT INTO model_owners (model_name, repo_full_name) VALUES ($model, $fullName)
  ON CONFLICT (model_name) DO UPDATE SET repo_full_name = excluded.repo_full_name,
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')`;

const SQL_OWNER = `SELECT repo_full_name AS owner FROM model_owners WHERE model_name = $model`;

/** GitHub names are case-insensitive, and a webhook may spell a repository differently from its registration. */
export function sameRepository(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Claim `model` for repository `fullName` unless another repository holds it; one atomic statement on `client`
 * (so it joins a transaction open on that connection). Returns the owner that stands; throws ModelOwnedError
 * when that is another repository. Idempotent for the owner.
 */
export function claimModel(client: Database, model: string, fullName: string): string {
  const owner = client.query<{ owner: string }, { model: string; fullName: string }>(SQL_CLAIM).get({ model, fullName })!.owner;
  if (!sameRepository(owner, fullName)) throw new ModelOwnedError(model, owner);
  return owner;
}

/** Model ownership in SQLite. Synchronous. */
export class ModelOwners {
  constructor(private readonly db: Db) {}

  /** The repository (`owner/name`) that `model` belongs to, or null while unclaimed (new, or stored before ownership existed). */
  ownerOf(model: string): string | null {
    return this.db.$client.query<{ owner: string }, { model: string }>(SQL_OWNER).get({ model })?.owner ?? null;
  }

  /** Throws ModelOwnedError when `model` belongs to a repository other than `fullName`; an unclaimed model passes (nothing is written). */
  check(model: string, fullName: string): void {
    const owner = this.ownerOf(model);
    if (owner !== null && !sameRepository(owner, fullName)) throw new ModelOwnedError(model, owner);
  }

  /** Claim `model` for `fullName` (see claimModel): returns the owner; throws ModelOwnedError when another repository holds it. */
  claim(model: string, fullName: string): string {
    return claimModel(this.db.$client, model, fullName);
  }

  /** Give `model` to repository `fullName`, whoever held it (an admin's decision). Idempotent. */
  transfer(model: string, fullName: string): void {
    this.db.$client.query(SQL_TRANSFER).run({ model, fullName });
  }
}
