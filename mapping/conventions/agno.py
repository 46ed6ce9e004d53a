"""Agno as OpenInference instruments it (``openinference-instrumentation-agno``, which Agno's
own ``agno.tracing`` uses too): OpenInference's rules, for spans of that instrumentation scope.

Agents and teams are ``AGENT`` spans named ``<name>.run`` with ``agent.name`` (a team is read
as an agent). A team leader delegates through its ``delegate_task_to_member`` tool, inside
which the member's agent span runs: a child run, not a handoff. ``graph.node.parent_id`` is
the parent's opaque ``graph.node.id`` here, not an agent's name, so it names no handoff.
"""

from __future__ import annotations

from dataclasses import replace

from mapping.conventions import openinference
from mapping.conventions.base import Convention

SCOPES = ("openinference.instrumentation.agno",)

CONVENTION = Convention(
    name="agno",
    classify=openinference.classify,
    scopes=SCOPES,
    keys=replace(openinference.KEYS, handoff_from=()),
    markers=openinference.CONVENTION.markers,
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
)
