// Test support: Debian's Chromium driven by playwright-core, for tests of the pages in a real browser.
import { afterAll, beforeAll } from "bun:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestServer, type TestServer } from "./e2e.ts";

/** Where scripts/setup.sh --test installs Chromium. */
export const CHROMIUM = Bun.which("chromium") ?? "/usr/bin/chromium";

/** A headless Chromium; throws with the setup command when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!(await Bun.file(CHROMIUM).exists())) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup.sh --test`);
  // --no-sandbox: the tests run as root in CI, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/**
 * Chromium and a real test server (started with `env`) shared by the tests of one file: started before them, both
 * stopped after them. Read its fields inside tests and hooks, once they are set.
 */
export function chromiumAndServer(env: Record<string, string> = {}): { browser: Browser; server: TestServer } {
  const shared = {} as { browser: Browser; server: TestServer };
  beforeAll(async () => {
    [shared.browser, shared.server] = await Promise.all([launchChromium(), startTestServer(env)]);
  }, 60_000);
  afterAll(async () => {
    await shared.browser?.close();
    await shared.server?.stop();
  });
  return shared;
}

/** Sign in through the /login form as a person would; leaves the page where the login sent it. */
export async function signIn(page: Page, base: string, token: string, path = "/"): Promise<void> {
  await page.goto(`${base}${path}`);
  await page.waitForURL(/\/login\?next=/);
  await page.fill('input[name="token"]', token);
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/login")), page.click('button[type="submit"]')]);
}
