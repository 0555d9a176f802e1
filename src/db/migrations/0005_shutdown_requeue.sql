-- How many times a server's graceful stop cut this pipeline short and put it back in the queue. Only the first
-- stop re-queues it (the next start runs it again); a second one fails it as interrupted, so a notebook that
-- never gets to finish is not run for ever.
ALTER TABLE pipelines ADD COLUMN shutdown_requeues INTEGER NOT NULL DEFAULT 0;
