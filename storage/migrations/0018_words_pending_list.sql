-- depends: 0017_session_first_run
-- The words index of each run_search partition keeps a pending list of up to 4 MB instead of
-- 256 kB (docs/search.md): inserting a run's words costs about 40% less. A partitioned index
-- takes no storage parameter of its own, so the partitions' indexes are set one by one here,
-- and storage/partitions.py sets those of partitions attached later
-- (PARTITION_INDEX_OPTIONS); run_search_words itself still shows 256.
DO $$
DECLARE
    index_name text;
BEGIN
    FOR index_name IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'run_search_words'::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I SET (gin_pending_list_limit = 4096)', index_name);
    END LOOP;
END $$;
