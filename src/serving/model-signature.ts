// What a model takes and returns, as read from its ONNX file: shared by the session, the decoders and the output plans.

/** One input or output: element type as onnxruntime names it ("float32", "int64", "string", ...), null for dynamic dims. */
export type TensorSpec = { name: string; type: string; shape: (number | null)[] };

/** What a model takes and returns, as read from the model file. */
export type ModelSignature = { inputs: TensorSpec[]; outputs: TensorSpec[] };
