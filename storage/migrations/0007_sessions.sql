-- depends: 0005_partitioned_layout
-- Sessions: one row per (project, session id) summing the runs that carry that session id,
-- recomputed by the deriver, in the transaction that writes the runs, for every session whose
-- runs changed (storage/session_rollup.py). GET /v1/sessions pages this table instead of
-- grouping every run of a project; a session's own runs are read through runs_session
-- (project_id, session_id, start_ns), created by 0005.
CREATE TABLE sessions (
    project_id        integer NOT NULL,
    session_id        text NOT NULL,
    user_id           text,                      -- of the earliest run that names one
    run_count         integer NOT NULL,
    failed_run_count  integer NOT NULL,          -- runs with status FAILED
    running_count     integer NOT NULL,          -- runs still PENDING or RUNNING
    first_ns          bigint NOT NULL,           -- the earliest run's start
    last_ns           bigint NOT NULL,           -- the latest run end (or start, if open)
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    cost              double precision,          -- USD; NULL when no run is priced
    agent_names       text[] NOT NULL,           -- the distinct agents of its runs, sorted
    first_input       text,                      -- the first top-level run's input preview
    first_trace_id    bytea NOT NULL,            -- that run
    first_span_id     bytea NOT NULL,
    PRIMARY KEY (project_id, session_id)
);
-- newest activity first, keyset-paged by (last_ns, session_id)
CREATE INDEX sessions_project_last ON sessions (project_id, last_ns DESC, session_id DESC);
CREATE INDEX sessions_project_user_last
    ON sessions (project_id, user_id, last_ns DESC, session_id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_agent_names ON sessions USING gin (agent_names);
