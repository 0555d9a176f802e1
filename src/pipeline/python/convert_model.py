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
  - DummyClassifier/DummyRegressor with a constant answer (a converter of our own).

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
          "inputs": [{"name": "input", "type": "float32"}], "outputs": [{"name": "label", "type": "int64"}, ...]}
          (out.onnx written)
  exit 2  {"ok": false, "error": "<reason>"}  bad usage, load or conversion failure, unsupported model
  exit 3  {"ok": false, "error": "converted model disagrees with the original on 3 of 32 sample rows", ...}
          (out.onnx not written)
"""

import copy
import json
import os
import re
import sys
import traceback
import warnings

SAMPLE_ROWS = 32
EXIT_FAILED = 2
EXIT_DISAGREES = 3
# The main ONNX opset when onnxmltools' tree converters take part: they emit ai.onnx.ml 3 operators.
MAIN_OPSET = 21
ML_OPSET = 3
# ONNX Runtime's StringNormalizer (text vectorizers) builds the locale named in the model; skl2onnx writes en_US,
# which minimal images (Debian, Docker) lack, so such a model would fail to load there. C.UTF-8 is always present.
TEXT_LOCALE = "C.UTF-8"

SUPPORTED = (
    "scikit-learn estimators that skl2onnx converts (also Pipelines, and ColumnTransformers over DataFrames), "
    "XGBoost XGBClassifier/XGBRegressor and LightGBM LGBMClassifier/LGBMRegressor (alone or in a Pipeline), "
    "CatBoost CatBoostClassifier/CatBoostRegressor (alone, numeric features), DummyClassifier/DummyRegressor "
    "(constant strategies)"
)
EXPORT_HINT = (
    "or export ONNX in the notebook: write the ONNX model itself to MODEL_OUTPUT_PATH, "
    "see docs/notebook-contract.md"
)

# Keep stdout for the single result line: anything printed by libraries goes to stderr.
_RESULT_OUT = sys.stdout
sys.stdout = sys.stderr

_warnings = []


class Failure(Exception):
    def __init__(self, message, code=EXIT_FAILED, **extra):
        super().__init__(message)
        self.code = code
        self.extra = extra


class Unsupported(Failure):
    """A model (or a part of it) that no converter here handles: the message names it and says what to do."""

    def __init__(self, what, why=None):
        reason = f": {why}" if why else ""
        super().__init__(
            f"cannot convert {what} to ONNX{reason}. Converted here: {SUPPORTED}; {EXPORT_HINT}",
            unsupported=what,
        )


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
        print(f"convert_model: warning: {message}", file=sys.stderr)
        if message not in _warnings:
            _warnings.append(message)


def quietly(fn, *args, **kwargs):
    """Call fn, recording its warnings for the result instead of letting them reach stderr unseen."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    record_warnings(caught)
    return result


def qualified(obj):
    """module.Class of an object, with private submodules dropped (sklearn.semi_supervised.LabelSpreading)."""
    cls = type(obj)
    parts = [p for p in cls.__module__.split(".") if not p.startswith("_")]
    return ".".join(parts + [cls.__qualname__])


def describe(est):
    steps = getattr(est, "steps", None)
    if isinstance(steps, list):
        return f"{type(est).__name__}({', '.join(type(s).__name__ for _, s in steps)})"
    return type(est).__name__


def family_of(obj):
    return type(obj).__module__.split(".")[0]


# ---------------------------------------------------------------------------------------------------------------
# Loading


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


def kind_of(est):
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(est):
            return "classification"
        if is_regressor(est):
            return "regression"
    except Exception:
        pass  # not a scikit-learn estimator (CatBoost): judged by its name below
    declared = getattr(est, "_estimator_type", None)
    name = type(est).__name__
    if declared == "classifier" or name.endswith("Classifier"):
        return "classification"
    if declared == "regressor" or name.endswith("Regressor"):
        return "regression"
    return "other"  # e.g. a clusterer: its label output is compared like a classifier's


# ---------------------------------------------------------------------------------------------------------------
# The parts of a model


