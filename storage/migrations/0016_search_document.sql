-- depends: 0015_partition_compactions
-- A run's search document (its body and segments, docs/search.md) is stored as one zstd frame
-- made by the deriver (storage/search_index.py): the JSON array [body, segments]. It is read
-- only to cut the snippets of the runs a search returns, never searched in SQL (the words
-- column is what the index holds). On bench_query's documents it takes 2.3 kB a run, against
-- 3.1 kB for the body (lz4) and 0.45 kB for the segments (jsonb) before. EXTERNAL: a zstd
-- frame does not compress again, so the server does not try.
-- Rows written before keep body and segments (document NULL) until their trace is derived
-- again (`agentguide rederive`).
ALTER TABLE run_search ADD COLUMN document bytea;
ALTER TABLE run_search ALTER COLUMN document SET STORAGE EXTERNAL;
ALTER TABLE run_search ALTER COLUMN body DROP NOT NULL;
ALTER TABLE run_search ALTER COLUMN segments DROP NOT NULL;
