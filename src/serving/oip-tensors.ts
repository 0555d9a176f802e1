// Open Inference Protocol v2 tensors: the infer request (JSON, or JSON followed by binary tensor data) → model
// feeds, and model outputs → the infer response. Binary data follows Triton's binary_tensor_data extension, which
// tritonclient uses by default.
import { z } from "zod";
import { BadRequestError, UnprocessableError } from "../lib/errors.ts";
import { refuseDeepJson } from "../lib/json-depth.ts";
import { checkSameBatch } from "./decode-rows.ts";
import type { ModelSignature } from "./model-session.ts";
import { outputTensors, type Outputs } from "./model-outputs.ts";
import { binaryTensor, describeInput, flatTensor, type InputLimits } from "./tensor-input.ts";
import { fromOipDatatype, oipDatatype, type TensorValue } from "./tensor-types.ts";

const parameters = z.record(z.string(), z.unknown()).optional();
const inferRequest = z.object({
  id: z.string().optional(),
  parameters,
  inputs: z
    .array(
      z.object({
        name: z.string().min(1),
        shape: z.array(z.number().int().nonnegative()),
        datatype: z.string().min(1),
        parameters,
        data: z.unknown().optional(),
      }),
    )
    .min(1, "send at least one input tensor"),
  outputs: z.array(z.object({ name: z.string().min(1), parameters })).optional(),
});

/** A decoded infer request: the feeds, the outputs to return (and whether each goes as binary data), the id to echo. */
export type InferPlan = { id?: string; feeds: Record<string, TensorValue>; outputs: { name: string; binary: boolean }[] };

/** The name of the header that gives the JSON part's length when binary tensor data follows it. */
export const HEADER_LENGTH = "Inference-Header-Content-Length";

/**
 * Split a request body into its JSON part and the binary data after it (`headerLength` from HEADER_LENGTH, absent when
 * the whole body is JSON). Throws BadRequestError (400) for a bad length or JSON that does not parse, UnprocessableError (422)
 * for JSON nested deeper than MAX_JSON_DEPTH (checked before parsing).
 */
export function splitBody(bytes: Uint8Array, headerLength: string | undefined): { json: unknown; binary: Uint8Array } {
  let n = bytes.length;
  if (headerLength !== undefined) {
    n = Number(headerLength);
    if (!Number.isInteger(n) || n < 0 || n > bytes.length)
      throw new BadRequestError(`${HEADER_LENGTH} is ${headerLength}, but the body has ${bytes.length} bytes`);
  }
  const text = new TextDecoder().decode(bytes.subarray(0, n));
  refuseDeepJson(text, "the inference request");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BadRequestError("the inference request is not valid JSON");
  }
  return { json, binary: bytes.subarray(n) };
}

/**
 * Check an infer request against the model and decode its tensors. Throws BadRequestError (400) for a request that is
 * not an inference request object, UnprocessableError (422) for inputs or outputs the model does not have or tensors that
 * do not fit, PayloadTooLargeError (413) for too many rows.
 */