def children(est):
    """(label, part) of the parts skl2onnx walks through: Pipeline steps, ColumnTransformer and FeatureUnion members."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(est, Pipeline):
        return [(name, step) for name, step in est.steps]
    if isinstance(est, ColumnTransformer):
        fitted = getattr(est, "transformers_", est.transformers)
        return [(name, t) for name, t, _ in fitted]
    if isinstance(est, FeatureUnion):
        return list(est.transformer_list)
    return []


def leaves(est, path=()):
    """(path, part) of every part that needs a converter of its own, depth first."""
    parts = children(est)
    if not parts:
        yield path, est
        return
    for label, part in parts:
        if part is None or isinstance(part, str):  # "passthrough", "drop"
            continue
        yield from leaves(part, path + (label,))


def where(path):
    return f" (step '{' > '.join(path)}' of the Pipeline)" if path else ""


def libraries_inside(est):
    """Top-level module names of every estimator held anywhere inside est (meta-estimators included)."""
    found, seen, todo = set(), set(), [est]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or len(seen) > 10000:
            continue
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            todo.extend(obj)
            continue
        if isinstance(obj, dict):
            todo.extend(obj.values())
            continue
        if not (callable(getattr(obj, "fit", None)) and hasattr(obj, "__dict__")):
            continue
        found.add(family_of(obj))
        todo.extend(vars(obj).values())
    return found


def final_estimator(est):
    from sklearn.pipeline import Pipeline

    while isinstance(est, Pipeline):
        est = est.steps[-1][1]
    return est


# ---------------------------------------------------------------------------------------------------------------
# Converters registered in skl2onnx


def register_converters(est, libraries):
    """Register the converters the model needs: XGBoost/LightGBM from onnxmltools, ours for the Dummy estimators."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    boosters = [lib for lib in ("xgboost", "lightgbm") if lib in libraries]
    for lib in boosters:
        try:
            if lib == "xgboost":
                import xgboost as library
                from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost as convert

                classes = [
                    ("XGBClassifier", "XGBoostXGBClassifier", True),
                    ("XGBRegressor", "XGBoostXGBRegressor", False),
                ]
            else:
                import lightgbm as library
                from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm as convert

                classes = [
                    ("LGBMClassifier", "LightGbmLGBMClassifier", True),
                    ("LGBMRegressor", "LightGbmLGBMRegressor", False),
                ]
        except ImportError as exc:
            raise Failure(
                f"converting a {lib} model needs onnxmltools and {lib} in this python ({sys.executable}): {short(exc)}"
            )
        for name, alias, is_classifier in classes:
            cls = getattr(library, name, None)
            if cls is None:
                continue
            if is_classifier:
                update_registered_converter(
                    cls, alias, calculate_linear_classifier_output_shapes, convert, options=classifier_options
                )
            else:
                update_registered_converter(
                    cls, alias, calculate_linear_regressor_output_shapes, convert, options={"split": None}
                )

    from sklearn.dummy import DummyClassifier, DummyRegressor

    update_registered_converter(
        DummyClassifier, "MlopsDummyClassifier", dummy_classifier_shape, convert_dummy_classifier,
        options=classifier_options,
    )
    update_registered_converter(DummyRegressor, "MlopsDummyRegressor", dummy_regressor_shape, convert_dummy_regressor)
    return boosters


def check_dummy(est, path):
    """Dummy estimators convert when their answer is one constant for every row."""
    from sklearn.dummy import DummyClassifier

    if isinstance(est, DummyClassifier):
        if est.strategy not in ("most_frequent", "prior", "constant"):
            raise Unsupported(
                f"{qualified(est)}(strategy={est.strategy!r}){where(path)}",
                "it answers at random, which no ONNX graph reproduces",
            )
        if getattr(est, "n_outputs_", 1) != 1:
            raise Unsupported(f"{qualified(est)}{where(path)}", "it predicts several outputs")


