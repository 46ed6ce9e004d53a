-- depends: 0001_initial
-- Indexes for the query API's read queries (storage/queries.py). The aggregates (tools,
-- summary, timeseries, agents) read covering indexes only, never the wide run and step rows.

-- Tool calls by tool name and time: GET /v1/tools over long windows (grouped in index order)
-- and the call counts of the top failing tools. Replaces the plain index of 0001.
DROP INDEX steps_project_tool_start;
CREATE INDEX steps_project_tool_start ON steps (project_id, tool_name, start_ns)
    INCLUDE (status, duration_ms, run_id)
    WHERE tool_name IS NOT NULL;

-- Tool calls by time: GET /v1/tools over short windows.
CREATE INDEX steps_project_tool_time ON steps (project_id, start_ns)
    INCLUDE (tool_name, status, duration_ms, run_id)
    WHERE tool_name IS NOT NULL;

-- Failed tool calls by time (few): the summary's top failing tools.
CREATE INDEX steps_project_failed_tool_time ON steps (project_id, start_ns)
    INCLUDE (tool_name, run_id)
    WHERE status = 'FAILED' AND tool_name IS NOT NULL;

-- GET /v1/runs?tool=: whether a run called a tool, without visiting the step rows.
CREATE INDEX steps_run_tool ON steps (trace_id, project_id, run_id, tool_name)
    WHERE tool_name IS NOT NULL;

-- Run figures by time, and by agent and time: summary, timeseries, agents.
CREATE INDEX runs_project_start_stats ON runs (project_id, start_ns)
    INCLUDE (agent_name, status, duration_ms, step_count, input_tokens, output_tokens,
             total_tokens);
CREATE INDEX runs_project_agent_stats ON runs (project_id, agent_name, start_ns)
    INCLUDE (status, end_ns, duration_ms, step_count, input_tokens, output_tokens,
             total_tokens);

-- GET /v1/runs?min_duration_ms=: long runs are rare; find them without scanning the rest.
CREATE INDEX runs_project_duration ON runs (project_id, duration_ms);