export function decodeInferRequest(body: unknown, binary: Uint8Array, signature: ModelSignature, limits: InputLimits): InferPlan {
  const parsed = inferRequest.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message));
    throw new BadRequestError(`not an inference request: ${problems.join("; ")}`, { problems });
  }
  const req = parsed.data;
  const feeds: Record<string, TensorValue> = {};
  let offset = 0;
  req.inputs.forEach((input, i) => {
    const where = `inputs[${i}] ("${input.name}")`;
    const spec = signature.inputs.find((s) => s.name === input.name);
    if (!spec) throw new UnprocessableError(`the model has no input "${input.name}"; its inputs are ${signature.inputs.map(describeInput).join(", ")}`);
    if (input.name in feeds) throw new BadRequestError(`input "${input.name}" is given twice`);
    if (input.parameters?.shared_memory_region !== undefined)
      throw new BadRequestError(`${where}: shared memory is not supported; send the data in the request`);
    const type = fromOipDatatype(input.datatype);
    if (!type) throw new BadRequestError(`${where}: unknown or unsupported datatype ${input.datatype}`);
    if (type !== spec.type) {
      throw new UnprocessableError(`${where} is ${input.datatype}, but the model's input ${describeInput(spec)} takes ${oipDatatype(spec.type)}`, {
        input: spec.name,
        expected: { datatype: oipDatatype(spec.type) },
        got: { datatype: input.datatype },
      });
    }
    const size = input.parameters?.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== "number" || !Number.isInteger(size) || size < 0 || offset + size > binary.length) {
        throw new BadRequestError(
          `${where}: binary_data_size ${String(size)} does not fit the ${binary.length - offset} bytes of binary data left in the body`,
        );
      }
      feeds[spec.name] = binaryTensor(spec, binary.subarray(offset, offset + size), input.shape, where, limits);
      offset += size;
    } else {
      if (input.data === undefined) throw new BadRequestError(`${where} has no data (and no binary_data_size)`);
      feeds[spec.name] = flatTensor(spec, input.data, input.shape, where, limits);
    }
  });
  if (offset !== binary.length) throw new BadRequestError(`the body has ${binary.length - offset} bytes of binary data that no input claims`);
  const missing = signature.inputs.filter((s) => !(s.name in feeds));
  if (missing.length)
    throw new UnprocessableError(`missing input${missing.length > 1 ? "s" : ""} ${missing.map(describeInput).join(", ")}`, {
      expected_inputs: signature.inputs.map((s) => s.name),
    });
  checkSameBatch(signature, feeds);

  const binaryDefault = req.parameters?.binary_data_output === true;
  const available = signature.outputs.filter((o) => o.type !== "non-tensor").map((o) => o.name);
  const outputs = (req.outputs ?? available.map((name) => ({ name, parameters: undefined }))).map((o) => {
    if (!available.includes(o.name)) throw new UnprocessableError(`the model has no output "${o.name}"; its outputs are ${available.join(", ")}`);
    if (o.parameters?.classification !== undefined) throw new BadRequestError(`output "${o.name}": the classification extension is not supported`);
    if (o.parameters?.shared_memory_region !== undefined) throw new BadRequestError(`output "${o.name}": shared memory is not supported`);
    const b = o.parameters?.binary_data;
    return { name: o.name, binary: typeof b === "boolean" ? b : binaryDefault };
  });
  return { id: req.id, feeds, outputs };
}

/**
 * The infer response for `plan`: a JSON string, or, when any output goes as binary data, JSON followed by the bytes
 * with `headerLength` set to the JSON part's length.
 */
export function encodeInferResponse(
  head: { model_name: string; model_version: string; id?: string },
  plan: InferPlan,
  outputs: Outputs,
): { body: string | Uint8Array; headerLength?: number } {
  const json = outputTensors(
    outputs,
    plan.outputs.filter((o) => !o.binary).map((o) => o.name),
  );
  const chunks: Uint8Array[] = [];
  const tensors = plan.outputs.map((o) => {
    if (!o.binary) return json.find((t) => t.name === o.name)!;
    const t = outputs[o.name]!;
    const bytes = toBytes(t.data);
    chunks.push(bytes);
    return { name: o.name, datatype: oipDatatype(t.type), shape: [...t.dims], parameters: { binary_data_size: bytes.length } };
  });
  const text = JSON.stringify({
    model_name: head.model_name,
    model_version: head.model_version,
    ...(head.id !== undefined && { id: head.id }),
    outputs: tensors,
  });
  if (!chunks.length) return { body: text };
  const header = new TextEncoder().encode(text);
  const body = new Uint8Array(header.length + chunks.reduce((a, c) => a + c.length, 0));
  body.set(header, 0);
  let at = header.length;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  return { body, headerLength: header.length };
}

// Typed arrays are little-endian on every platform this server is built for (x64, arm64).
function toBytes(data: unknown): Uint8Array {
  if (Array.isArray(data)) {
    const encoder = new TextEncoder();
    const parts = data.map((s) => encoder.encode(String(s)));
    const out = new Uint8Array(parts.reduce((a, p) => a + 4 + p.length, 0));
    const view = new DataView(out.buffer);
    let at = 0;
    for (const p of parts) {
      view.setUint32(at, p.length, true);
      out.set(p, at + 4);
      at += 4 + p.length;
    }
    return out;
  }
  const v = data as ArrayBufferView;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
