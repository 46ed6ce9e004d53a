-- depends: 0004_retention_index
-- The wave-2 layout: raw spans and derived rows partitioned by day, slim derived rows (ids as
-- bytes, payload previews instead of copies), a trace registry for the deriver, a quarantine
-- for traces that cannot be derived, and rollups for the dashboards.
--
-- Raw spans move over as they are (old rows stay uncompressed; new ones are zstd frames, and
-- readers tell them apart by the frame's magic number). Derived rows are not moved: every
-- stored trace is queued for a background re-derivation, which rebuilds them.

-- Resources and scopes: keyed by a 64-bit content hash (the first 8 bytes of the 16 ingest
-- computes), half the size in every span row.
CREATE TABLE resources_v2 (
    project_id   integer NOT NULL,
    resource_id  bigint NOT NULL,
    resource     bytea NOT NULL,
    schema_url   text NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, resource_id)
);
INSERT INTO resources_v2 (project_id, resource_id, resource, schema_url)
SELECT project_id, ('x' || encode(substring(resource_hash FROM 1 FOR 8), 'hex'))::bit(64)::bigint,
       resource, schema_url
FROM resources
ON CONFLICT DO NOTHING;
DROP TABLE resources;
ALTER TABLE resources_v2 RENAME TO resources;
ALTER INDEX resources_v2_pkey RENAME TO resources_pkey;

CREATE TABLE scopes_v2 (
    project_id  integer NOT NULL,
    scope_id    bigint NOT NULL,
    scope       bytea NOT NULL,
    schema_url  text NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, scope_id)
);
INSERT INTO scopes_v2 (project_id, scope_id, scope, schema_url)
SELECT project_id, ('x' || encode(substring(scope_hash FROM 1 FOR 8), 'hex'))::bit(64)::bigint,
       scope, schema_url
FROM scopes
ON CONFLICT DO NOTHING;
DROP TABLE scopes;
ALTER TABLE scopes_v2 RENAME TO scopes;
ALTER INDEX scopes_v2_pkey RENAME TO scopes_pkey;

-- Raw spans, partitioned by the day of their start time (storage/partitions.py creates the
-- day partitions; a span of a day without one waits in the default partition).
CREATE TABLE spans_v2 (
    trace_id     bytea NOT NULL,
    project_id   integer NOT NULL,
    span_id      bytea NOT NULL,
    start_ns     bigint NOT NULL,
    resource_id  bigint NOT NULL,
    scope_id     bigint NOT NULL,
    span         bytea NOT NULL,    -- the span's protobuf as received; a zstd frame when compressed
    PRIMARY KEY (trace_id, project_id, span_id, start_ns)
) PARTITION BY RANGE (start_ns);
CREATE TABLE spans_default PARTITION OF spans_v2 DEFAULT;

INSERT INTO spans_v2 (trace_id, project_id, span_id, start_ns, resource_id, scope_id, span)
SELECT trace_id, project_id, span_id, start_ns,
       ('x' || encode(substring(resource_hash FROM 1 FOR 8), 'hex'))::bit(64)::bigint,
       ('x' || encode(substring(scope_hash FROM 1 FOR 8), 'hex'))::bit(64)::bigint,
       span
FROM spans;

