-- depends: 0003_api_keys
-- transactional: false
-- Retention finds traces by the end time of their spans, oldest first. Built CONCURRENTLY so
-- that ingest goes on while an existing spans table is indexed; a build that failed half-way
-- leaves an invalid index, which is dropped and built again.

DROP INDEX CONCURRENTLY IF EXISTS spans_end_ns;
CREATE INDEX CONCURRENTLY spans_end_ns ON spans (end_ns);
