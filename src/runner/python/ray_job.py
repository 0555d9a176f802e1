#!/usr/bin/env python3
"""One mlops pipeline's notebook, run as a Ray job on whichever node Ray chose.

Shipped inside the server's executable and uploaded with the notebook's checkout as the job's working dir
(src/runner/ray-runner.ts). Reads mlops-job.json beside it:

  {"notebook": "models/train.ipynb", "parameters": {"PIPELINE_ID": "12", ...}, "upload_url": "https://.../artifacts",
   "upload_retry_seconds": 900, "timeout_seconds": 3600}

and MLOPS_UPLOAD_TOKEN (and MLflow credentials, if any) from its environment. It runs the notebook with papermill
exactly as the local runner does (the same parameters; MODEL_OUTPUT_PATH and METRICS_OUTPUT_PATH point into a
directory of its own), converts a joblib model to ONNX with convert_model.py in this same Python (so the library
that pickled the model reads it), then uploads what exists of model, metrics and executed notebook to upload_url as
multipart/form-data, streamed, with the upload token. The executed notebook is uploaded even when a cell failed:
the server reads the failed cell from it. While the server does not answer (it restarts, and follows this job again
when it is back) the upload is tried again, with backoff, for upload_retry_seconds; a refusal (a wrong or expired
token) is final.

Exit codes: papermill's own when the notebook failed; 0 when everything ran and was uploaded; 3 when the model could
not be converted (the converter's one-line reason is printed as "mlops: conversion failed: ..."); 4 when the upload
failed ("mlops: upload failed: ..."). Lines starting with "mlops: " are this script's own.
"""

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid

KERNEL = "mlops-job"
EXIT_CONVERSION = 3
EXIT_UPLOAD = 4
CHUNK = 1 << 20


def say(line):
    print(f"mlops: {line}", flush=True)


def kernel_of_this_python(out):
    """A Jupyter kernelspec that runs this very Python, and the Jupyter path that holds it.

    Ray installs a notebook's requirements.txt into a virtualenv of its own and runs this script with its python; the
    kernel papermill would find by the notebook's name ("python3") may be another Python, without those packages.
    """
    root = os.path.join(out, "jupyter")
    spec_dir = os.path.join(root, "kernels", KERNEL)
    os.makedirs(spec_dir, exist_ok=True)
    with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
        json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3 (mlops job)", "language": "python"}, f)
    return root


def papermill(spec, out):
    notebook = os.path.abspath(spec["notebook"])
    executed = os.path.join(out, "executed.ipynb")
    parameters = dict(spec.get("parameters", {}))
    parameters["MODEL_OUTPUT_PATH"] = os.path.join(out, "model")
    parameters["METRICS_OUTPUT_PATH"] = os.path.join(out, "metrics.json")
    cmd = [sys.executable, "-m", "papermill", notebook, executed]
    for name, value in parameters.items():
        cmd += ["-r", name, str(value)]
    cmd += ["--log-output", "--no-progress-bar", "--cwd", os.path.dirname(notebook), "-k", KERNEL]
    jupyter_path = os.pathsep.join(p for p in (kernel_of_this_python(out), os.environ.get("JUPYTER_PATH")) if p)
    env = {**os.environ, **{k: str(v) for k, v in parameters.items()}, "PYTHONUNBUFFERED": "1", "JUPYTER_PATH": jupyter_path}
    say(f"running {spec['notebook']} with papermill on {os.uname().nodename}")
    try:
        return subprocess.call(cmd, env=env, timeout=spec.get("timeout_seconds"))
    except subprocess.TimeoutExpired:
        say("the notebook ran past its time limit")
        return 124


def is_onnx(path):
    with open(path, "rb") as f:
        head = f.read(4)
    # joblib files are pickles (0x80 protocol byte) or zlib/other compressed containers; ONNX is protobuf.
    return not head.startswith(b"\x80") and not head.startswith(b"\x78") and not head.startswith(b"\x1f\x8b")


def convert(out):
    model = os.path.join(out, "model")
    if not os.path.isfile(model) or is_onnx(model):
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    onnx = os.path.join(out, "model.onnx")
    proc = subprocess.run(
        [sys.executable, os.path.join(here, "convert_model.py"), model, onnx, "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if proc.returncode != 0 or not result.get("ok"):
        raise RuntimeError(result.get("error") or f"the converter exited with code {proc.returncode}")
    say(f"converted to ONNX on the node; agrees with the original on {result.get('rows', '?')} sample rows")
    os.replace(onnx, model)
    return result


def upload(url, token, parts):
    """POST parts {name: path} as multipart/form-data, streamed in chunks; raises on a non-2xx answer."""
    boundary = uuid.uuid4().hex
    target = urllib.parse.urlsplit(url)
    conn_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(target.hostname, target.port, timeout=300)

    def body():
        for name, path in parts.items():
            yield (
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(CHUNK)
                    if not chunk:
                        break
                    yield chunk
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    path = target.path + (f"?{target.query}" if target.query else "")
    conn.request(
        "POST",
        path,
        body=body(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        encode_chunked=True,
    )
    answer = conn.getresponse()
    text = answer.read(4096).decode("utf-8", "replace")
    if answer.status // 100 != 2:
        raise UploadRefused(answer.status, text.strip()[:300])


class UploadRefused(RuntimeError):
    def __init__(self, status, text):
        super().__init__(f"{status} {text}")
        self.status = status


def upload_with_retry(url, token, parts, retry_seconds):
    """upload(), tried again while the server does not answer or says it is unavailable, until retry_seconds pass."""
    deadline = time.monotonic() + retry_seconds
    delay = 1
    while True:
        try:
            return upload(url, token, parts)
        except (OSError, http.client.HTTPException, UploadRefused) as exc:
            waiting = not isinstance(exc, UploadRefused) or exc.status in (502, 503, 504)
            if not waiting or time.monotonic() + delay > deadline:
                raise
            say(f"the server did not take the upload ({exc}); trying again in {delay} s")
            time.sleep(delay)
            delay = min(delay * 2, 30)


def main():
    with open("mlops-job.json") as f:
        spec = json.load(f)
    out = os.path.abspath(".mlops-out")
    os.makedirs(out, exist_ok=True)
    code = papermill(spec, out)
    failure = None
    if code == 0:
        try:
            convert(out)
        except Exception as exc:  # the converter's own reason, on one line
            failure = str(exc).splitlines()[0][:1000] if str(exc) else type(exc).__name__
            say(f"conversion failed: {failure}")
    parts = {name: os.path.join(out, file) for name, file in (("model", "model"), ("metrics", "metrics.json"), ("notebook", "executed.ipynb"))}
    parts = {name: path for name, path in parts.items() if os.path.isfile(path) and (name != "model" or (code == 0 and failure is None))}
    try:
        upload_with_retry(spec["upload_url"], os.environ.get("MLOPS_UPLOAD_TOKEN", ""), parts, spec.get("upload_retry_seconds", 0))
        say(f"uploaded {', '.join(parts) or 'nothing'}")
    except Exception as exc:
        say(f"upload failed: {exc}")
        return code or EXIT_UPLOAD
    if code:
        return code
    return EXIT_CONVERSION if failure else 0


if __name__ == "__main__":
    sys.exit(main())
