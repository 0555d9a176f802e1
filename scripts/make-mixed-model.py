#!/usr/bin/env python3
"""Writes mixed-type test fixtures: python scripts/make-mixed-model.py <out_dir>  (run with .venv/bin/python)

Two scikit-learn Pipelines over a pandas DataFrame with a text column, a category column and two number columns:
ColumnTransformer([TfidfVectorizer on "text", OneHotEncoder(handle_unknown="ignore") on "city", StandardScaler on
"age" and "visits"]) followed by LogisticRegression (3 string classes) or Ridge. skl2onnx converts each with one
initial type per column, which is what issue 10's converter produces:

  text: string [None, 1]   city: string [None, 1]   age: float32 [None, 1]   visits: int64 [None, 1]

<out_dir>/classifier.onnx  outputs "label" (string [N]) and "probabilities" (float32 [N, 3]), ZipMap off
<out_dir>/regressor.onnx   output "variable" (float32 [N, 1])
<out_dir>/expected.json    {"columns", "records": sample rows as column → value (a city and words never seen in
                            training included), "labels", "probabilities", "values": what scikit-learn answered}
"""

import json
import os
import sys

import numpy as np
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

if len(sys.argv) != 2:
    sys.exit("usage: make-mixed-model.py <out_dir>")
out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)

rng = np.random.default_rng(0)
n = 240
WORDS = ["great", "service", "slow", "delivery", "cheap", "price", "broken", "item", "friendly", "staff", "late", "refund"]
CITIES = ["Paris", "Lyon", "Nice", "Lille"]
text = [" ".join(rng.choice(WORDS, size=rng.integers(2, 6))) for _ in range(n)]
city = rng.choice(CITIES, n)
age = rng.uniform(18, 80, n).astype(np.float32)
visits = rng.integers(0, 40, n).astype(np.int64)
X = pd.DataFrame({"text": text, "city": city, "age": age, "visits": visits})

good = X["text"].str.count("great|friendly|cheap") - X["text"].str.count("slow|broken|late")
score = good + (X["city"] == "Paris") * 0.8 + visits / 20 - age / 60
y_class = np.where(score > 1.2, "happy", np.where(score < -0.2, "unhappy", "neutral"))
y_value = (2.0 * good + visits * 0.3 - age * 0.05 + (X["city"] == "Nice") * 1.5).astype(np.float64)


def pre():
    return ColumnTransformer(
        [
            # A column name, not a list: the vectorizer takes one string per row.
            ("text", TfidfVectorizer(), "text"),
            ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ("num", StandardScaler(), ["age", "visits"]),
        ]
    )


classifier = Pipeline([("pre", pre()), ("clf", LogisticRegression(max_iter=2000))]).fit(X, y_class)
regressor = Pipeline([("pre", pre()), ("reg", Ridge(alpha=1.0))]).fit(X, y_value)

# tokenexp "": tokenize with scikit-learn's own token_pattern (skl2onnx's default splits on a list of separators,
# which keeps one-letter words scikit-learn drops). locale: ONNX's StringNormalizer (lowercasing) defaults to
# en_US.UTF-8, which a slim Debian (this machine, the Docker image) does not have: onnxruntime then refuses to load
# the model. C.UTF-8 is always there.
TEXT_OPTIONS = {"tokenexp": "", "locale": "C.UTF-8"}
types = [
    ("text", StringTensorType([None, 1])),
    ("city", StringTensorType([None, 1])),
    ("age", FloatTensorType([None, 1])),
    ("visits", Int64TensorType([None, 1])),
]
for name, model, options in [
    ("classifier", classifier, {id(classifier): {"zipmap": False}, TfidfVectorizer: TEXT_OPTIONS}),
    ("regressor", regressor, {TfidfVectorizer: TEXT_OPTIONS}),
]:
    onx = convert_sklearn(model, initial_types=types, options=options, target_opset=17)
    with open(os.path.join(out_dir, f"{name}.onnx"), "wb") as f:
        f.write(onx.SerializeToString())

samples = pd.DataFrame(
    {
        "text": ["Great FRIENDLY staff", "slow delivery broken item", "cheap price", "late refund, never again", "great"],
        # "Marseille" was never seen in training: handle_unknown="ignore" encodes it as all zeros.
        "city": ["Paris", "Lyon", "Nice", "Marseille", "Lille"],
        "age": np.array([25.5, 61.0, 40.25, 33.0, 72.0], dtype=np.float32),
        "visits": np.array([30, 2, 12, 0, 39], dtype=np.int64),
    }
)
expected = {
    "columns": list(samples.columns),
    "records": [
        {"text": t, "city": c, "age": float(a), "visits": int(v)} for t, c, a, v in samples.itertuples(index=False)
    ],
    "labels": classifier.predict(samples).tolist(),
    "classes": classifier.classes_.tolist(),
    "probabilities": classifier.predict_proba(samples).tolist(),
    "values": regressor.predict(samples).tolist(),
}
with open(os.path.join(out_dir, "expected.json"), "w") as f:
    json.dump(expected, f)
    f.write("\n")
print(f"wrote classifier.onnx, regressor.onnx, expected.json to {out_dir}")
