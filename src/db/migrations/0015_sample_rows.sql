-- Sample rows of a model version (src/models/sample-rows.ts): the first rows the joblib converter's parity check fed
-- the converted model, as JSON (at most 3 rows, 16 000 characters). They prefill the model page's "Try it" form.
-- NULL for versions pushed as ONNX and for versions stored before this column existed.
ALTER TABLE model_versions ADD COLUMN sample_rows TEXT;
