-- depends: 0005_partitioned_layout
-- Search over runs (docs/search.md): one row per run with its attributes and a bounded text
-- document, written by the deriver (storage/search_index.py), partitioned like runs by the
-- day of the run's start, so retention drops it with the run.
--
-- attributes: {key: [value, ...]} of the run's agent span and its steps' spans; a GIN index
--   (jsonb_ops: key existence `?`, containment `@>` and jsonpath `@?` all use it).
-- body: the run's and its steps' inputs, outputs and errors (mapping/search_document.py);
--   folded: the same in lower case, character for character; words: its 'simple'
--   tsvector without positions.
--   Substring matching (LIKE on folded) uses a trigram index, ranking reads words.
-- segments: [[offset, span id (hex), name, field], ...]: which step each piece of body is.
-- The GIN indexes keep pending lists of 256 kB (not 4 MB): every search reads them whole, in
-- each day partition, until they are merged (when full, and by (auto)vacuum).
CREATE TABLE run_search (
    trace_id    bytea NOT NULL,
    project_id  integer NOT NULL,
    span_id     bytea NOT NULL,
    start_ns    bigint NOT NULL,
    digest      bytea NOT NULL,          -- of the content: a derivation rewrites changed rows only
    attributes  jsonb NOT NULL,
    body        text NOT NULL,
    folded      text NOT NULL,
    words       tsvector NOT NULL,
    segments    jsonb NOT NULL,
    PRIMARY KEY (trace_id, project_id, span_id, start_ns)
) PARTITION BY RANGE (start_ns);
CREATE TABLE run_search_default PARTITION OF run_search DEFAULT;
CREATE INDEX run_search_attributes ON run_search USING gin (attributes)
    WITH (gin_pending_list_limit = 256);
-- words has no index: it scores the runs the other conditions found (ts_rank reads the column).
-- Newest first: a word found in most runs is searched by walking the rows in this order.
CREATE INDEX run_search_start ON run_search (start_ns, trace_id, span_id);

-- The trigram index where the server has pg_trgm (PostgreSQL's contrib package; the embedded
-- PostgreSQL of `pip install` has not): without it, substring matching reads every search row
-- of the time window. Installed later, docs/search.md says how to add the index.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX run_search_folded ON run_search USING gin (folded gin_trgm_ops)
            WITH (gin_pending_list_limit = 256);
    ELSE
        RAISE NOTICE 'pg_trgm is not available: text search works without a trigram index';
    END IF;
END $$;

DO $$
BEGIN
    ALTER TABLE run_search ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE run_search ALTER COLUMN folded SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: search documents use pglz';
END $$;
