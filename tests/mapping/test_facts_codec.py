"""facts_to_dict / facts_from_dict: an exact round trip through JSON."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping import facts_from_dict, facts_to_dict
from mapping.model import ArtifactFacts, SpanCategory, SpanFacts
from tests.mapping.otlp import scenario_dirs, scenario_facts


def _round_trip(f: SpanFacts) -> SpanFacts:
    return facts_from_dict(orjson.loads(orjson.dumps(facts_to_dict(f))))


@pytest.mark.parametrize("scenario", scenario_dirs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_facts_round_trip(scenario: Path) -> None:
    for f in scenario_facts(scenario):
        assert _round_trip(f) == f


def test_defaults_are_left_out_and_restored() -> None:
    f = SpanFacts(
        trace_id="t" * 32,
        span_id="s" * 16,
        parent_span_id=None,
        name="n",
        start_ns=1,
        end_ns=2,
        status="UNSET",
        status_message=None,
        category="plain",
    )
    d = facts_to_dict(f)
    assert "usage" not in d and "artifacts" not in d and "input_truncated" not in d
    assert d["parent_span_id"] is None
    assert facts_from_dict(d) == f


def test_unknown_keys_are_ignored() -> None:
    f = SpanFacts("t", "s", None, "n", 1, 2, "OK", None, "llm", model="m")
    d = facts_to_dict(f) | {"added_by_a_newer_version": 1}
    assert facts_from_dict(d) == f


texts = st.none() | st.text(max_size=20)
counts = st.none() | st.integers(min_value=0, max_value=2**63 - 1)
artifacts = st.builds(
    ArtifactFacts,
    type=st.sampled_from(["exception", "message", "choice", "document"]),
    name=texts,
    content=texts,
    url=texts,
    time_ns=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    truncated=st.booleans(),
)
span_facts_strategy = st.builds(
    SpanFacts,
    trace_id=st.text(min_size=1, max_size=32),
    span_id=st.text(min_size=1, max_size=16),
    parent_span_id=texts,
    name=st.text(max_size=20),
    start_ns=st.integers(min_value=0, max_value=2**64 - 1),
    end_ns=st.integers(min_value=0, max_value=2**64 - 1),
    status=st.sampled_from(["UNSET", "OK", "ERROR"]),
    status_message=texts,
    category=st.sampled_from(get_args(SpanCategory)),
    convention=texts,
    agent_name=texts,
    input=texts,
    input_truncated=st.booleans(),
    output_truncated=st.booleans(),
    input_tokens=counts,
    output_tokens=counts,
    total_tokens=counts,
    usage=st.dictionaries(
        st.text(max_size=30),
        st.integers(min_value=-(2**63), max_value=2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False),
        max_size=4,
    ),
    artifacts=st.lists(artifacts, max_size=3),
)


@settings(deadline=None)
@given(span_facts_strategy)
def test_any_facts_round_trip(f: SpanFacts) -> None:
    back = _round_trip(f)
    assert back == f
    assert {k: type(v) for k, v in back.usage.items()} == {k: type(v) for k, v in f.usage.items()}
