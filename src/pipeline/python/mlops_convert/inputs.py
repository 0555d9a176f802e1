"""The ONNX inputs of a model and the sample rows the agreement check feeds it (as the model and as ONNX see them)."""

import copy

from .outcome import SAMPLE_ROWS, Failure, describe, warnings_seen


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
            warnings_seen.append(f"n_features hint {hint} ignored: the estimator has n_features_in_={n}")
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
            # Real text has capitals and punctuation: the check must see the ONNX tokenizer split and lowercase as
            # scikit-learn does, not only on words joined by spaces.
            words = self.words or SAMPLE_WORDS
            gaps = [" ", ", ", ". ", "! ", " - ", "; ", "? ", " (", ") ", "/", " + ", "&"]

            def text():
                picked = [w.capitalize() if rng.random() < 0.3 else w for w in rng.choice(words, size=int(rng.integers(1, 6)))]
                out = picked[0]
                for w in picked[1:]:
                    out += gaps[int(rng.integers(0, len(gaps)))] + w
                return out

            return [text() for _ in range(SAMPLE_ROWS)]
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
            warnings_seen.append(f"columns the model does not use and that are no inputs: {', '.join(unused)}")
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




SHOWN_ROWS = 3
SHOWN_ROWS_MAX_CHARS = 16_000
SHOWN_TEXT_MAX_CHARS = 500


def shown_rows(inputs, feeds):
    """The first few sample rows the check fed the ONNX model, JSON-safe, as a predict request takes them: lists of
    numbers for one input, records (input name -> value) for one input per column. Fewer rows (or none) when they
    would not fit in SHOWN_ROWS_MAX_CHARS of JSON."""
    import json
    import math

    def value(v, kind):
        if kind == "string":
            return str(v)[:SHOWN_TEXT_MAX_CHARS]
        if kind == "int64":
            return int(v)
        f = float(f"{float(v):.7g}")  # float32 precision, written short
        return f if math.isfinite(f) else 0.0

    if isinstance(inputs, ColumnInputs):
        rows = [{c.name: value(feeds[c.name][i][0], c.type) for c in inputs.columns} for i in range(min(SHOWN_ROWS, SAMPLE_ROWS))]
    else:
        rows = [[value(v, "float32") for v in feeds["input"][i]] for i in range(min(SHOWN_ROWS, SAMPLE_ROWS))]
    while rows and len(json.dumps(rows)) > SHOWN_ROWS_MAX_CHARS:
        rows.pop()
    return rows
