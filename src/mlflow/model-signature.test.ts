// The derived key a replica following MLflow holds verifies exactly what the webhook secret's signer signs, and is
// not the secret.
import { expect, test } from "bun:test";
import { VersionSigner } from "./model-signature.ts";

test("a signer built from the derived key verifies what the secret's signer signed, and nothing else; a malformed key is refused", () => {
  const secret = "the-webhook-secret-of-this-deployment";
  const primary = new VersionSigner(secret);
  const key = primary.keyHex();
  expect(key).toMatch(/^[0-9a-f]{64}$/);
  expect(key).not.toContain(secret);
  const replica = new VersionSigner({ key });
  const v = { name: "iris", version: 3, sha256: "a".repeat(64) };
  expect(replica.verify(v, primary.sign(v))).toBe(true);
  expect(new VersionSigner({ key: key.toUpperCase() }).verify(v, primary.sign(v))).toBe(true);
  expect(replica.verify({ ...v, version: 4 }, primary.sign(v))).toBe(false);
  expect(replica.verify(v, new VersionSigner("another secret").sign(v))).toBe(false);
  for (const bad of ["", "abc", "g".repeat(64), `${key}00`]) expect(() => new VersionSigner({ key: bad })).toThrow("64 hexadecimal digits");
});
