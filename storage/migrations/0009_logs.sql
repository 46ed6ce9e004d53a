-- depends: 0008_triage
-- OTLP log records (and the events OpenTelemetry sends as log records), kept whole: the
-- records of one trace, resource, scope and day that came in one request, their protobufs
-- compressed together as one zstd frame (storage/codec.py), like span blocks. A block
-- re-delivered as it was is stored once (its content hash is in its key); a record re-sent in
-- another block is read once (readers drop identical records).
CREATE SEQUENCE log_block_ids;
CREATE TABLE log_records (
    project_id    integer NOT NULL,
    trace_id      bytea NOT NULL,           -- 16 zero bytes for records without a trace
    content_hash  bigint NOT NULL,          -- of the block's uncompressed records
    time_ns       bigint NOT NULL,          -- the earliest record's time (else observed time)
    block_id      bigint NOT NULL DEFAULT nextval('log_block_ids'),  -- arrival order
    resource_id   bigint NOT NULL,
    scope_id      bigint NOT NULL,
    record_count  integer NOT NULL,
    span_ids      bytea NOT NULL,           -- each record's span id, 8 bytes (zeros: none)
    records       bytea NOT NULL,           -- the records' protobufs as received (codec.py)
    PRIMARY KEY (project_id, trace_id, content_hash, time_ns)
);
ALTER TABLE log_records ALTER COLUMN records SET STORAGE EXTERNAL;
CREATE INDEX log_records_by_age ON log_records (time_ns);
