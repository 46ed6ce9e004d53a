-- depends: 0014_hist_merge
-- The day partitions compacted (storage/compaction.py): their B-tree indexes rebuilt by
-- REINDEX INDEX CONCURRENTLY, then VACUUM (ANALYZE), once their day is over. A partition is
-- compacted again when the rows written to it since (writes_then against pg_stat_user_tables)
-- pass a tenth of rows_then. A row whose partition no longer exists is deleted by the next
-- pass; relid tells a partition dropped and made again under the same name from the one
-- compacted.
CREATE TABLE partition_compactions (
    name          text PRIMARY KEY,     -- e.g. runs_d20261127
    relid         oid NOT NULL,         -- the partition's table when it was compacted
    compacted_at  timestamptz NOT NULL,
    rows_then     bigint NOT NULL,      -- pg_class.reltuples after the VACUUM
    writes_then   bigint NOT NULL       -- n_tup_ins + n_tup_upd + n_tup_del after the VACUUM
);
