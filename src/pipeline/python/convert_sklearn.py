#!/usr/bin/env python3
"""Convert a joblib-saved scikit-learn estimator to ONNX and check the conversion.

Usage: convert_sklearn.py <in.joblib> <out.onnx> <n_features_hint_or_0>

Run with the platform's venv python (.venv/bin/python; see notebooks/requirements.txt).

The estimator is converted with skl2onnx: one float32 input named "input" of shape
[None, n_features] (n_features from the estimator's n_features_in_, else the hint), ZipMap off
for classifiers (so "label" and "probabilities" are plain tensors). The converted model is run
on 32 deterministic sample rows (numpy seed 0, standard normal) with onnxruntime when it is
installed, else onnx.reference.ReferenceEvaluator, and its labels (classifiers, clusterers) or
values (regressors) are compared with estimator.predict on the same rows.

stdout carries exactly one JSON line; everything else (library output, warnings, tracebacks)
goes to stderr.
  exit 0  {"ok": true, "n_features": 4, "agreement": 1.0, "rows": 32, ...}  (out.onnx written)
  exit 2  {"ok": false, "error": "<reason>"}  bad usage, load or conversion failure
  exit 3  {"ok": false, "error": "converted model disagrees with the original on 3 of 32
          sample rows", ...}  (out.onnx not written)
"""

import json
import os
import sys
import traceback
import warnings

SAMPLE_ROWS = 32
EXIT_FAILED = 2
EXIT_DISAGREES = 3

# Keep stdout for the single result line: anything printed by libraries goes to stderr.
_RESULT_OUT = sys.stdout
sys.stdout = sys.stderr

_warnings = []


class Failure(Exception):
    def __init__(self, message, code=EXIT_FAILED, **extra):
        super().__init__(message)
        self.code = code
        self.extra = extra


def emit(result, code):
    if _warnings:
        result.setdefault("warnings", _warnings[:10])
    _RESULT_OUT.write(json.dumps(result, default=str) + "\n")
    _RESULT_OUT.flush()
    sys.exit(code)


def short(exc):
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def record_warnings(caught):
    for w in caught:
        message = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0][:300]}"
        print(f"convert_sklearn: warning: {message}", file=sys.stderr)
        if message not in _warnings:
            _warnings.append(message)


def describe(est):
    steps = getattr(est, "steps", None)
    if isinstance(steps, list):
        return f"{type(est).__name__}({', '.join(type(s).__name__ for _, s in steps)})"
    return type(est).__name__


def parse_args(argv):
    if len(argv) != 4:
        raise Failure("usage: convert_sklearn.py <in.joblib> <out.onnx> <n_features_hint_or_0>")
    src, dst, hint = argv[1], argv[2], argv[3]
    try:
        hint = int(hint)
        if hint < 0:
            raise ValueError
    except ValueError:
        raise Failure(f"n_features hint must be a non-negative integer, got {argv[3]!r}")
    if not os.path.isfile(src):
        raise Failure(f"model file not found: {src}")
    return src, dst, hint


