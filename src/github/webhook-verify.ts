// X-Hub-Signature-256 verification over the raw request bytes, through @octokit/webhooks.
import { Webhooks } from "@octokit/webhooks";

// fatal: bytes that are not UTF-8 cannot be turned into the string octokit signs without changing them.
// ignoreBOM: keep a leading BOM, it is part of the signed bytes.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Verifies GitHub webhook signatures with one secret. */
export class WebhookVerifier {
  private readonly webhooks: Webhooks;

  constructor(secret: string) {
    this.webhooks = new Webhooks({ secret });
  }

  /**
   * The body as text when `signature` (the `X-Hub-Signature-256` header, `sha256=<hex>`) is the HMAC of
   * exactly `rawBody`; null otherwise — missing header, wrong secret, empty body, or bytes that are not
   * UTF-8 (GitHub always sends UTF-8). Constant-time compare; never throws.
   */
  async verify(rawBody: Uint8Array, signature: string | null | undefined): Promise<string | null> {
    if (!signature || rawBody.length === 0) return null;
    let text: string;
    try {
      text = utf8.decode(rawBody);
    } catch {
      return null;
    }
    try {
      return (await this.webhooks.verify(text, signature)) ? text : null;
    } catch {
      return null;
    }
  }
}