def check_supported(est):
    """Unsupported with the first part that no registered converter handles (or that its library cannot export)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    for path, part in leaves(est):
        if family_of(part) == "catboost":
            raise Unsupported(
                f"{qualified(part)}{where(path)}",
                "CatBoost models convert on their own only, not inside a Pipeline or another estimator",
            )
        if type(part) not in sklearn_operator_name_map:
            raise Unsupported(f"{qualified(part)}{where(path)}", "no converter knows it")
        check_dummy(part, path)


def _rows_of(scope, container, input_name):
    """Name of an int64 [1] tensor holding the batch size of input_name."""
    import numpy as np
    from onnx import TensorProto

    shape = scope.get_unique_variable_name("shape")
    container.add_node("Shape", [input_name], [shape], name=scope.get_unique_operator_name("Shape"))
    zero = scope.get_unique_variable_name("zero")
    one = scope.get_unique_variable_name("one")
    container.add_initializer(zero, TensorProto.INT64, [1], np.array([0], dtype=np.int64))
    container.add_initializer(one, TensorProto.INT64, [1], np.array([1], dtype=np.int64))
    rows = scope.get_unique_variable_name("rows")
    container.add_node("Slice", [shape, zero, one], [rows], name=scope.get_unique_operator_name("Slice"))
    return rows


def _repeat_row(scope, container, input_name, row, output_name):
    """output_name = the constant float32 row (1-D) repeated for every row of input_name: [N, len(row)]."""
    import numpy as np
    from onnx import TensorProto

    rows = _rows_of(scope, container, input_name)
    width = scope.get_unique_variable_name("width")
    container.add_initializer(width, TensorProto.INT64, [1], np.array([len(row)], dtype=np.int64))
    dims = scope.get_unique_variable_name("dims")
    container.add_node("Concat", [rows, width], [dims], axis=0, name=scope.get_unique_operator_name("Concat"))
    const = scope.get_unique_variable_name("constant_row")
    container.add_initializer(const, TensorProto.FLOAT, [1, len(row)], np.asarray(row, dtype=np.float32).ravel())
    container.add_node("Expand", [const, dims], [output_name], name=scope.get_unique_operator_name("Expand"))
    return rows


def _label_tensor(classes):
    import numpy as np
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    classes = np.asarray(classes)
    if classes.dtype.kind in "iub" or (
        classes.dtype.kind == "f" and np.all(np.isfinite(classes)) and np.all(classes == np.round(classes))
    ):
        return Int64TensorType, classes.astype(np.int64)
    return StringTensorType, np.array([str(c) for c in classes], dtype=object)


def dummy_classifier_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType

    op = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    label_type, _ = _label_tensor(op.classes_)
    operator.outputs[0].type = label_type([n])
    operator.outputs[1].type = FloatTensorType([n, len(op.classes_)])


def convert_dummy_classifier(scope, operator, container):
    """Every row gets the estimator's one answer: its label, and its class probabilities."""
    import numpy as np
    from onnx import TensorProto

    op = operator.raw_operator
    probe = np.zeros((1, max(1, int(getattr(op, "n_features_in_", 1) or 1))))
    probabilities = np.asarray(op.predict_proba(probe), dtype=np.float32).reshape(-1)
    label = op.predict(probe)[0]
    _, classes = _label_tensor(op.classes_)
    index = int(np.flatnonzero(np.asarray(op.classes_) == label)[0])

    x = operator.inputs[0].full_name
    rows = _repeat_row(scope, container, x, probabilities, operator.outputs[1].full_name)
    indices = scope.get_unique_variable_name("label_index")
    const_index = scope.get_unique_variable_name("constant_index")
    container.add_initializer(const_index, TensorProto.INT64, [1], np.array([index], dtype=np.int64))
    container.add_node("Expand", [const_index, rows], [indices], name=scope.get_unique_operator_name("Expand"))
    labels = scope.get_unique_variable_name("classes")
    if classes.dtype == object:
        container.add_initializer(labels, TensorProto.STRING, [len(classes)], [c.encode() for c in classes])
    else:
        container.add_initializer(labels, TensorProto.INT64, [len(classes)], classes)
    container.add_node(
        "Gather", [labels, indices], [operator.outputs[0].full_name], axis=0,
        name=scope.get_unique_operator_name("Gather"),
    )


def dummy_regressor_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType

    op = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, int(op.constant_.size)])


def convert_dummy_regressor(scope, operator, container):
    """Every row gets the estimator's constant (mean, median, quantile or the given constant)."""
    op = operator.raw_operator
    _repeat_row(scope, container, operator.inputs[0].full_name, op.constant_.ravel(), operator.outputs[0].full_name)


# ---------------------------------------------------------------------------------------------------------------
# Inputs and sample rows


