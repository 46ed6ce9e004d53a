"""Alert rules (validation) and their evaluation state machine."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agentguide.alerts import (
    AlertRule,
    AlertRuleSpec,
    AlertState,
    evaluate,
    format_duration,
    new_secret,
    parse_duration,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def spec(**fields) -> AlertRuleSpec:
    values = {
        "name": "checkout failures",
        "metric": "failure_rate",
        "threshold": 0.2,
        "window_seconds": 900,
        "webhook_url": "https://hooks.example.com/agentguide",
    }
    values.update(fields)
    return AlertRuleSpec.model_validate(values)


def rule(**fields) -> AlertRule:
    return AlertRule.create(spec(**fields), rule_id="rule-1")


def test_a_new_rule_gets_an_id_and_a_standard_webhooks_secret():
    created = AlertRule.create(spec(agent="support-bot"))
    assert created.id and created.secret.startswith("whsec_")
    assert len(base64.b64decode(created.secret.removeprefix("whsec_"))) == 32
    assert created.spec == spec(agent="support-bot")
    assert AlertRule.model_validate(created.model_dump()) == created
    assert new_secret() != new_secret()


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"metric": "latency"}, "metric", "Input should be"),
        ({"window_seconds": 10}, "window_seconds", "greater than or equal to 60"),
        ({"webhook_url": "ftp://x.example/h"}, "webhook_url", "http:// or https://"),
        ({"webhook_url": "https:///nohost"}, "webhook_url", "with a host"),
        ({"threshold": float("nan")}, "threshold", "finite"),
        ({"threshold": 5}, "", "fraction between 0 and 1"),
        ({"metric": "run_count", "threshold": -1}, "", "cannot be negative"),
        ({"metric": "signature_count", "threshold": 3}, "", "signature is required"),
        ({"signature": "0123456789abcdef"}, "", "only for it"),
        ({"signature": "not-an-id"}, "signature", "should match pattern"),
        ({"comparison": "=="}, "comparison", "Input should be"),
        ({"name": " "}, "name", "at least 1 character"),
        ({"fire_after": 0}, "fire_after", "greater than or equal to 1"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_rule_is_refused_naming_what_is_wrong(fields, field, words):
    with pytest.raises(ValidationError) as raised:
        spec(**fields)
    errors = raised.value.errors()
    assert any(
        ".".join(str(part) for part in error["loc"]) == field and words in error["msg"]
        for error in errors
    ), errors


def test_signature_count_takes_a_signature_and_no_tool():
    ok = spec(metric="signature_count", threshold=10, signature="0123456789abcdef")
    assert ok.describe() == "signature_count > 10 over 15m (signature 0123456789abcdef)"
    with pytest.raises(ValidationError, match="takes no tool"):
        spec(metric="signature_count", threshold=1, signature="0123456789abcdef", tool="t")


@pytest.mark.parametrize("metric", ["tokens", "cost"])
def test_totals_of_runs_take_no_tool(metric):
    assert spec(metric=metric, threshold=1000).tool is None
    with pytest.raises(ValidationError, match="not kept per tool"):
        spec(metric=metric, threshold=1000, tool="search")


@pytest.mark.parametrize(
    "secret", ["plain", "whsec_***", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_a_bad_secret_is_refused(secret):
    with pytest.raises(ValidationError, match="secret"):
        AlertRule.create(spec(), secret=secret)


def test_comparisons():
    assert spec(comparison=">").breached(0.3) and not spec(comparison=">").breached(0.2)
    assert spec(comparison=">=").breached(0.2)
    assert spec(comparison="<").breached(0.1) and not spec(comparison="<").breached(0.2)
    assert spec(comparison="<=").breached(0.2)
    assert not spec().breached(float("nan"))


def test_durations():
    assert [parse_duration(t) for t in ["90", "90s", "15m", "1h", "7d", "2w"]] == [
        90, 90, 900, 3600, 604800, 1209600,
    ]  # fmt: skip
    assert [format_duration(s) for s in [90, 900, 3600, 86400 * 3, 604800]] == [
        "90s", "15m", "1h", "3d", "1w",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def run(alert: AlertRule, values: list[float | None], state: AlertState | None = None):
    state = state or AlertState()
    notes = []
    for minute, value in enumerate(values):
        state, note = evaluate(alert, state, value, T0 + timedelta(minutes=minute))
        notes.append(note)
    return state, notes


def test_ok_firing_resolved_and_firing_again_notify_once_each():
    alert = rule()
    state, notes = run(alert, [0.1, 0.5, 0.6, 0.9, 0.1, 0.0, 0.4, 0.5])
    events = [(n.event, n.episode, n.value) if n else None for n in notes]
    assert events == [
        None,
        ("firing", 1, 0.5),
        None,  # still firing: no repeat
        None,
        ("resolved", 1, 0.1),
        None,
        ("firing", 2, 0.4),
        None,
    ]
    assert state.status == "firing" and state.episode == 2
    resolved = notes[4]
    assert resolved is not None
    assert resolved.fired_at == T0 + timedelta(minutes=1)
    assert resolved.resolved_at == T0 + timedelta(minutes=4)
    assert resolved.key == "rule-1/1/resolved"


def test_fire_after_and_resolve_after_need_unbroken_streaks():
    alert = rule(fire_after=3, resolve_after=2)
    _, notes = run(alert, [0.5, 0.5, 0.1, 0.5, 0.5, 0.5, 0.1, 0.5, 0.1, 0.1])
    events = [(minute, n.event) for minute, n in enumerate(notes) if n]
    assert events == [(5, "firing"), (9, "resolved")]


def test_no_value_changes_nothing_but_the_evaluation_time():
    alert = rule(fire_after=2)
    state, notes = run(alert, [0.5, None, 0.5])
    assert [n.event if n else None for n in notes] == [None, None, "firing"]
    state, notes = run(alert, [None, None], state)
    assert state.status == "firing" and notes == [None, None]
    assert state.last_evaluated_at == T0 + timedelta(minutes=1)
    assert state.last_value == 0.5


def test_the_same_transition_evaluated_twice_has_the_same_key():
    alert = rule()
    before = AlertState()
    _, first = evaluate(alert, before, 0.9, T0)
    _, again = evaluate(alert, before, 0.9, T0 + timedelta(seconds=5))
    assert first is not None and again is not None and first.key == again.key == "rule-1/1/firing"


@given(
    st.lists(st.one_of(st.none(), st.floats(0, 1)), max_size=60),
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_notifications_alternate_and_the_state_survives_json(values, fire_after, resolve_after):
    alert = rule(fire_after=fire_after, resolve_after=resolve_after)
    state = AlertState()
    expected_event = "firing"
    episode = 0
    for minute, value in enumerate(values):
        state, note = evaluate(alert, state, value, T0 + timedelta(minutes=minute))
        assert AlertState.from_json(state.to_json()) == state
        if note is None:
            continue
        assert note.event == expected_event
        if note.event == "firing":
            episode += 1
        assert note.episode == episode == state.episode
        assert state.status == ("firing" if note.event == "firing" else "resolved")
        expected_event = "resolved" if expected_event == "firing" else "firing"
