"""Making the ONNX model: skl2onnx or CatBoost's own export, then made portable and checked."""

import os
import re
import sys
import traceback

from .model_parts import final_estimator
from .outcome import EXPORT_HINT, Failure, Unsupported, describe, qualified, quietly, short

# The main ONNX opset when onnxmltools' tree converters take part: they emit ai.onnx.ml 3 operators.
MAIN_OPSET = 21
ML_OPSET = 3
# ONNX Runtime's StringNormalizer (text vectorizers) builds the locale named in the model; skl2onnx writes en_US,
# which minimal images (Debian, Docker) lack, so such a model would fail to load there. C.UTF-8 is always present.
TEXT_LOCALE = "C.UTF-8"


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


def tensor_types(values):
    import onnx

    result = []
    for value in values:
        elem = value.type.tensor_type.elem_type
        name = onnx.TensorProto.DataType.Name(elem).lower()
        name = {"float": "float32", "double": "float64"}.get(name, name)
        result.append({"name": value.name, "type": name})
    return result


def catboost_features(est, hint):
    """How many features a CatBoost model takes (its feature names, else the hint)."""
    names = getattr(est, "feature_names_", None)
    if names:
        return len(names)
    if hint > 0:
        return hint
    raise Failure(f"cannot tell how many input features {qualified(est)} takes (is it fitted?)")
