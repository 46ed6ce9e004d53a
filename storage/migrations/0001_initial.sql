-- The initial schema: raw spans, their resources and scopes, and the runs/steps derived from them.
-- Every span-bearing table is keyed by trace_id first, then project_id, so it can be distributed
-- on trace_id (Citus) and every row belongs to a project.

CREATE TABLE projects (
    id          integer PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projects (id, name) VALUES (1, 'default');

-- Resources and instrumentation scopes are shared by many spans: stored once, by content hash.
CREATE TABLE resources (
    project_id     integer NOT NULL,
    resource_hash  bytea NOT NULL,
    resource       bytea NOT NULL,          -- serialized opentelemetry.proto.resource.v1.Resource
    schema_url     text NOT NULL DEFAULT '',
    service_name   text,
    PRIMARY KEY (project_id, resource_hash)
);

CREATE TABLE scopes (
    project_id  integer NOT NULL,
    scope_hash  bytea NOT NULL,
    scope       bytea NOT NULL,             -- serialized InstrumentationScope
    schema_url  text NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, scope_hash)
);

CREATE TABLE spans (
    trace_id        bytea NOT NULL,
    project_id      integer NOT NULL,
    span_id         bytea NOT NULL,
    parent_span_id  bytea,                  -- NULL for a root span
    name            text NOT NULL,
    start_ns        bigint NOT NULL,
    end_ns          bigint NOT NULL,
    resource_hash   bytea NOT NULL,
    scope_hash      bytea NOT NULL,
    span            bytea NOT NULL,         -- serialized opentelemetry.proto.trace.v1.Span, as received
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (trace_id, project_id, span_id)
);
CREATE INDEX spans_received_at ON spans (received_at);

-- Traces whose spans changed since their runs and steps were last derived. Rows are only ever
-- inserted by ingest and deleted by the deriver, so ingest never waits on a lock here.
CREATE TABLE dirty_traces (
    trace_id    bytea NOT NULL,
    project_id  integer NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX dirty_traces_marked_at ON dirty_traces (marked_at);

CREATE TABLE agents (
    project_id     integer NOT NULL,
    name           text NOT NULL,
    agent_id       text,
    version        text,
    description    text,
    first_seen_ns  bigint NOT NULL,
    last_seen_ns   bigint NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE runs (
    trace_id            bytea NOT NULL,
    project_id          integer NOT NULL,
    id                  text NOT NULL,
    span_id             bytea NOT NULL,
    parent_run_id       text,
    name                text NOT NULL,
    agent_name          text NOT NULL,
    agent_id            text,
    agent_version       text,
    agent_description   text,
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
    models              text[] NOT NULL DEFAULT '{}',
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    total_tokens        bigint NOT NULL DEFAULT 0,
    step_count          integer NOT NULL DEFAULT 0,
    tool_call_count     integer NOT NULL DEFAULT 0,
    llm_call_count      integer NOT NULL DEFAULT 0,
    failed_step_count   integer NOT NULL DEFAULT 0,
    orphan_span_count   integer NOT NULL DEFAULT 0,
    session_id          text,
    user_id             text,
    service_name        text,
    handoff_from_agent  text,
    PRIMARY KEY (trace_id, project_id, id)
);
CREATE INDEX runs_project_start ON runs (project_id, start_ns DESC, id DESC);
CREATE INDEX runs_project_agent_start ON runs (project_id, agent_name, start_ns DESC, id DESC);
CREATE INDEX runs_project_status_start ON runs (project_id, status, start_ns DESC, id DESC);
CREATE INDEX runs_session ON runs (project_id, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX runs_user ON runs (project_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE steps (
    trace_id          bytea NOT NULL,
    project_id        integer NOT NULL,
    id                text NOT NULL,
    run_id            text NOT NULL,
    span_id           bytea NOT NULL,
    step_index        integer NOT NULL,
    kind              text NOT NULL,
    name              text NOT NULL,
    tool_name         text,
    model             text,
    status            text NOT NULL,
    input             text,
    input_truncated   boolean NOT NULL DEFAULT false,
    output            text,
    output_truncated  boolean NOT NULL DEFAULT false,
    error_type        text,
    error_message     text,
    start_ns          bigint NOT NULL,
    end_ns            bigint,
    duration_ms       double precision,
    input_tokens      bigint,
    output_tokens     bigint,
    total_tokens      bigint,
    parent_step_id    text,
    child_run_id      text,
    PRIMARY KEY (trace_id, project_id, id)
);
CREATE INDEX steps_run ON steps (trace_id, project_id, run_id, step_index);
CREATE INDEX steps_project_tool_start ON steps (project_id, tool_name, start_ns)
    WHERE tool_name IS NOT NULL;
CREATE INDEX steps_project_start ON steps (project_id, start_ns);

CREATE TABLE artifacts (
    trace_id    bytea NOT NULL,
    project_id  integer NOT NULL,
    id          text NOT NULL,
    run_id      text NOT NULL,
    step_id     text,
    span_id     bytea NOT NULL,
    type        text NOT NULL,
    name        text,
    content     text,
    url         text,
    time_ns     bigint,
    truncated   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (trace_id, project_id, id)
);
CREATE INDEX artifacts_run ON artifacts (trace_id, project_id, run_id);

CREATE TABLE run_metrics (
    trace_id    bytea NOT NULL,
    project_id  integer NOT NULL,
    run_id      text NOT NULL,
    name        text NOT NULL,
    value       double precision NOT NULL,
    tags        jsonb NOT NULL DEFAULT '{}',
    seq         integer NOT NULL,
    PRIMARY KEY (trace_id, project_id, run_id, seq)
);

-- Payload columns are compressed with lz4 where the server has it: several times cheaper in
-- CPU than the default pglz on ingest and on reads. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE spans ALTER COLUMN span SET COMPRESSION lz4;
    ALTER TABLE runs ALTER COLUMN input SET COMPRESSION lz4;
    ALTER TABLE runs ALTER COLUMN output SET COMPRESSION lz4;
    ALTER TABLE steps ALTER COLUMN input SET COMPRESSION lz4;
    ALTER TABLE steps ALTER COLUMN output SET COMPRESSION lz4;
    ALTER TABLE artifacts ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: payloads use pglz';
END $$;
