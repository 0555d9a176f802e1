#!/usr/bin/env python3
"""Convert a joblib-saved model to ONNX and check the conversion.

Usage: convert_model.py <in.joblib> <out.onnx> <n_features_hint_or_0>

Run with the python of the environment that ran the notebook: the library that pickled a model also reads it.

What converts (each family's library is imported only when the model needs it):
  - scikit-learn estimators and Pipelines that skl2onnx converts;
  - XGBoost XGBClassifier/XGBRegressor and LightGBM LGBMClassifier/LGBMRegressor, alone or
    inside a Pipeline (onnxmltools' converters registered in skl2onnx);
  - CatBoost CatBoostClassifier/CatBoostRegressor on their own, numeric features only (CatBoost's own ONNX export,
    its ZipMap removed);
  - DummyClassifier/DummyRegressor with a constant answer (a converter of our own);
  - a fitted hyper-parameter search (GridSearchCV, RandomizedSearchCV, ...) as its best_estimator_.

Inputs: one float32 tensor "input" [None, n_features] (n_features from the estimator, else the hint), except for a
Pipeline that starts with a ColumnTransformer fitted on a DataFrame: then one input per column it uses, named after
the column, [None, 1], string for columns that encoders with string categories or text vectorizers read, int64 for
encoders with integer categories, float32 otherwise.

Outputs: classifiers give "label" [N] (int64 or string) and "probabilities" [N, classes] (float32), regressors
"variable" [N, targets] (float32): plain tensors, no ZipMap.

The converted model is run on 32 deterministic sample rows (numpy seed 0) with onnxruntime when it is installed, else
onnx.reference.ReferenceEvaluator, and its labels (classifiers, clusterers: exactly) or values (regressors: within
float32 rounding) are compared with the model's own predict on the same rows.

stdout carries exactly one JSON line; everything else (library output, warnings, tracebacks) goes to stderr.
  exit 0  {"ok": true, "family": "xgboost", "n_features": 4, "agreement": 1.0, "rows": 32,
          "inputs": [{"name": "input", "type": "float32"}], "outputs": [{"name": "label", "type": "int64"}, ...],
          "sample_rows": [[0.1257302, -0.1321049, 0.6404227, 0.1049001], ...]}
          (out.onnx written; sample_rows: the first 3 rows the check fed the ONNX model, as a predict request takes
          them: lists of numbers for one input, records {"<column>": value} for one input per column)
  exit 2  {"ok": false, "error": "<reason>"}  bad usage, load or conversion failure, unsupported model
  exit 3  {"ok": false, "error": "converted model disagrees with the original on 3 of 32 sample rows", ...}
          (out.onnx not written)

The pieces live in the package mlops_convert beside this file (outcome, model_parts, known_converters, inputs,
onnx_export); the server installs them together.
"""

import json
import os
import re
import sys
import traceback

# Keep stdout for the single result line: anything printed by libraries goes to stderr.
_RESULT_OUT = sys.stdout
sys.stdout = sys.stderr

from mlops_convert.inputs import ColumnInputs, SingleInput, feature_count, leading_column_transformer, shown_rows  # noqa: E402
from mlops_convert.known_converters import register_converters  # noqa: E402
from mlops_convert.model_parts import check_supported, kind_of, libraries_inside, searched_model  # noqa: E402
from mlops_convert.onnx_export import (  # noqa: E402
    catboost_features,
    convert_catboost,
    convert_with_skl2onnx,
    finish,
    tensor_types,
)
from mlops_convert.outcome import (  # noqa: E402
    EXIT_DISAGREES,
    EXIT_FAILED,
    SAMPLE_ROWS,
    Failure,
    Unsupported,
    describe,
    family_of,
    quietly,
    short,
    warnings_seen,
)


def emit(result, code):
    if warnings_seen:
        result.setdefault("warnings", warnings_seen[:10])
    _RESULT_OUT.write(json.dumps(result, default=str) + "\n")
    _RESULT_OUT.flush()
    sys.exit(code)


