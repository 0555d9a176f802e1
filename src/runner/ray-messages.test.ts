import { describe, expect, test } from "bun:test";
import { isRaySetupLine, rayFailureReason, rayMessageForLog } from "./ray-messages.ts";

// Ray 2.60's message for a job whose runtime_env pip install failed (shortened traceback, real wording).
const PIP_FAILED = [
  "runtime_env setup failed: Failed to set up runtime environment.",
  "Could not create the actor because its associated runtime env failed to be created.",
  "[Node 127.0.0.1] Traceback (most recent call last):",
  '  File "/venv/lib/python3.11/site-packages/ray/_private/runtime_env/pip.py", line 252, in _install_pip_packages',
  "    await check_output_cmd(pip_install_cmd, logger=logger, cwd=cwd, env=pip_env)",
  "ray._private.runtime_env.utils.SubprocessCalledProcessError: Run cmd[3] failed with the following details.",
  "Last 50 lines of stdout:",
  "    Looking in links: /wheels",
  "    ERROR: Could not find a version that satisfies the requirement nonexistent-pkg==1.0 (from versions: none)",
  "    ERROR: No matching distribution found for nonexistent-pkg==1.0",
].join("\n");

describe("Ray's own lines", () => {
  test("the job supervisor's lines are told apart from the job's output", () => {
    expect(isRaySetupLine("2026-12-05 20:20:36,666\tINFO job_manager.py:581 -- Runtime env is setting up.")).toBe(true);
    expect(isRaySetupLine("Running entrypoint for job mlops-3-1: python ray_job.py")).toBe(true);
    expect(isRaySetupLine("mlops: running train.ipynb with papermill on node-1")).toBe(false);
    expect(isRaySetupLine("INFO job_manager.py:581 -- printed by a notebook without a timestamp")).toBe(false);
    expect(isRaySetupLine("accuracy 0.95")).toBe(false);
  });
});

describe("rayFailureReason", () => {
  test("a runtime env that failed to build gives pip's words, not Ray's traceback", () => {
    const reason = rayFailureReason({ status: "FAILED", errorType: "RUNTIME_ENV_SETUP_FAILURE", message: PIP_FAILED });
    expect(reason).toBe(
      "Ray could not set up the job's runtime environment (the requirements.txt it installs with pip): " +
        "ERROR: Could not find a version that satisfies the requirement nonexistent-pkg==1.0 (from versions: none) " +
        "ERROR: No matching distribution found for nonexistent-pkg==1.0",
    );
  });

  test("an entrypoint that exited non-zero gives the job script's last own line, else the log's last line", () => {
    const head = "Job entrypoint command failed with exit code 4, last available logs (truncated to 20,000 chars):";
    expect(rayFailureReason({ status: "FAILED", message: `${head}\nmlops: running a.ipynb\nmlops: upload failed: 401 bad token\n` })).toBe(
      "the notebook's Ray job exited with code 4: mlops: upload failed: 401 bad token",
    );
    expect(
      rayFailureReason({ status: "FAILED", message: `${head}\nTraceback (most recent call last):\nModuleNotFoundError: No module named 'papermill'` }),
    ).toBe("the notebook's Ray job exited with code 4: ModuleNotFoundError: No module named 'papermill'");
  });

  test("the log gets Ray's whole message, but only the first line of one that repeats the log's tail", () => {
    expect(rayMessageForLog(PIP_FAILED)).toHaveLength(10);
    expect(rayMessageForLog("Job entrypoint command failed with exit code 1, last available logs:\nline a\nline b")).toEqual([
      "Job entrypoint command failed with exit code 1, last available logs:",
    ]);
  });

  test("other failures give the first line of Ray's message, bounded", () => {
    const oom = "Task was killed due to the node running low on memory.\nMemory on the node (IP: 10.0.0.2) was 7.5GB / 8GB";
    expect(rayFailureReason({ status: "FAILED", message: oom })).toBe("the Ray job failed: Task was killed due to the node running low on memory.");
    expect(rayFailureReason({ status: "STOPPED", message: "" })).toBe("the Ray job stopped: no reason given");
    expect(rayFailureReason({ status: "FAILED", message: "x".repeat(5000) }).length).toBeLessThanOrEqual(600);
  });
});
