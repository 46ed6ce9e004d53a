-- depends: 0016_search_document
-- The start and nesting of a session's first run (the run first_trace_id/first_span_id name),
-- so that the deriver can tell whether a new run comes before it without reading the
-- session's other runs (storage/session_rollup.py): a session is updated from the runs a
-- batch changes, not recomputed from all of its runs at every batch. NULL (a row of a
-- recomputation before this migration whose run is gone) makes the next change recompute it.
ALTER TABLE sessions ADD COLUMN first_start_ns bigint;
ALTER TABLE sessions ADD COLUMN first_nested boolean;

-- Backfill from the runs already stored.
UPDATE sessions s SET first_start_ns = r.start_ns, first_nested = r.parent_span_id IS NOT NULL
FROM runs r
WHERE r.project_id = s.project_id AND r.trace_id = s.first_trace_id
  AND r.span_id = s.first_span_id;