class SingleInput:
    """One float32 tensor "input" [None, n]: the model reads a numeric matrix."""

    def __init__(self, est, n):
        self.est = est
        self.n = n
        self.names = getattr(est, "feature_names_in_", None)

    def initial_types(self):
        from skl2onnx.common.data_types import FloatTensorType

        return [("input", FloatTensorType([None, self.n]))]

    def samples(self, positive=False):
        """(rows for predict, feeds for the ONNX model)."""
        import numpy as np

        rows = np.random.default_rng(0).standard_normal((SAMPLE_ROWS, self.n)).astype(np.float32)
        if positive:
            rows = np.abs(rows)
        X = rows
        if self.names is not None and len(self.names) == self.n:
            import pandas as pd  # fitted on a DataFrame: predict on one, to avoid feature-name warnings

            X = pd.DataFrame(rows, columns=list(self.names))
        return X, {"input": rows}


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


TEXT_VECTORIZERS = ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer")
SAMPLE_WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


class Column:
    """One DataFrame column as an ONNX input, with what its sample values are drawn from."""

    def __init__(self, name):
        self.name = name
        self.type = "float32"
        self.values = None  # categories to draw from
        self.words = None  # a text vectorizer's vocabulary
        self.mean, self.scale = 0.0, 1.0

    def draw(self, rng):
        import numpy as np

        if self.words is not None:
            words = self.words or SAMPLE_WORDS
            return [" ".join(rng.choice(words, size=int(rng.integers(1, 6)))) for _ in range(SAMPLE_ROWS)]
        if self.values is not None:
            return [self.values[i] for i in rng.integers(0, len(self.values), SAMPLE_ROWS)]
        z = rng.standard_normal(SAMPLE_ROWS)
        return list(np.float32(self.mean + self.scale * z))


def leading_column_transformer(est):
    """The ColumnTransformer a Pipeline (or nested Pipeline) starts with, when it was fitted on a DataFrame."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    first = est
    while isinstance(first, Pipeline):
        first = first.steps[0][1]
    if isinstance(first, ColumnTransformer) and first is not est and hasattr(first, "feature_names_in_"):
        return first
    return None


def _column_names(ct, name, spec):
    """The column names a ColumnTransformer member reads, whatever way they were selected."""
    names = list(ct.feature_names_in_)
    indices = getattr(ct, "_transformer_to_input_indices", {}).get(name)
    if isinstance(spec, str):
        return [spec]
    if indices is None:
        raise Failure(f"cannot tell which columns the ColumnTransformer member '{name}' reads")
    return [names[i] for i in indices]


def _steps(transformer):
    from sklearn.pipeline import Pipeline

    if isinstance(transformer, Pipeline):
        return [s for _, s in transformer.steps if s is not None and not isinstance(s, str)]
    return [transformer]


def _type_column(column, transformer, position):
    """Set a column's type and samples from the first step of `transformer` that tells what it reads."""
    import numpy as np

    if transformer is None or isinstance(transformer, str):  # passthrough
        return
    for step in _steps(transformer):
        cls = type(step).__name__
        if cls in TEXT_VECTORIZERS:
            column.type = "string"
            vocabulary = getattr(step, "vocabulary_", None) or {}
            column.words = sorted(vocabulary)
            return
        categories = getattr(step, "categories_", None)
        if categories is not None and position < len(categories):
            values = [v for v in np.asarray(categories[position]).tolist() if v is not None and v == v]
            kind = np.asarray(categories[position]).dtype.kind
            if kind in "OUS":
                column.type = "string"
                column.values = [str(v) for v in values]
            elif kind in "iub":
                column.type = "int64"
                column.values = values
            else:
                column.values = [float(np.float32(v)) for v in values]
            return
        statistics = getattr(step, "statistics_", None)  # SimpleImputer: strings stay strings
        if statistics is not None and np.asarray(statistics).dtype.kind in "OUS":
            column.type = "string"
            column.values = sorted({str(v) for v in np.asarray(statistics).tolist()}) or ["a"]
            continue
        mean, scale = getattr(step, "mean_", None), getattr(step, "scale_", None)
        if mean is not None and scale is not None and position < np.size(mean):
            column.mean = float(np.ravel(mean)[position])
            column.scale = float(np.ravel(scale)[position]) or 1.0
        return