def parse_args(argv):
    if len(argv) != 4:
        raise Failure("usage: convert_model.py <in.joblib> <out.onnx> <n_features_hint_or_0>")
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
        est = quietly(joblib.load, src)
    except ModuleNotFoundError as exc:
        raise Failure(
            f"could not load {os.path.basename(src)}: it needs the python module "
            f"'{exc.name}', which is not installed (list it in the repository's requirements.txt)"
        )
    except AttributeError as exc:
        # A class defined in the notebook itself was pickled by reference to the notebook's __main__, gone here.
        found = re.search(r"Can't get attribute '([^']+)' on <module '__main__'", str(exc))
        if not found:
            raise Failure(f"could not load {os.path.basename(src)} with joblib: {short(exc)}")
        raise Unsupported(
            f"__main__.{found.group(1)}",
            "it is a class defined in the notebook, which cannot be loaded outside it",
        )
    except Exception as exc:
        raise Failure(f"could not load {os.path.basename(src)} with joblib: {short(exc)}")
    if not callable(getattr(est, "predict", None)):
        raise Failure(
            f"{os.path.basename(src)} holds a {type(est).__module__}.{type(est).__name__}, "
            "not a fitted scikit-learn estimator (or XGBoost, LightGBM, CatBoost model) with a predict method"
        )
    return est


def make_session(model):
    """Returns (runtime name, run(feeds) -> list of outputs in graph order)."""
    try:
        import onnxruntime as ort

        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return "onnxruntime", lambda feeds: sess.run(None, feeds)
    except ImportError:
        pass
    except Exception as exc:
        raise Failure(f"onnxruntime cannot load the converted model: {short(exc)}")
    try:
        from onnx.reference import ReferenceEvaluator

        ref = ReferenceEvaluator(model)
    except Exception as exc:
        raise Failure(
            f"onnx.reference cannot load the converted model (install onnxruntime to check it): {short(exc)}"
        )
    return "onnx.reference", lambda feeds: ref.run(None, feeds)


def check_agreement(est, model, inputs, kind):
    import numpy as np

    X, feeds = inputs.samples()
    try:
        expected = quietly(est.predict, X)
    except Exception as exc:
        # Some estimators reject negative inputs (e.g. MultinomialNB): retry with |rows|.
        X, feeds = inputs.samples(positive=True)
        try:
            expected = quietly(est.predict, X)
        except Exception:
            raise Failure(f"{describe(est)}.predict failed on the sample rows: {short(exc)}")
    expected = np.asarray(expected).reshape(SAMPLE_ROWS, -1)

    runtime, run = make_session(model)
    try:
        outputs = run(feeds)
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
        if got.dtype.kind in "OUSb" or expected.dtype.kind in "OUSb":
            got, expected = got.astype(str), expected.astype(str)
        same = (got == expected).all(axis=1)
    info["sample_rows"] = shown_rows(inputs, feeds)
    return int(SAMPLE_ROWS - same.sum()), info


# ---------------------------------------------------------------------------------------------------------------


def main(argv):
    src, dst, hint = parse_args(argv)
    est = load_estimator(src)
    kind = kind_of(est)
    # What is converted; the agreement check still asks est itself.
    target = searched_model(est)
    libraries = libraries_inside(target)

    if family_of(target) == "catboost":
        family = "catboost"
        inputs = SingleInput(target, catboost_features(target, hint))
        model = convert_catboost(target, dst, kind)
    else:
        try:
            import skl2onnx  # noqa: F401
        except ImportError as exc:
            raise Failure(f"skl2onnx is not installed in this python ({sys.executable}): {short(exc)}")
        boosters = register_converters(libraries)
        check_supported(target)
        family = boosters[0] if len(boosters) == 1 else "+".join(boosters) if boosters else "scikit-learn"
        ct = leading_column_transformer(target)
        inputs = ColumnInputs(target, ct) if ct is not None else SingleInput(target, feature_count(target, hint))
        converted = inputs.converted if isinstance(inputs, ColumnInputs) else target
        model = convert_with_skl2onnx(converted, inputs, kind, boosters)
    model = finish(model)

    bad, info = check_agreement(est, model, inputs, kind)
    agreement = (SAMPLE_ROWS - bad) / SAMPLE_ROWS
    details = {
        "family": family,
        "n_features": len(model.graph.input) if isinstance(inputs, ColumnInputs) else inputs.n,
        "agreement": agreement,
        "rows": SAMPLE_ROWS,
        "estimator": describe(est),
        "task": kind,
        "inputs": tensor_types(model.graph.input),
        "outputs": tensor_types(model.graph.output),
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
