#!/usr/bin/env python3
"""Writes test fixtures: python scripts/make-test-model.py <out_dir>  (run with .venv/bin/python)

<out_dir>/model.onnx     LogisticRegression on iris: float32 input "input" [None, 4], ZipMap off,
                         outputs "label" (int64 [N]) and "probabilities" (float32 [N, 3])
<out_dir>/model.joblib   the same estimator, saved with joblib.dump
<out_dir>/expected.json  {"rows": 5 iris rows, "labels": predict, "probabilities": predict_proba}
"""

import json
import os
import sys

import joblib
import numpy as np
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

if len(sys.argv) != 2:
    sys.exit("usage: make-test-model.py <out_dir>")
out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)

X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
model = LogisticRegression(max_iter=200, random_state=0).fit(X, y)

onx = convert_sklearn(
    model,
    initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
    options={id(model): {"zipmap": False}},
)
with open(os.path.join(out_dir, "model.onnx"), "wb") as f:
    f.write(onx.SerializeToString())
joblib.dump(model, os.path.join(out_dir, "model.joblib"))

rows = X[[0, 50, 100, 70, 133]]  # one of each class plus two near the versicolor/virginica border
expected = {
    "rows": rows.tolist(),
    "labels": model.predict(rows).tolist(),
    "probabilities": model.predict_proba(rows).tolist(),
}
with open(os.path.join(out_dir, "expected.json"), "w") as f:
    json.dump(expected, f)
    f.write("\n")
print(f"wrote model.onnx, model.joblib, expected.json to {out_dir}")
