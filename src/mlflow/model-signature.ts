// Which MLflow model versions this server made. A notebook that can reach MLflow can register versions and move the
// "deployed" alias, so a fresh node restores a version only when its tags carry this server's signature: an
// HMAC-SHA256 over (model name, mlops version, sha256 of the ONNX file) under a key derived from the webhook secret.
// Every node configured with the same GITHUB_WEBHOOK_SECRET verifies what another signed; notebooks never see it. A
// replica following MLflow holds the derived key alone (MLFLOW_SIGNATURE_KEY, printed by `mlops mlflow-signature-key`),
// never the webhook secret: with it no one can forge a push.
import { createHmac, timingSafeEqual } from "node:crypto";

/** The tag holding the signature, and the one holding the sha256 it covers. */
export const SIGNATURE_TAG = "mlops.signature";
export const SHA256_TAG = "mlops.sha256";

// A fixed label, so the key is used for nothing but model signatures (the secret itself signs webhooks).
const KEY_LABEL = "mlops model signature v1";

/** The form of a model signature key (MLFLOW_SIGNATURE_KEY). */
export const SIGNATURE_KEY_RE = /^[0-9a-f]{64}$/i;

export type SignedVersion = { name: string; version: number; sha256: string };

/** Signs and verifies model versions under the key derived from `secret`. */
export class VersionSigner {
  private readonly key: Buffer;

  /** `secret` is the webhook secret the key derives from, or `{ key }` the derived key itself (32 bytes as 64 hex digits). */
  constructor(secret: string | { key: string }) {
    if (typeof secret === "string") this.key = createHmac("sha256", secret).update(KEY_LABEL).digest();
    else if (SIGNATURE_KEY_RE.test(secret.key)) this.key = Buffer.from(secret.key, "hex");
    else throw new Error("a model signature key is 64 hexadecimal digits");
  }

  /** The derived key as 64 lowercase hex digits: what a replica following MLflow needs to verify (MLFLOW_SIGNATURE_KEY). */
  keyHex(): string {
    return this.key.toString("hex");
  }

  /** The signature of `v`, as lowercase hex. */
  sign(v: SignedVersion): string {
    // JSON keeps the fields apart: no name/version split can make two different versions sign alike.
    return createHmac("sha256", this.key)
      .update(JSON.stringify([v.name, v.version, v.sha256]))
      .digest("hex");
  }

  /** Whether `signature` is this key's signature of `v` (constant-time; false for a missing or malformed one). */
  verify(v: SignedVersion, signature: string | undefined): boolean {
    if (!signature || !/^[0-9a-f]{64}$/.test(signature)) return false;
    return timingSafeEqual(Buffer.from(this.sign(v), "hex"), Buffer.from(signature, "hex"));
  }

  /** The signed fields of an MLflow version's tags, when its signature verifies for model `name`; else undefined. */
  verifiedTags(name: string, tags: Record<string, string>, versionTag: string): SignedVersion | undefined {
    const version = Number(tags[versionTag]);
    const sha256 = tags[SHA256_TAG];
    if (!Number.isInteger(version) || version < 1 || !sha256 || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    const v = { name, version, sha256 };
    return this.verify(v, tags[SIGNATURE_TAG]) ? v : undefined;
  }
}
