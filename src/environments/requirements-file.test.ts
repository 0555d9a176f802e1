// Which requirements.txt a notebook gets, and what a pushed requirements file may ask for.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRequirements, parseRequirements, RequirementsError } from "./requirements-file.ts";

function checkout(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "mlops-reqs-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe("findRequirements", () => {
  test("the file beside the notebook wins over the one at the root", () => {
    const dir = checkout({ "requirements.txt": "pandas\n", "models/requirements.txt": "xgboost-cpu==3.2.0\n", "models/nb.ipynb": "{}" });
    expect(findRequirements(dir, join(dir, "models", "nb.ipynb"))).toEqual({ path: "models/requirements.txt", lines: ["xgboost-cpu==3.2.0"] });
  });

  test("else the root's; else none (the bundled runtime)", () => {
    const dir = checkout({ "requirements.txt": "# ours\nlightgbm>=4 ; python_version >= '3.9'\n\n", "models/nb.ipynb": "{}" });
    expect(findRequirements(dir, join(dir, "models", "nb.ipynb"))).toEqual({ path: "requirements.txt", lines: ["lightgbm>=4 ; python_version >= '3.9'"] });
    const none = checkout({ "nb.ipynb": "{}" });
    expect(findRequirements(none, join(none, "nb.ipynb"))).toBeUndefined();
  });

  test("a symlink (to a server file, say) or a directory is refused, not followed", () => {
    const dir = checkout({ "nb.ipynb": "{}" });
    symlinkSync("/etc/passwd", join(dir, "requirements.txt"));
    expect(() => findRequirements(dir, join(dir, "nb.ipynb"))).toThrow(/requirements\.txt is not a regular file/);
    const withDir = checkout({ "nb.ipynb": "{}", "requirements.txt/x": "" });
    expect(() => findRequirements(withDir, join(withDir, "nb.ipynb"))).toThrow(RequirementsError);
  });

  test("a file over 64 KB is refused", () => {
    const dir = checkout({ "nb.ipynb": "{}", "requirements.txt": `# ${"x".repeat(70_000)}\n` });
    expect(() => findRequirements(dir, join(dir, "nb.ipynb"))).toThrow(/at most 65536 are read/);
  });
});

describe("parseRequirements", () => {
  test("keeps specifiers, markers, extras, URLs and index options; drops comments and blank lines", () => {
    const text = [
      "--extra-index-url https://download.pytorch.org/whl/cpu",
      "xgboost-cpu==3.2.0  # the CPU build",
      "scikit-learn[examples]>=1.5,<2",
      "catboost ; platform_machine == 'x86_64'",
      "",
      "# a comment",
      "pkg @ https://example.com/pkg-1.0-py3-none-any.whl#sha256=abc",
      "--pre",
    ].join("\r\n");
    expect(parseRequirements("requirements.txt", text)).toEqual([
      "--extra-index-url https://download.pytorch.org/whl/cpu",
      "xgboost-cpu==3.2.0",
      "scikit-learn[examples]>=1.5,<2",
      "catboost ; platform_machine == 'x86_64'",
      "pkg @ https://example.com/pkg-1.0-py3-none-any.whl#sha256=abc",
      "--pre",
    ]);
  });

  const refused: [string, RegExp][] = [
    ["-r other.txt", /line 2: option -r is not allowed/],
    ["--requirement=other.txt", /option --requirement is not allowed/],
    ["-c constraints.txt", /option -c is not allowed/],
    ["-e .", /option -e is not allowed/],
    ["--editable git+https://example.com/x.git", /option --editable is not allowed/],
    ["./local-package", /is a local path/],
    ["/opt/wheels/x.whl", /is a local path/],
    ["file:///etc/passwd", /is a local path/],
    ["pkg @ file:///srv/pkg", /is a local path/],
    ["--find-links /opt/wheels", /--find-links must be an http\(s\) URL/],
    ["numpy \\", /line continuations are not supported/],
    ["numpy\u0007", /control characters/],
  ];
  for (const [line, message] of refused) {
    test(`refuses ${JSON.stringify(line)} naming the line`, () => {
      expect(() => parseRequirements("models/requirements.txt", `numpy\n${line}\n`)).toThrow(message);
      expect(() => parseRequirements("models/requirements.txt", `numpy\n${line}\n`)).toThrow(/^models\/requirements\.txt line 2: /);
    });
  }
});
