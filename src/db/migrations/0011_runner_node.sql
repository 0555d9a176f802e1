-- Where a pipeline's notebook ran on a cluster (Ray's node id), shown in the API and on the page.
ALTER TABLE pipelines ADD COLUMN runner_node TEXT;
