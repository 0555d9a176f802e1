"""The pieces of convert_model.py, the joblib → ONNX converter."""