class ColumnInputs:
    """One input per DataFrame column a leading ColumnTransformer uses, named after it."""

    def __init__(self, est, ct):
        self.est = est
        self.all_names = [str(n) for n in ct.feature_names_in_]
        columns = {}
        for name, transformer, spec in ct.transformers_:
            if isinstance(transformer, str) and transformer == "drop":
                continue
            for position, column in enumerate(_column_names(ct, name, spec)):
                if column in columns:
                    continue
                columns[column] = Column(column)
                _type_column(columns[column], transformer, position)
        self.columns = [columns[n] for n in self.all_names if n in columns]
        unused = [n for n in self.all_names if n not in columns]
        if unused:
            _warnings.append(f"columns the model does not use and that are no inputs: {', '.join(unused)}")
        self.converted = self._named_columns(est, ct)

    @staticmethod
    def _named_columns(est, ct):
        """The estimator to convert: skl2onnx matches ColumnTransformer columns to inputs by name."""
        specs = [spec for _, _, spec in ct.transformers_]
        if all(isinstance(s, str) or (isinstance(s, list) and all(isinstance(c, str) for c in s)) for s in specs):
            return est
        copied = copy.deepcopy(est)
        inner = leading_column_transformer(copied)
        inner.transformers_ = [
            (name, t, spec if isinstance(spec, str) else _column_names(inner, name, spec))
            for name, t, spec in inner.transformers_
        ]
        return copied

    def initial_types(self):
        from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

        types = {"string": StringTensorType, "int64": Int64TensorType, "float32": FloatTensorType}
        return [(c.name, types[c.type]([None, 1])) for c in self.columns]

    def samples(self, positive=False):
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(0)
        data, feeds = {}, {}
        for column in self.columns:
            values = column.draw(rng)
            if column.type == "string":
                feeds[column.name] = np.array(values, dtype=object).reshape(-1, 1)
                data[column.name] = values
            elif column.type == "int64":
                feeds[column.name] = np.array(values, dtype=np.int64).reshape(-1, 1)
                data[column.name] = values
            else:
                floats = np.abs(np.array(values, dtype=np.float32)) if positive else np.array(values, dtype=np.float32)
                feeds[column.name] = floats.reshape(-1, 1)
                data[column.name] = floats.astype(np.float64)
        frame = pd.DataFrame({n: data.get(n, [None] * SAMPLE_ROWS) for n in self.all_names})
        return frame, feeds


# ---------------------------------------------------------------------------------------------------------------
# Conversion


def unsupported_from(exc):
    """skl2onnx's 'no shape calculator/converter for <class ...>' as an Unsupported naming that class."""
    name = type(exc).__name__
    if name in ("MissingShapeCalculator", "MissingConverter") or "Unable to find a shape calculator" in str(exc):
        found = re.search(r"<class '([\w.]+)'>", str(exc)) or re.search(r"type '?([\w.]+)'?", str(exc))
        what = found.group(1) if found else "a part of the model"
        parts = what.split(".")
        what = ".".join(p for p in parts[:-1] if not p.startswith("_")) + "." + parts[-1] if len(parts) > 1 else what
        return Unsupported(what, "no converter knows it")
    return None


def convert_with_skl2onnx(est, inputs, kind, boosters):
    try:
        from skl2onnx import convert_sklearn
    except ImportError as exc:
        raise Failure(f"skl2onnx is not installed in this python ({sys.executable}): {short(exc)}")

    options = {id(final_estimator(est)): {"zipmap": False}} if kind == "classification" else None
    target = {"": MAIN_OPSET, "ai.onnx.ml": ML_OPSET} if boosters else None
    try:
        model = quietly(
            convert_sklearn, est, initial_types=inputs.initial_types(), options=options, target_opset=target
        )
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        unsupported = unsupported_from(exc)
        if unsupported:
            raise unsupported
        raise Failure(f"skl2onnx could not convert {describe(est)}: {short(exc)}; {EXPORT_HINT}")
    return model


