-- Why a job did not succeed, as data (src/db/states.ts JobFailureKind), beside the human-readable last_error.
ALTER TABLE jobs ADD COLUMN failure_kind TEXT;

-- Jobs that ended before: the kind from their reason, where it says.
UPDATE jobs SET failure_kind = CASE
    WHEN last_error LIKE 'interrupted:%' THEN 'interrupted'
    WHEN last_error LIKE 'lease expired:%' THEN 'expired'
    WHEN state = 'superseded' THEN 'superseded'
    ELSE 'error'
  END
  WHERE state IN ('failed', 'superseded') OR (state = 'queued' AND last_error IS NOT NULL);
