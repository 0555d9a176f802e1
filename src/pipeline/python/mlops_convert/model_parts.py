"""The parts of a model: what it is made of, which libraries it needs, and whether every part can be converted."""

from .outcome import Unsupported, family_of, qualified


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


SEARCHES = ("GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV")


def searched_model(est):
    """The model a fitted hyper-parameter search predicts with (its best_estimator_); any other model itself."""
    best = getattr(est, "best_estimator_", None) if type(est).__name__ in SEARCHES else None
    return best if best is not None else est


def check_supported(est):
    """Unsupported with the first part that no registered converter handles (or that its library cannot export)."""
    from skl2onnx._parse import sklearn_parsers_map
    from skl2onnx._supported_operators import sklearn_operator_name_map

    for path, part in leaves(est):
        if family_of(part) == "catboost":
            raise Unsupported(
                f"{qualified(part)}{where(path)}",
                "CatBoost models convert on their own only, not inside a Pipeline or another estimator",
            )
        if type(part) not in sklearn_operator_name_map and type(part) not in sklearn_parsers_map:
            raise Unsupported(f"{qualified(part)}{where(path)}", "no converter knows it")
        check_dummy(part, path)

