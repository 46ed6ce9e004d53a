-- depends: 0001_initial
-- Indexes for the query API's read queries (storage/queries.py).

-- Top failing tools: failed tool calls in a time window are few; find them without a scan.
CREATE INDEX steps_project_failed_tool_start ON steps (project_id, start_ns) INCLUDE (tool_name)
    WHERE status = 'FAILED' AND tool_name IS NOT NULL;
