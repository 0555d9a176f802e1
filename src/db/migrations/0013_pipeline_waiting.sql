-- Why a queued pipeline waits (its runner cannot take it now, e.g. "waiting for Ray at …") and since when; cleared when it runs.
ALTER TABLE pipelines ADD COLUMN waiting_reason TEXT;
ALTER TABLE pipelines ADD COLUMN waiting_since TEXT;