def convert_catboost(est, dst, kind):
    """CatBoost's own ONNX export, made to look like skl2onnx's: input "input", no ZipMap, regressor output "variable"."""
    import onnx
    from onnx import TensorProto, helper

    if type(est).__name__ not in ("CatBoostClassifier", "CatBoostRegressor"):
        raise Unsupported(qualified(est), "only CatBoostClassifier and CatBoostRegressor convert")
    for what, method in (("categorical", "get_cat_feature_indices"), ("text", "get_text_feature_indices"),
                         ("embedding", "get_embedding_feature_indices")):
        try:
            indices = list(getattr(est, method)())
        except Exception:
            indices = []
        if indices:
            names = getattr(est, "feature_names_", None) or []
            listed = ", ".join(str(names[i]) if i < len(names) else str(i) for i in indices[:5])
            raise Unsupported(
                qualified(est),
                f"it uses {what} features ({listed}), which CatBoost's ONNX export does not support "
                "(train on numeric features only)",
            )
    tmp = f"{dst}.catboost-{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        quietly(est.save_model, tmp, format="onnx")
        model = onnx.load(tmp)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        raise Failure(f"CatBoost could not export {qualified(est)} to ONNX: {short(exc)}; {EXPORT_HINT}")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

    graph = model.graph
    if len(graph.input) != 1:
        raise Failure(f"CatBoost's ONNX export of {qualified(est)} has {len(graph.input)} inputs, expected one")
    rename(graph, graph.input[0].name, "input")
    for node in list(graph.node):
        if node.op_type != "ZipMap":
            continue
        tensor, mapped = node.input[0], node.output[0]
        graph.node.remove(node)
        for out in graph.output:
            if out.name == mapped:
                classes = len(getattr(est, "classes_", [])) or None
                out.type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, ["N", classes]))
        rename(graph, tensor, "__zipmap_dropped__")
        rename(graph, mapped, "__zipmap_dropped__")
        rename(graph, "__zipmap_dropped__", "probabilities")
    if kind == "regression":
        for node in graph.node:
            if node.op_type == "TreeEnsembleRegressor":
                targets = next((a.i for a in node.attribute if a.name == "n_targets"), 1)
                out = next(o for o in graph.output if o.name == node.output[0])
                out.type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, ["N", targets]))
                rename(graph, node.output[0], "variable")
    return model


def rename(graph, old, new):
    """Rename a tensor everywhere in a graph (inputs, outputs, node ends)."""
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


def finish(model):
    """Portable across machines, tensors only, valid ONNX."""
    import onnx
    from onnx import helper

    for node in model.graph.node:
        if node.op_type == "StringNormalizer":
            kept = [a for a in node.attribute if a.name != "locale"]
            del node.attribute[:]
            node.attribute.extend(kept + [helper.make_attribute("locale", TEXT_LOCALE)])
    # Opsets declared twice (skl2onnx and onnxmltools both add the main domain): keep the highest of each.
    opsets = {}
    for entry in model.opset_import:
        opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets.items())
    for out in model.graph.output:
        if out.type.WhichOneof("value") != "tensor_type":
            raise Failure(
                f"the converted model's output '{out.name}' is a {out.type.WhichOneof('value')}, "
                "not a tensor (ZipMap still present?); the model server needs tensor outputs"
            )
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise Failure(f"the converted model is not valid ONNX: {short(exc)}")
    return model


# ---------------------------------------------------------------------------------------------------------------
# The agreement check


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
    return int(SAMPLE_ROWS - same.sum()), info


def tensor_types(values):
    import onnx

    result = []
    for value in values:
        elem = value.type.tensor_type.elem_type
        name = onnx.TensorProto.DataType.Name(elem).lower()
        name = {"float": "float32", "double": "float64"}.get(name, name)
        result.append({"name": value.name, "type": name})
    return result


# ---------------------------------------------------------------------------------------------------------------


def main(argv):
    src, dst, hint = parse_args(argv)
    est = load_estimator(src)
    kind = kind_of(est)
    libraries = libraries_inside(est)

    if family_of(est) == "catboost":
        family = "catboost"
        inputs = SingleInput(est, _catboost_features(est, hint))
        model = convert_catboost(est, dst, kind)
    else:
        try:
            import skl2onnx  # noqa: F401
        except ImportError as exc:
            raise Failure(f"skl2onnx is not installed in this python ({sys.executable}): {short(exc)}")
        boosters = register_converters(est, libraries)
        check_supported(est)
        family = boosters[0] if len(boosters) == 1 else "+".join(boosters) if boosters else "scikit-learn"
        ct = leading_column_transformer(est)
        inputs = ColumnInputs(est, ct) if ct is not None else SingleInput(est, feature_count(est, hint))
        converted = inputs.converted if isinstance(inputs, ColumnInputs) else est
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


def _catboost_features(est, hint):
    names = getattr(est, "feature_names_", None)
    if names:
        return len(names)
    if hint > 0:
        return hint
    raise Failure(f"cannot tell how many input features {qualified(est)} takes (is it fitted?)")


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
