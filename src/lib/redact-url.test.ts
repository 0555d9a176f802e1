import { describe, expect, test } from "bun:test";
import { redactUrl, splitUrlCredentials } from "./redact-url.ts";

describe("redactUrl", () => {
  const cases: [string, string][] = [
    ["http://user:pass@mlflow:5000", "http://***@mlflow:5000"],
    ["https://x-access-token:ghp_secret@github.com/acme/iris.git", "https://***@github.com/acme/iris.git"],
    ["https://token@github.com/acme/iris.git", "https://***@github.com/acme/iris.git"],
    ["fatal: unable to access 'https://u:p@host/r.git/': 403", "fatal: unable to access 'https://***@host/r.git/': 403"],
    ["two: http://a:b@h1/x and ftp://c:d@h2", "two: http://***@h1/x and ftp://***@h2"],
    ["https://github.com/acme/iris.git", "https://github.com/acme/iris.git"],
    ["http://host/path?mail=a@b.c", "http://host/path?mail=a@b.c"],
    ["/tmp/repos/acme", "/tmp/repos/acme"],
    ["git@github.com:acme/iris.git", "git@github.com:acme/iris.git"],
    ["http://@host", "http://@host"],
    ["", ""],
  ];
  test.each(cases)("%p → %p", (input, shown) => {
    expect(redactUrl(input)).toBe(shown);
    expect(redactUrl(redactUrl(input))).toBe(shown);
  });

  test("long text with many slashes and no credentials is passed in one pass", () => {
    const text = "//a".repeat(1_000_000);
    expect(redactUrl(text)).toBe(text);
    expect(redactUrl(`${"x".repeat(1_000_000)} http://u:p@h`)).toEndWith("http://***@h");
  });
});

describe("splitUrlCredentials", () => {
  test("takes user and password out of the URL, decoded; leaves a URL without them alone", () => {
    expect(splitUrlCredentials("http://alice:s%40cret@mlflow:5000")).toEqual({ url: "http://mlflow:5000", username: "alice", password: "s@cret" });
    expect(splitUrlCredentials("https://token@mlflow.example/base/")).toEqual({ url: "https://mlflow.example/base/", username: "token" });
    expect(splitUrlCredentials("http://mlflow:5000")).toEqual({ url: "http://mlflow:5000" });
    expect(splitUrlCredentials("not a url")).toEqual({ url: "not a url" });
  });
});
