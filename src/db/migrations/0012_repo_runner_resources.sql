-- What a repository's notebooks ask of a Ray cluster (JSON, the shape of a notebook's mlops.resources); NULL: nothing.
ALTER TABLE repositories ADD COLUMN runner_resources TEXT;
