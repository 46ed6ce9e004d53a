"""The convention registry: what it is made of and how a span finds its convention."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope

from mapping import registry, span_facts
from mapping.conventions import openinference
from mapping.conventions.base import COUNT_FIELDS, KEY_FIELDS, Convention, Keys
from tests.mapping.otlp import make_resource, make_span


def test_convention_names_are_unique() -> None:
    names = [c.name for c in registry.REGISTRY]
    assert len(names) == len(set(names))


def test_counts_are_read_from_usage_prefixes() -> None:
    for convention in registry.REGISTRY:
        for field in COUNT_FIELDS:
            for key in getattr(convention.keys, field):
                assert key.startswith(registry.USAGE_PREFIXES), (convention.name, key)


def test_every_declared_key_is_read() -> None:
    for convention in registry.REGISTRY:
        assert convention.all_keys() <= registry.WANTED_KEYS
    assert not any(key.startswith(registry.USAGE_PREFIXES) for key in registry.WANTED_KEYS)


def test_a_refinement_comes_before_the_convention_it_refines() -> None:
    order = [c.name for c in registry.REGISTRY]
    assert order.index("openai_agents") < order.index("openinference")
    for refinement in ("langgraph", "smolagents", "crewai", "llamaindex"):
        # OpenInference's GenAI copies (gen_ai.operation.name) must not decide their spans
        assert order.index(refinement) < min(order.index("gen_ai"), order.index("openinference"))


def test_a_scoped_refinement_applies_to_its_scope_only() -> None:
    span = make_span("turn", {"openinference.span.kind": "CHAIN"})
    resource = make_resource()
    agents_sdk = InstrumentationScope(name="openinference.instrumentation.openai_agents")
    other = InstrumentationScope(name="openinference.instrumentation.dspy")
    assert span_facts(span, resource, agents_sdk).convention == "openai_agents"
    assert span_facts(span, resource, other).convention == "openinference"


def test_own_keys_come_first_then_the_others_in_registry_order() -> None:
    first = Convention(name="first", keys=Keys(model=("a.model",), agent_name=("a.agent",)))
    second = Convention(name="second", keys=Keys(model=("b.model",), agent_name=("b.agent",)))
    conventions = (first, second)
    reading = registry.Reading(second, conventions)
    assert reading.keys.model == ("b.model", "a.model")
    assert reading.keys.agent_name == ("b.agent",)  # an agent is named by its own convention
    assert registry.Reading(None, conventions).keys.model == ("a.model", "b.model")
    assert registry.Reading(None, conventions).keys.agent_name == ()


def test_every_field_of_keys_is_resolved() -> None:
    reading = registry.READINGS["openinference"]
    assert all(isinstance(getattr(reading.keys, name), tuple) for name in KEY_FIELDS)
    assert reading.keys.input[0] == openinference.INPUT_VALUE
