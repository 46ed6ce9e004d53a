-- depends: 0008_triage
-- Scores: judgements on a run or on one of its steps. Two sources share the table:
--   'api'   posted over REST by an evaluator that doesn't speak OpenTelemetry; primary data,
--           never touched by derivation;
--   'event' a gen_ai.evaluation.result event (a log record or a span event) of the trace;
--           derived: the deriver replaces a trace's 'event' scores each time it derives it.
-- run_start_ns is the run's start, so that retention forgets a run's scores with the run.
CREATE TABLE scores (
    score_id      bigserial NOT NULL,
    project_id    integer NOT NULL,
    trace_id      bytea NOT NULL,
    run_span_id   bytea NOT NULL,              -- the run the score belongs to
    span_id       bytea NOT NULL,              -- the run's or the step's span it is on
    run_start_ns  bigint NOT NULL,
    name          text NOT NULL,               -- gen_ai.evaluation.name (bounded like identifiers)
    value         double precision,            -- gen_ai.evaluation.score.value
    label         text,                        -- gen_ai.evaluation.score.label
    explanation   text,                        -- gen_ai.evaluation.explanation
    error_type    text,                        -- the evaluation itself failed
    source        text NOT NULL CHECK (source IN ('api', 'event')),
    observed_ns   bigint NOT NULL,             -- when the judgement was made (event time or POST)
    PRIMARY KEY (project_id, score_id)
);
CREATE INDEX scores_by_run ON scores (project_id, trace_id, run_span_id);
CREATE INDEX scores_by_name ON scores (project_id, name, value);
CREATE INDEX scores_by_age ON scores (run_start_ns);
