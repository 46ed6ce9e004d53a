-- depends: 0005_partitioned_layout
-- Triage: the failure signatures' registry, the queue of runs to embed for "similar runs",
-- and alert rules with their notifications and delivery log.
--
-- The embeddings themselves need pgvector, which not every PostgreSQL has: their table is
-- created at run time when the extension can be (storage/run_embeddings.py), never here.

-- What each failure signature id stands for (runs and rollup_errors keep only the id). Kept by
-- the deriver (storage/signature_registry.py); a signature's parts never change, so a row is
-- written once.
CREATE TABLE failure_signatures (
    project_id        integer NOT NULL,
    signature         text NOT NULL,
    kind              text NOT NULL,            -- the failing step's kind, or 'run'
    name              text NOT NULL,            -- tool name, model or step name; '' for 'run'
    error_type        text NOT NULL,
    message_template  text NOT NULL,
    first_agent       text NOT NULL,            -- the agent it was first seen under
    registered_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, signature)
);

-- A signature's failures over all time (run detail: "N other runs failed the same way").
CREATE INDEX rollup_errors_signature ON rollup_errors (project_id, signature, level);

-- Finished runs whose embedding is to be computed again (or dropped, when the run is gone).
-- The deriver inserts in its transaction; the embedding worker deletes what it has done.
CREATE TABLE embed_queue (
    project_id  integer NOT NULL,
    trace_id    bytea NOT NULL,
    span_id     bytea NOT NULL,
    start_ns    bigint NOT NULL,              -- the run's start: its partition
    queued_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (project_id, trace_id, span_id)
);
CREATE INDEX embed_queue_order ON embed_queue (queued_at);

-- Alert rules, per project: the spec as written (agentguide/alerts/rules.py), the signing
-- secret, and the state the evaluator keeps between evaluations.
CREATE TABLE alert_rules (
    id            text PRIMARY KEY,
    project_id    integer NOT NULL REFERENCES projects (id),
    spec          jsonb NOT NULL,
    secret        text NOT NULL,
    state         jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    evaluated_at  timestamptz
);
CREATE INDEX alert_rules_project ON alert_rules (project_id, created_at);

-- Notifications to deliver: one row per rule transition (its key is unique, so evaluating the
-- same transition twice queues one message). Delivered rows are never sent again.
CREATE TABLE alert_deliveries (
    message_id        text PRIMARY KEY,         -- webhook-id, the same on every attempt
    notification_key  text NOT NULL UNIQUE,     -- <rule id>/<episode>/<event>
    project_id        integer NOT NULL,
    rule_id           text NOT NULL,
    event             text NOT NULL,            -- firing or resolved
    url               text NOT NULL,
    body              bytea NOT NULL,           -- the exact bytes signed and POSTed
    status            text NOT NULL DEFAULT 'pending',  -- pending, delivered, failed, cancelled
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    last_error        text
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_rule ON alert_deliveries (rule_id, created_at DESC);

-- The delivery log: every attempt and what came of it.
CREATE TABLE alert_delivery_attempts (
    message_id        text NOT NULL REFERENCES alert_deliveries (message_id) ON DELETE CASCADE,
    attempt           integer NOT NULL,
    started_at        timestamptz NOT NULL,
    duration_ms       double precision NOT NULL,
    outcome           text NOT NULL,            -- delivered, retrying, failed
    status_code       integer,
    error             text,
    retry_in_seconds  double precision,
    response_excerpt  text,
    PRIMARY KEY (message_id, attempt)
);
