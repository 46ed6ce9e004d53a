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

-- Users: per (project, user id) the sums of the runs carrying that user id, kept by the deriver
-- as differences (storage/user_rollup.py): every run counted once, added when it appears,
-- taken away when it goes (re-derivation, retention). first_ns / last_ns are the earliest and
-- latest run start, read back from runs_user after each change.
CREATE TABLE users (
    project_id        integer NOT NULL,
    user_id           text NOT NULL,
    run_count         bigint NOT NULL,
    failed_run_count  bigint NOT NULL,
    input_tokens      bigint NOT NULL,
    output_tokens     bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    cost              double precision NOT NULL,  -- USD over its priced runs
    priced_run_count  bigint NOT NULL,            -- runs with a cost (none: cost is unknown)
    first_ns          bigint,
    last_ns           bigint,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX users_project_last ON users (project_id, last_ns DESC, user_id DESC);
-- the agents of a user's runs, with how many runs each
CREATE TABLE user_agents (
    project_id  integer NOT NULL,
    user_id     text NOT NULL,
    agent_name  text NOT NULL,
    run_count   bigint NOT NULL,
    PRIMARY KEY (project_id, user_id, agent_name)
);
CREATE INDEX user_agents_agent ON user_agents (project_id, agent_name, user_id);

-- Backfill from the runs already stored (the deriver keeps the tables from here on).
INSERT INTO sessions (project_id, session_id, user_id, run_count, failed_run_count,
                      running_count, first_ns, last_ns, input_tokens, output_tokens,
                      total_tokens, cost, agent_names, first_input, first_trace_id,
                      first_span_id)
SELECT project_id, session_id,
       (array_agg(user_id ORDER BY start_ns, trace_id, span_id)
            FILTER (WHERE user_id IS NOT NULL))[1],
       count(*), count(*) FILTER (WHERE status = 'FAILED'),
       count(*) FILTER (WHERE status IN ('PENDING', 'RUNNING')),
       min(start_ns), max(greatest(start_ns, coalesce(end_ns, start_ns))),
       sum(input_tokens), sum(output_tokens), sum(total_tokens), sum(cost),
       array_agg(DISTINCT agent_name ORDER BY agent_name),
       max(input) FILTER (WHERE turn = 1),
       (array_agg(trace_id) FILTER (WHERE turn = 1))[1],
       (array_agg(span_id) FILTER (WHERE turn = 1))[1]
FROM (
    SELECT r.*, row_number() OVER (
        PARTITION BY r.project_id, r.session_id
        ORDER BY (r.parent_span_id IS NOT NULL), r.start_ns, r.trace_id, r.span_id
    ) AS turn
    FROM runs r WHERE r.session_id IS NOT NULL
) AS ranked
GROUP BY project_id, session_id;

INSERT INTO users (project_id, user_id, run_count, failed_run_count, input_tokens,
                   output_tokens, total_tokens, cost, priced_run_count, first_ns, last_ns)
SELECT project_id, user_id, count(*), count(*) FILTER (WHERE status = 'FAILED'),
       sum(input_tokens), sum(output_tokens), sum(total_tokens), coalesce(sum(cost), 0),
       count(cost), min(start_ns), max(start_ns)
FROM runs WHERE user_id IS NOT NULL
GROUP BY project_id, user_id;

INSERT INTO user_agents (project_id, user_id, agent_name, run_count)
SELECT project_id, user_id, agent_name, count(*)
FROM runs WHERE user_id IS NOT NULL
GROUP BY project_id, user_id, agent_name;
