"""Derived state beyond runs, steps and rollups, kept in step with them.

A feature that keeps its own derived rows (search documents, sessions, embeddings, ...)
registers a ``DerivedExtension``; the deriver hands it every trace it derives, with the rows
before and after, the derived trace and the spans' facts, inside the transaction that writes
the runs and steps: what an extension writes commits or rolls back with them, and an error it
raises quarantines the traces of its batch like any other write error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.model import DerivedTrace, SpanFacts
from mapping.trace_costs import TraceCosts
from storage.derived_rows import TraceRows


@dataclass(slots=True)
class TraceChange:
    """One trace's derivation, as extensions see it."""

    project_id: int
    trace_id: bytes
    old_rows: TraceRows  # what was stored before (empty for a new trace)
    new_rows: TraceRows  # what is stored now (empty when every span is gone)
    derived: DerivedTrace | None  # None when every span is gone
    facts: Mapping[str, SpanFacts]  # by span id (hex); payloads cut to 2,048 characters
    costs: TraceCosts | None
    # The spans mapped in this batch (new or changed since the trace was last derived), parsed,
    # by span id (hex), with their resource and scope; spans unchanged since are not here.
    new_spans: Mapping[str, tuple[Span, Resource, InstrumentationScope]]


class DerivedExtension(Protocol):
    """Writes its own derived rows for the traces of a batch."""

    name: str

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], changes: Sequence[TraceChange]
    ) -> None: ...
