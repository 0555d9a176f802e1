"""What a conversion ends with: the failures it reports, the warnings it collects, and how it names things."""

import sys
import warnings

SAMPLE_ROWS = 32
EXIT_FAILED = 2
EXIT_DISAGREES = 3

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


# Warnings met on the way, reported in the result line.
warnings_seen = []


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
        if message not in warnings_seen:
            warnings_seen.append(message)


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

