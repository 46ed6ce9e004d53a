"""Failure signatures: variable parts normalised away, the failing step chosen by the rule."""

from __future__ import annotations

import hashlib
import string
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.failure_signature import (
    MAX_SCANNED_CHARS,
    MAX_TEMPLATE_CHARS,
    RUN_KIND,
    RunOutcome,
    StepOutcome,
    failure_signature,
    normalise_message,
    signature_of_run,
)
from mapping.model import Run, Step

# Constant words: letters only (no digits, no quotes), as the fixed text of a message is.
words = st.text(alphabet=string.ascii_letters + "éßдфλ中文エラー", min_size=1, max_size=12)
separators = st.sampled_from([" ", ": ", ", ", " (", ") ", " = ", " — "])


def _hex_id(value: int) -> str:
    return f"{value:016x}"


# Each strategy draws values of one kind of variable part.
variable_kinds = [
    st.integers(min_value=0, max_value=10**12).map(str),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda x: f"{x:.3f}"),
    st.uuids().map(str),
    st.integers(min_value=2**40, max_value=2**63).map(_hex_id),
    st.integers(min_value=1, max_value=2**48).map(hex),
    st.tuples(st.sampled_from(["http", "https"]), words, st.integers(0, 999)).map(
        lambda t: f"{t[0]}://api.example.com/{t[1]}/{t[2]}?q=1"
    ),
    st.tuples(words, words).map(lambda t: f"{t[0]}.{t[1]}@example.org".lower()),
    st.tuples(*[st.integers(0, 255)] * 4, st.integers(1, 65535)).map(
        lambda t: f"{t[0]}.{t[1]}.{t[2]}.{t[3]}:{t[4]}"
    ),
    st.lists(st.text(alphabet=string.ascii_lowercase + "_-.", min_size=1, max_size=8), min_size=2)
    .filter(lambda parts: all(p.strip(".") for p in parts))
    .map(lambda parts: "/" + "/".join(parts)),
    st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(lambda d: d.isoformat()),
    st.text(alphabet=string.ascii_letters + string.digits + " _-/", max_size=40).map(
        lambda text: f"'{text}'"
    ),
    st.text(alphabet=string.ascii_letters + string.digits + " _-", max_size=40).map(
        lambda text: f'"{text}"'
    ),
]