def load_estimator(src):
    try:
        import joblib
    except ImportError as exc:
        raise Failure(f"joblib is not installed in this python ({sys.executable}): {short(exc)}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = joblib.load(src)
        record_warnings(caught)
    except ModuleNotFoundError as exc:
        raise Failure(
            f"could not load {os.path.basename(src)}: it needs the python module "
            f"'{exc.name}', which is not installed"
        )
    except Exception as exc:
        raise Failure(f"could not load {os.path.basename(src)} with joblib: {short(exc)}")
    if not callable(getattr(est, "predict", None)):
        raise Failure(
            f"{os.path.basename(src)} holds a {type(est).__module__}.{type(est).__name__}, "
            "not a fitted scikit-learn estimator with a predict method"
        )
    return est


def feature_count(est, hint):
    n = getattr(est, "n_features_in_", None)
    if isinstance(n, int) and n > 0:
        if hint and hint != n:
            _warnings.append(f"n_features hint {hint} ignored: the estimator has n_features_in_={n}")
        return n
    if hint > 0:
        return hint
    raise Failure(
        f"cannot tell how many input features {describe(est)} takes: it has no n_features_in_ "
        "(is it fitted?) and no n_features hint was given"
    )


def kind_of(est):
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(est):
        return "classification"
    if is_regressor(est):
        return "regression"
    return "other"  # e.g. a clusterer: its label output is compared like a classifier's


def convert(est, n, kind):
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        raise Failure(f"skl2onnx is not installed in this python ({sys.executable}): {short(exc)}")

    options = {id(est): {"zipmap": False}} if kind == "classification" else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = convert_sklearn(
                est,
                initial_types=[("input", FloatTensorType([None, n]))],
                options=options,
            )
        record_warnings(caught)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        raise Failure(f"skl2onnx could not convert {describe(est)}: {short(exc)}")

    for out in model.graph.output:
        if out.type.WhichOneof("value") != "tensor_type":
            raise Failure(
                f"the converted model's output '{out.name}' is a {out.type.WhichOneof('value')}, "
                "not a tensor (ZipMap still present?); the model server needs tensor outputs"
            )
    try:
        import onnx

        onnx.checker.check_model(model)
    except Exception as exc:
        raise Failure(f"the converted model is not valid ONNX: {short(exc)}")
    return model


def make_session(model):
    """Returns (runtime name, run(rows) -> list of outputs in graph order)."""
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return "onnxruntime", lambda rows: sess.run(None, {"input": rows})
    except ImportError:
        pass
    except Exception as exc:
        raise Failure(f"onnxruntime cannot load the converted model: {short(exc)}")
    try:
        from onnx.reference import ReferenceEvaluator

        ref = ReferenceEvaluator(model)
    except Exception as exc:
        raise Failure(f"onnx.reference cannot load the converted model: {short(exc)}")
    return "onnx.reference", lambda rows: ref.run(None, {"input": rows})


def sklearn_predict(est, rows):
    names = getattr(est, "feature_names_in_", None)
    X = rows
    if names is not None and len(names) == rows.shape[1]:
        import pandas as pd  # fitted on a DataFrame: predict on one, to avoid feature-name warnings

        X = pd.DataFrame(rows, columns=list(names))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = est.predict(X)
    record_warnings(caught)
    return pred


def check_agreement(est, model, n, kind):
    import numpy as np

    rows = np.random.default_rng(0).standard_normal((SAMPLE_ROWS, n)).astype(np.float32)
    try:
        expected = sklearn_predict(est, rows)
    except Exception as exc:
        # Some estimators reject negative inputs (e.g. MultinomialNB): retry with |rows|.
        rows = np.abs(rows)
        try:
            expected = sklearn_predict(est, rows)
        except Exception:
            raise Failure(f"{describe(est)}.predict failed on the sample rows: {short(exc)}")
    expected = np.asarray(expected).reshape(SAMPLE_ROWS, -1)

    runtime, run = make_session(model)
    try:
        outputs = run(rows)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        raise Failure(f"running the converted model with {runtime} failed: {short(exc)}")
    got = np.asarray(outputs[0])  # label for classifiers/clusterers, values for regressors
    if got.size != expected.size:
        raise Failure(
            f"the converted model's first output '{model.graph.output[0].name}' has shape "
            f"{list(got.shape)}, the estimator predicts {list(expected.shape)}"
        )
    got = got.reshape(expected.shape)

    info = {"runtime": runtime}
    if kind == "regression":
        got_f, exp_f = got.astype(np.float64), expected.astype(np.float64)
        scale = max(1.0, float(np.abs(exp_f).max()))
        same = np.isclose(got_f, exp_f, rtol=1e-3, atol=1e-4 * scale).all(axis=1)
        info["max_abs_diff"] = float(np.abs(got_f - exp_f).max())
    else:
        if got.dtype.kind in "OUS" or expected.dtype.kind in "OUS":
            got, expected = got.astype(str), expected.astype(str)
        same = (got == expected).all(axis=1)
    return int(SAMPLE_ROWS - same.sum()), info


def output_types(model):
    import onnx

    result = []
    for out in model.graph.output:
        elem = out.type.tensor_type.elem_type
        name = onnx.TensorProto.DataType.Name(elem).lower()
        name = {"float": "float32", "double": "float64", "float16": "float16"}.get(name, name)
        result.append({"name": out.name, "type": name})
    return result


def main(argv):
    src, dst, hint = parse_args(argv)
    est = load_estimator(src)
    n = feature_count(est, hint)
    kind = kind_of(est)
    model = convert(est, n, kind)
    bad, info = check_agreement(est, model, n, kind)
    agreement = (SAMPLE_ROWS - bad) / SAMPLE_ROWS
    details = {
        "n_features": n,
        "agreement": agreement,
        "rows": SAMPLE_ROWS,
        "estimator": describe(est),
        "task": kind,
        "outputs": output_types(model),
        **info,
    }
    if bad:
        raise Failure(
            f"converted model disagrees with the original on {bad} of {SAMPLE_ROWS} sample rows",
            code=EXIT_DISAGREES,
            **details,
        )

    try:
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        tmp = f"{dst}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, dst)
    except OSError as exc:
        raise Failure(f"could not write {dst}: {short(exc)}")
    emit({"ok": True, **details}, 0)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Failure as failure:
        emit({"ok": False, "error": str(failure), **failure.extra}, failure.code)
    except SystemExit:
        raise
    except BaseException as exc:  # never a traceback on stdout
        traceback.print_exc(file=sys.stderr)
        emit({"ok": False, "error": f"unexpected error: {short(exc)}"}, EXIT_FAILED)
