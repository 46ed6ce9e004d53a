"""What the REST ingest answers: the ids written and the status recorded, at once.

The run or step itself is derived by the derivers, like a run sent over OTLP; ``url`` is where
it can be read (it appears there within moments: poll it, or wait for the status to match).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import RunStatusName, StepStatusName


class RunWritten(BaseModel):
    id: str = Field(description="the run id: 48 hex characters (trace id, then span id)")
    trace_id: str
    status: RunStatusName = Field(description="the status this write recorded")
    url: str = Field(description="where the derived run is read: GET this path")


class StepWritten(BaseModel):
    id: str = Field(description="the step id: 48 hex characters (trace id, then span id)")
    run_id: str
    status: StepStatusName = Field(description="the status this write recorded")
    url: str = Field(description="where the derived step is read: GET this path")