@st.composite
def message_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two messages with the same constant text and independently drawn variable parts."""
    shape = draw(st.lists(st.booleans(), min_size=1, max_size=8))  # True: a variable part
    first, second = [], []
    for is_variable in shape:
        if is_variable:
            kind = draw(st.sampled_from(variable_kinds))
            first.append(draw(kind))
            second.append(draw(kind))
        else:
            word = draw(words)
            first.append(word)
            second.append(word)
        separator = draw(separators)
        first.append(separator)
        second.append(separator)
    return "".join(first), "".join(second)


@settings(max_examples=300)
@given(message_pairs())
def test_messages_differing_only_in_variable_parts_share_a_signature(pair: tuple[str, str]):
    first, second = pair
    run = RunOutcome("agent", failed=True)
    signatures = [
        failure_signature(run, [StepOutcome("tool", "search", True, "ValueError", message)])
        for message in pair
    ]
    assert signatures[0] == signatures[1], (first, second)


def test_each_kind_of_variable_part_is_replaced():
    cases = {
        "after 3 retries": "after <num> retries",
        "took 1,234.5 ms": "took <num> ms",
        "run 3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b lost": "run <uuid> lost",
        "GET https://api.example.com/v1/x?id=5 failed": "GET <url> failed",
        "mail bob+x@example.co.uk bounced": "mail <email> bounced",
        "at 2024-05-01T12:30:45.123Z and 09:15:00": "at <ts> and <ts>",
        "connect 10.0.0.12:5432 refused": "connect <ip> refused",
        "connect [2001:db8::1]:8080 refused": "connect <ip> refused",
        "open /var/data/run-17/out.json failed": "open <path> failed",
        "open C:\\Users\\bob\\out.json failed": "open <path> failed",
        "open ./out.json failed": "open <path> failed",
        "object 0x7fff5fbff8a0 and commit 9fceb02d0ae598e9": "object <num> and commit <num>",
        "key sk-proj-8aF3kQ9zLmN2pX7rT": "key <id>",
        "KeyError: 'user_id'": "KeyError: '<str>'",
        'File "/app/tools.py", line 42': 'File "<str>", line <num>',
        "can't find `foo`": "can't find `<str>`",
        "tabs\tand\n\nnewlines   collapse ": "tabs and newlines collapse",
    }
    for message, template in cases.items():
        assert normalise_message(message) == template, message


def test_non_english_text_is_kept_and_its_digits_normalised():
    first = normalise_message("文件 '/tmp/a.txt' 未找到，错误码 42")
    second = normalise_message("文件 '/srv/b.txt' 未找到，错误码 ٧")  # an Arabic-Indic seven
    assert first == second == "文件 '<str>' 未找到，错误码 <num>"
    assert normalise_message("Ошибка: превышен лимит 500 запросов") == (
        "Ошибка: превышен лимит <num> запросов"
    )


@settings(max_examples=500)
@given(st.text())
def test_normalising_is_idempotent(message: str):
    once = normalise_message(message)
    assert normalise_message(once) == once


@given(st.text(alphabet=string.printable, min_size=1))
def test_normalising_printable_text_is_idempotent(message: str):
    once = normalise_message(message)
    assert normalise_message(once) == once


def test_a_huge_message_gives_a_bounded_template():
    huge = "disk full at /var/lib/x/y " + "é" * 3_000_000 + " request 42"
    template = normalise_message(huge)
    assert template.startswith("disk full at <path> ")
    assert len(template) <= MAX_TEMPLATE_CHARS
    # What lies past the scanned prefix does not change the signature.
    prefix = "x " * (MAX_SCANNED_CHARS // 2)
    assert normalise_message(prefix + "tail one") == normalise_message(prefix + "other tail")


def test_many_unclosed_quotes_and_digits_stay_linear_enough_to_finish():
    # Inputs built to make a careless pattern backtrack: they must simply finish.
    for text in ["'" * 200_000, "a'" * 100_000, "1." * 100_000, "/a" * 100_000, "a-1" * 50_000]:
        assert len(normalise_message(text)) <= MAX_TEMPLATE_CHARS


def _signature(kind="tool", name="search", error_type="TimeoutError", message="timed out"):
    run = RunOutcome("agent", failed=True)
    signature = failure_signature(run, [StepOutcome(kind, name, True, error_type, message)])
    assert signature is not None
    return signature


def test_different_error_types_tools_kinds_or_messages_differ():
    base = _signature()
    assert _signature(error_type="ConnectionError").id != base.id
    assert _signature(name="fetch").id != base.id
    assert _signature(kind="llm").id != base.id
    assert _signature(message="connection reset").id != base.id
    assert _signature().id == base.id
    assert len(base.id) == 16 and int(base.id, 16) >= 0


@given(st.text(max_size=30), st.text(max_size=30))
def test_distinct_error_types_never_share_an_id(first: str, second: str):
    if " ".join(first.split()) != " ".join(second.split()):
        assert _signature(error_type=first).id != _signature(error_type=second).id


def test_the_agent_is_beside_the_signature_not_in_its_id():
    step = StepOutcome("tool", "search", True, "TimeoutError", "timed out after 30s")
    a = failure_signature(RunOutcome("planner", True), [step])
    b = failure_signature(RunOutcome("writer", True), [step])
    assert a is not None and b is not None
    assert a.id == b.id and (a.agent_name, b.agent_name) == ("planner", "writer")


def test_a_run_that_did_not_fail_has_no_signature():
    assert failure_signature(RunOutcome("a", failed=False), []) is None


def test_the_failed_step_whose_error_reached_the_run_is_the_cause():
    steps = [
        StepOutcome("tool", "search", True, "TimeoutError", "timed out after 30s"),  # retried
        StepOutcome("tool", "search", False),
        StepOutcome("llm", "gpt-4o", True, "RateLimitError", "429 Too Many Requests"),
        StepOutcome("tool", "cleanup", True, "OSError", "cannot remove /tmp/x/y"),  # after it
    ]
    run = RunOutcome("agent", True, "RateLimitError", "429 Too Many Requests")
    signature = failure_signature(run, steps)
    assert signature is not None
    assert (signature.kind, signature.name, signature.step_position) == ("llm", "gpt-4o", 2)


def test_a_wrapped_step_error_still_points_at_the_step():
    steps = [StepOutcome("tool", "fetch", True, None, "HTTP 503 from upstream shard 7")]
    run = RunOutcome("agent", True, None, "Tool fetch failed: HTTP 503 from upstream shard 9")
    signature = failure_signature(run, steps)
    assert signature is not None and signature.step_position == 0


def test_a_run_error_no_step_explains_is_the_runs_own():
    steps = [StepOutcome("tool", "search", True, "TimeoutError", "timed out")]
    run = RunOutcome("agent", True, "MaxTurnsExceeded", "Max turns (10) exceeded")
    signature = failure_signature(run, steps)
    assert signature is not None
    assert (signature.kind, signature.name, signature.step_position) == (RUN_KIND, "", None)
    assert signature.title == "run: MaxTurnsExceeded: Max turns (<num>) exceeded"


def test_a_run_without_an_error_blames_its_last_failed_step():
    steps = [
        StepOutcome("tool", "a", True, "E1", "first"),
        StepOutcome("tool", "b", True, "E2", "second"),
        StepOutcome("llm", "m", False),
    ]
    signature = failure_signature(RunOutcome("agent", True), steps)
    assert signature is not None and (signature.name, signature.step_position) == ("b", 1)


def test_a_run_that_failed_silently_still_has_one_signature():
    first = failure_signature(RunOutcome("agent", True), [StepOutcome("llm", "m", False)])
    second = failure_signature(RunOutcome("other", True), [])
    assert first is not None and second is not None
    assert first.id == second.id and first.title == "run"


def _run(status="FAILED", error_type=None, error_message=None) -> Run:
    return Run(
        id="r1", trace_id="t", span_id="s", parent_run_id=None, name="agent run",
        agent_name="support-bot", agent_id=None, agent_version=None, agent_description=None,
        status=status, input=None, input_truncated=False, output=None, output_truncated=False,
        error_type=error_type, error_message=error_message, start_ns=0, end_ns=10, models=[],
        input_tokens=0, output_tokens=0, total_tokens=0, step_count=0, tool_call_count=0,
        llm_call_count=0, failed_step_count=0, orphan_span_count=0, session_id=None,
        user_id=None, service_name=None,
    )  # fmt: skip


def _step(step_id, run_id, index, status="SUCCESS", **fields) -> Step:
    values = dict(
        id=step_id, run_id=run_id, trace_id="t", span_id=step_id, index=index, kind="tool",
        name="span name", tool_name=None, model=None, status=status, input=None,
        input_truncated=False, output=None, output_truncated=False, error_type=None,
        error_message=None, start_ns=index, end_ns=index + 1, input_tokens=None,
        output_tokens=None, total_tokens=None, parent_step_id=None, child_run_id=None,
    )  # fmt: skip
    values.update(fields)
    return Step(**values)


def test_signature_of_a_derived_run_uses_its_own_steps_in_index_order():
    steps = [
        _step("s3", "r1", 3, "FAILED", tool_name="lookup", error_type="KeyError",
              error_message="'order 991'"),
        _step("s1", "r1", 1, "FAILED", kind="llm", model="gpt-4o", error_type="KeyError",
              error_message="'order 17'"),
        _step("x9", "other-run", 9, "FAILED", tool_name="lookup", error_type="KeyError",
              error_message="'order 5'"),
    ]  # fmt: skip
    signature = signature_of_run(_run(error_type="KeyError", error_message="'order 12'"), steps)
    assert signature is not None
    assert (signature.kind, signature.name, signature.step_id) == ("tool", "lookup", "s3")
    assert signature.agent_name == "support-bot"
    assert signature.message_template == "'<str>'"
    assert signature_of_run(_run(status="SUCCESS"), steps) is None


def test_ids_are_stable_across_releases():
    # A changed id silently splits every stored failure group: bump SIGNATURE_VERSION instead.
    signature = _signature(message=f"timed out after 30s on {uuid.UUID(int=7)}")
    assert signature.message_template == "timed out after <num>s on <uuid>"
    material = "v1\x1ftool\x1fsearch\x1fTimeoutError\x1ftimed out after <num>s on <uuid>"
    assert signature.id == hashlib.sha256(material.encode()).hexdigest()[:16] == "5e61b5468ba574eb"


def test_a_run_with_thousands_of_long_failed_steps_is_signed_quickly_enough_to_finish():
    noise = "x " * 8000
    steps = [StepOutcome("tool", "t", True, "E", f"{noise} {k}") for k in range(10_000)]
    signature = failure_signature(RunOutcome("a", True, "Other", "no step says this"), steps)
    assert signature is not None and signature.kind == RUN_KIND
