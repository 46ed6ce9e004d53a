-- depends: 0001_initial
-- Indexes for the query API's read queries (storage/queries.py).

-- GET /v1/tools and the summary over a time window: the tool calls of the window, read from
-- the index alone (with the columns the aggregates and the agent join need).
CREATE INDEX steps_project_tool_time ON steps (project_id, start_ns)
    INCLUDE (tool_name, status, duration_ms, trace_id, run_id)
    WHERE tool_name IS NOT NULL;

-- GET /v1/runs?tool=: whether a run called a tool, without visiting the steps' rows.
CREATE INDEX steps_run_tool ON steps (trace_id, project_id, run_id, tool_name)
    WHERE tool_name IS NOT NULL;

-- Top failing tools: failed tool calls in a time window are few; find them without a scan.
CREATE INDEX steps_project_failed_tool_start ON steps (project_id, start_ns) INCLUDE (tool_name)
    WHERE status = 'FAILED' AND tool_name IS NOT NULL;
