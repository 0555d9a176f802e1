"""Drives this server with tritonclient's HTTP client (an official Open Inference Protocol client) and prints
what it saw as JSON. Run by oip-tritonclient.test.ts with .venv-test/bin/python:

    python oip-tritonclient.fixture.py <host:port> <request.json>

request.json: {"iris_rows": [[4 floats], ...], "multi_rows": [[age, income, city], ...]}
"""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, request_path = sys.argv[1], sys.argv[2]
with open(request_path) as f:
    request = json.load(f)
rows = np.array(request["iris_rows"], dtype=np.float32)
client = httpclient.InferenceServerClient(url=url)
out = {
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready("iris"),
    "unknown_model_ready": client.is_model_ready("nope"),
    "server": client.get_server_metadata(),
    "metadata": client.get_model_metadata("iris"),
    "metadata_v1": client.get_model_metadata("iris", model_version="1"),
}

# The client's defaults: input and outputs as binary tensor data.
binary_input = httpclient.InferInput("input", list(rows.shape), "FP32")
binary_input.set_data_from_numpy(rows)
result = client.infer("iris", [binary_input], request_id="req-7")
response = result.get_response()
out["binary"] = {
    "labels": result.as_numpy("label").tolist(),
    "probabilities": result.as_numpy("probabilities").tolist(),
    "id": response.get("id"),
    "model_version": response.get("model_version"),
}

# JSON data both ways, one output requested, a pinned version.
json_input = httpclient.InferInput("input", list(rows.shape), "FP32")
json_input.set_data_from_numpy(rows, binary_data=False)
result = client.infer("iris", [json_input], model_version="1", outputs=[httpclient.InferRequestedOutput("label", binary_data=False)])
out["json"] = {
    "labels": result.as_numpy("label").tolist(),
    "outputs": [o["name"] for o in result.get_response()["outputs"]],
    "model_version": result.get_response().get("model_version"),
}

# Several inputs, BYTES in and out as binary data.
multi = request["multi_rows"]
inputs = []
for name, dtype, column in [("age", np.float32, 0), ("income", np.float32, 1), ("city", np.object_, 2)]:
    values = np.array([[r[column] if dtype is np.float32 else r[column].encode()] for r in multi], dtype=dtype)
    i = httpclient.InferInput(name, list(values.shape), "BYTES" if dtype is np.object_ else "FP32")
    i.set_data_from_numpy(values)
    inputs.append(i)
result = client.infer("multi", inputs)
out["multi_labels"] = [b.decode() for b in result.as_numpy("label").tolist()]

# A bad request: the server's error message reaches the client; the next request still works.
bad = httpclient.InferInput("input", [1, 3], "FP32")
bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
try:
    client.infer("iris", [bad])
    out["bad"] = "no error"
except InferenceServerException as e:
    out["bad"] = str(e)
result = client.infer("iris", [binary_input])
out["after_bad"] = result.as_numpy("label").tolist()

print(json.dumps(out))
