"""Converters registered in skl2onnx: onnxmltools' for XGBoost and LightGBM, and ours for the Dummy estimators."""

import sys

from .outcome import Failure, short


def register_converters(libraries):
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


