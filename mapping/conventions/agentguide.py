"""AgentGuide's own keys, on the spans its REST ingest writes for runs made without
OpenTelemetry (``api/rest_spans.py``). Those spans are otherwise GenAI spans: ``invoke_agent``
runs and ``execute_tool`` steps.

What OTLP has no word for: the lifecycle status of a run or step that is not finished
(PENDING, RUNNING) or was cancelled, the step's position, and named run metrics.
"""

from __future__ import annotations

from mapping.conventions.base import Convention, Keys

SCOPE_NAME = "agentguide.rest"
RUN_STATUS = "agentguide.run.status"
STEP_STATUS = "agentguide.step.status"
STEP_INDEX = "agentguide.step.index"
METRIC_PREFIX = "agentguide.metric."
DECLARABLE_STATUSES = frozenset({"PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"})

CONVENTION = Convention(
    name="agentguide",
    keys=Keys(run_status=(RUN_STATUS,), step_status=(STEP_STATUS,)),
    usage_prefixes=(METRIC_PREFIX,),
)
