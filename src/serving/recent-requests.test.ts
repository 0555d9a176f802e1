import { describe, expect, test } from "bun:test";
import { RECENT_WINDOW_MINUTES, RecentRequests } from "./recent-requests.ts";

function steppedClock(start = Date.UTC(2026, 0, 1, 12, 0, 30)) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

describe("RecentRequests", () => {
  test("counts requests, errors (5xx) and refusals (4xx) per model over the window", () => {
    const clock = steppedClock();
    const recent = new RecentRequests(clock);
    for (let i = 0; i < 6; i++) recent.record("iris", 200);
    recent.record("iris", 422);
    recent.record("iris", 401);
    recent.record("iris", 503);
    recent.record("iris", 500);
    recent.record("other", 200);
    expect(recent.traffic("iris")).toEqual({ requests: 10, errors: 2, refused: 2, perMinute: 10 / RECENT_WINDOW_MINUTES, errorRate: 0.2, refusedRate: 0.2 });
    expect(recent.traffic("other")).toMatchObject({ requests: 1, errors: 0, refused: 0 });
    expect(recent.traffic("never")).toEqual({ requests: 0, errors: 0, refused: 0, perMinute: 0, errorRate: 0, refusedRate: 0 });
  });

  test("requests older than the window drop out minute by minute, and a reused bucket starts from zero", () => {
    const clock = steppedClock();
    const recent = new RecentRequests(clock);
    recent.record("iris", 500);
    recent.record("iris", 404);
    clock.t += 60_000;
    recent.record("iris", 200);
    recent.record("iris", 200);
    expect(recent.traffic("iris")).toMatchObject({ requests: 4, errors: 1, refused: 1 });
    clock.t += (RECENT_WINDOW_MINUTES - 1) * 60_000; // the first minute is now out of the window
    expect(recent.traffic("iris")).toMatchObject({ requests: 2, errors: 0, refused: 0 });
    recent.record("iris", 200); // lands in the first minute's bucket again
    expect(recent.traffic("iris")).toMatchObject({ requests: 3, errors: 0, refused: 0 });
    clock.t += RECENT_WINDOW_MINUTES * 60_000;
    expect(recent.traffic("iris").requests).toBe(0);
  });

  test("requests naming no model of this server are not counted", () => {
    const recent = new RecentRequests(steppedClock());
    recent.record("", 404);
    expect(recent.traffic("").requests).toBe(0);
  });
});