-- Traces whose spans changed since they were last derived. Ingest only inserts (one row per
-- trace and request, with the start times of the spans it wrote), the deriver only deletes.
CREATE TABLE dirty_traces_v2 (
    trace_id    bytea NOT NULL,
    project_id  integer NOT NULL,
    from_ns     bigint NOT NULL,            -- earliest start time of the spans written
    to_ns       bigint NOT NULL,            -- latest start time of the spans written
    spans       integer NOT NULL DEFAULT 0, -- how many (the deriver's batches are sized by it)
    background  boolean NOT NULL DEFAULT false,  -- a re-derivation: after live traffic
    marked_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX dirty_traces_claim ON dirty_traces_v2 (background, marked_at);
CREATE INDEX dirty_traces_trace ON dirty_traces_v2 (trace_id, project_id);

INSERT INTO dirty_traces_v2 (trace_id, project_id, from_ns, to_ns, spans, background)
SELECT trace_id, project_id, min(start_ns), max(start_ns), count(*), true
FROM spans GROUP BY trace_id, project_id;

DROP TABLE dirty_traces;
ALTER TABLE dirty_traces_v2 RENAME TO dirty_traces;
DROP TABLE spans;
ALTER TABLE spans_v2 RENAME TO spans;
ALTER INDEX spans_v2_pkey RENAME TO spans_pkey;

DROP TABLE runs, steps, artifacts, run_metrics;

-- One row per derived trace: what the deriver must know to derive it again cheaply.
CREATE TABLE traces (
    trace_id         bytea NOT NULL,
    project_id       integer NOT NULL,
    derive_version   bigint NOT NULL,         -- bumped by every derivation of the trace
    mapping_version  integer NOT NULL,        -- the mapping that derived its rows
    spans_from_ns    bigint NOT NULL,         -- start times of its stored spans: which
    spans_to_ns      bigint NOT NULL,         --   span partitions to read
    rows_from_ns     bigint,                  -- partition keys of its derived rows
    rows_to_ns       bigint,
    span_count       integer NOT NULL,
    derived_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trace_id, project_id)
);
CREATE INDEX traces_mapping_version ON traces (mapping_version);
CREATE INDEX traces_spans_from ON traces (spans_from_ns);

-- Traces the deriver could not derive, with why; retried with backoff, and at once when a
-- new span of theirs arrives.
CREATE TABLE derive_quarantine (
    trace_id         bytea NOT NULL,
    project_id       integer NOT NULL,
    error            text NOT NULL,
    first_failed_at  timestamptz NOT NULL DEFAULT now(),
    last_failed_at   timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 1,
    retry_at         timestamptz NOT NULL,
    from_ns          bigint NOT NULL,
    to_ns            bigint NOT NULL,
    PRIMARY KEY (trace_id, project_id)
);
CREATE INDEX derive_quarantine_retry ON derive_quarantine (retry_at);

-- Runs, partitioned by the day of their start. Ids are the bytes of the trace and span id
-- (the API's run id is their hex); payloads are previews: the whole value is in the raw span.
CREATE TABLE runs (
    trace_id            bytea NOT NULL,
    project_id          integer NOT NULL,
    span_id             bytea NOT NULL,
    start_ns            bigint NOT NULL,
    end_ns              bigint,
    duration_ms         double precision,
    parent_span_id      bytea,                -- the parent run's span id
    name                text NOT NULL,
    agent_name          text NOT NULL,
    agent_id            text,
    agent_version       text,
    status              text NOT NULL,
    input               text,
    input_truncated     boolean NOT NULL DEFAULT false,
    output              text,
    output_truncated    boolean NOT NULL DEFAULT false,
    error_type          text,
    error_message       text,
    models              text[] NOT NULL DEFAULT '{}',
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    total_tokens        bigint NOT NULL DEFAULT 0,
    cache_read_tokens   bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    reasoning_tokens    bigint NOT NULL DEFAULT 0,
    cost                double precision,
    unpriced_calls      integer NOT NULL DEFAULT 0,
    step_count          integer NOT NULL DEFAULT 0,
    tool_call_count     integer NOT NULL DEFAULT 0,
    llm_call_count      integer NOT NULL DEFAULT 0,
    failed_step_count   integer NOT NULL DEFAULT 0,
    orphan_span_count   integer NOT NULL DEFAULT 0,
    session_id          text,
    user_id             text,
    service_name        text,
    handoff_from_agent  text,
    signature           text,                 -- failure signature of a failed run
    truncated_fields    text[],               -- identifiers cut to fit an index
    extra               jsonb,                -- per-run metrics beyond the columns
    mapping_version     integer NOT NULL,
    PRIMARY KEY (trace_id, project_id, span_id, start_ns)
) PARTITION BY RANGE (start_ns);
CREATE TABLE runs_default PARTITION OF runs DEFAULT;
CREATE INDEX runs_project_start ON runs (project_id, start_ns DESC, trace_id DESC, span_id DESC);
CREATE INDEX runs_project_agent_start
    ON runs (project_id, agent_name, start_ns DESC, trace_id DESC, span_id DESC);
CREATE INDEX runs_project_status_start
    ON runs (project_id, status, start_ns DESC, trace_id DESC, span_id DESC);
CREATE INDEX runs_session ON runs (project_id, session_id, start_ns) WHERE session_id IS NOT NULL;
CREATE INDEX runs_user ON runs (project_id, user_id, start_ns) WHERE user_id IS NOT NULL;
CREATE INDEX runs_project_duration ON runs (project_id, duration_ms);
CREATE INDEX runs_failed_signature ON runs (project_id, signature, start_ns)
    WHERE signature IS NOT NULL;

-- Steps, partitioned with their run (by the run's start), so a run's steps are one partition.
CREATE TABLE steps (
    trace_id            bytea NOT NULL,
    project_id          integer NOT NULL,
    run_start_ns        bigint NOT NULL,
    span_id             bytea NOT NULL,
    run_span_id         bytea NOT NULL,
    step_index          integer NOT NULL,
    kind                text NOT NULL,
    name                text NOT NULL,
    tool_name           text,
    model               text,
    agent_name          text,                 -- the agent an agent step called
    status              text NOT NULL,
    input               text,
    input_truncated     boolean NOT NULL DEFAULT false,
    output              text,
    output_truncated    boolean NOT NULL DEFAULT false,
    error_type          text,
    error_message       text,
    start_ns            bigint NOT NULL,
    end_ns              bigint,
    duration_ms         double precision,
    input_tokens        bigint,
    output_tokens       bigint,
    total_tokens        bigint,
    cache_read_tokens   bigint,
    cache_write_tokens  bigint,
    reasoning_tokens    bigint,
    cost                double precision,
    cost_source         text,
    parent_span_id      bytea,                -- the parent step's span id
    child_run_span_id   bytea,                -- the run an agent step invoked
    truncated_fields    text[],
    PRIMARY KEY (trace_id, project_id, span_id, run_start_ns)
) PARTITION BY RANGE (run_start_ns);
CREATE TABLE steps_default PARTITION OF steps DEFAULT;
CREATE INDEX steps_run ON steps (trace_id, project_id, run_span_id, step_index);
CREATE INDEX steps_tool_runs ON steps (project_id, tool_name, run_start_ns DESC, trace_id DESC,
                                       run_span_id DESC)
    WHERE tool_name IS NOT NULL;

-- Payload columns compress with lz4 where the server has it (pglz otherwise).
DO $$
BEGIN
    ALTER TABLE runs ALTER COLUMN input SET COMPRESSION lz4;
    ALTER TABLE runs ALTER COLUMN output SET COMPRESSION lz4;
    ALTER TABLE steps ALTER COLUMN input SET COMPRESSION lz4;
    ALTER TABLE steps ALTER COLUMN output SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: payloads use pglz';
END $$;

-- Rollups kept by the deriver in the same transaction as the rows they sum: per level
-- (0 minute, 1 hour, 2 day), bucket start and key. Durations are sparse log-scale histograms
-- (storage/sketch.py): hist_keys are bucket indexes, hist_counts their counts.
CREATE TABLE rollup_runs (
    project_id          integer NOT NULL,
    level               smallint NOT NULL,
    bucket_ns           bigint NOT NULL,
    agent_name          text NOT NULL,
    runs                bigint NOT NULL DEFAULT 0,
    pending             bigint NOT NULL DEFAULT 0,
    running             bigint NOT NULL DEFAULT 0,
    succeeded           bigint NOT NULL DEFAULT 0,
    failed              bigint NOT NULL DEFAULT 0,
    cancelled           bigint NOT NULL DEFAULT 0,
    with_error          bigint NOT NULL DEFAULT 0,   -- failed, or with a failed step
    durations           bigint NOT NULL DEFAULT 0,   -- runs with a duration
    duration_sum_ms     double precision NOT NULL DEFAULT 0,
    duration_keys       smallint[] NOT NULL DEFAULT '{}',
    duration_counts     bigint[] NOT NULL DEFAULT '{}',
    steps               bigint NOT NULL DEFAULT 0,
    step_keys           smallint[] NOT NULL DEFAULT '{}',
    step_counts         bigint[] NOT NULL DEFAULT '{}',
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    total_tokens        bigint NOT NULL DEFAULT 0,
    cache_read_tokens   bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    reasoning_tokens    bigint NOT NULL DEFAULT 0,
    cost                double precision NOT NULL DEFAULT 0,
    priced_runs         bigint NOT NULL DEFAULT 0,
    unpriced_calls      bigint NOT NULL DEFAULT 0,
    last_start_ns       bigint,
    PRIMARY KEY (project_id, level, bucket_ns, agent_name)
);

CREATE TABLE rollup_tools (
    project_id          integer NOT NULL,
    level               smallint NOT NULL,
    bucket_ns           bigint NOT NULL,
    agent_name          text NOT NULL,
    tool_name           text NOT NULL,
    calls               bigint NOT NULL DEFAULT 0,
    failures            bigint NOT NULL DEFAULT 0,
    durations           bigint NOT NULL DEFAULT 0,
    duration_sum_ms     double precision NOT NULL DEFAULT 0,
    duration_keys       smallint[] NOT NULL DEFAULT '{}',
    duration_counts     bigint[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (project_id, level, bucket_ns, agent_name, tool_name)
);

CREATE TABLE rollup_models (
    project_id          integer NOT NULL,
    level               smallint NOT NULL,
    bucket_ns           bigint NOT NULL,
    agent_name          text NOT NULL,
    model               text NOT NULL,
    calls               bigint NOT NULL DEFAULT 0,
    failures            bigint NOT NULL DEFAULT 0,
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    total_tokens        bigint NOT NULL DEFAULT 0,
    cache_read_tokens   bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    reasoning_tokens    bigint NOT NULL DEFAULT 0,
    cost                double precision NOT NULL DEFAULT 0,
    unpriced_calls      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, level, bucket_ns, agent_name, model)
);

-- Failed runs by error: the summary's most frequent errors and the failure signatures.
CREATE TABLE rollup_errors (
    project_id          integer NOT NULL,
    level               smallint NOT NULL,
    bucket_ns           bigint NOT NULL,
    agent_name          text NOT NULL,
    signature           text NOT NULL,
    error_type          text,
    error_message       text,
    failures            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, level, bucket_ns, agent_name, signature)
);

-- Merge two sparse histograms (sorted bucket indexes with counts): the counts of equal
-- indexes add, and buckets whose count drops to 0 go.
CREATE FUNCTION agentguide_hist_merge(
    keys_a smallint[], counts_a bigint[], keys_b smallint[], counts_b bigint[],
    OUT keys smallint[], OUT counts bigint[]
) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(k ORDER BY k), '{}'), coalesce(array_agg(c ORDER BY k), '{}')
    FROM (
        SELECT k, sum(c)::bigint AS c
        FROM (
            SELECT * FROM unnest(keys_a, counts_a) AS a(k, c)
            UNION ALL
            SELECT * FROM unnest(keys_b, counts_b) AS b(k, c)
        ) AS both_sides
        GROUP BY k
        HAVING sum(c) <> 0
    ) AS merged
$$;
