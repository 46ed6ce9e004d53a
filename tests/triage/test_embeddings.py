"""Run embeddings: the text built for a run, and (when the optional model is installed) the
vectors themselves, computed with no network."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentguide import embeddings
from agentguide.embeddings import (
    DIMENSION,
    INSTALL_HINT,
    MAX_TEXT_CHARS,
    RunText,
    available,
    run_text,
    run_text_of,
    unavailable_reason,
)
from mapping.failure_signature import StepOutcome
from mapping.model import Run, Step

REPOSITORY = Path(__file__).resolve().parents[2]

needs_model = pytest.mark.skipif(
    not available(),
    reason=f"the optional embedding model is not installed ({INSTALL_HINT})",
)


def timeout_run(order: str, seconds: int, retries: int = 0) -> RunText:
    steps = [StepOutcome("llm", "gpt-4o", False)]
    steps += [StepOutcome("tool", "order_lookup", False)] * retries
    steps += [StepOutcome("tool", "order_lookup", True, "TimeoutError", f"timed out in {seconds}s")]
    return RunText(
        agent_name="support-bot",
        status="FAILED",
        input=f"Where is my order {order}? It should have arrived.",
        error_type="TimeoutError",
        error_message=f"timed out in {seconds}s",
        steps=steps,
    )


def address_change_run() -> RunText:
    return RunText(
        agent_name="support-bot",
        status="SUCCESS",
        input="Please change my shipping address to Hauptstraße 5, Berlin.",
        steps=[
            StepOutcome("llm", "gpt-4o", False),
            StepOutcome("tool", "update_address", False),
            StepOutcome("llm", "gpt-4o", False),
        ],
    )


def test_the_text_leads_with_the_outcome_then_failed_steps_sequence_and_input():
    text = run_text(timeout_run("A-1234", 30, retries=2))
    assert text.splitlines() == [
        "agent support-bot failed: TimeoutError: timed out in <num>s",
        "failed steps: tool order_lookup (TimeoutError: timed out in <num>s)",
        "steps: llm gpt-4o, tool order_lookup x2, tool order_lookup failed",
        "input: Where is my order A-1234? It should have arrived.",
    ]


def test_the_text_of_a_huge_run_is_bounded_and_keeps_both_ends():
    steps = [
        StepOutcome("tool", f"tool_{k % 97}", k % 13 == 0, "E", "x" * 5000) for k in range(10_000)
    ]
    text = run_text(RunText("a", "FAILED", "q" * 100_000, "E", "m" * 100_000, steps))
    assert len(text) <= MAX_TEXT_CHARS
    assert "more ..." in text and text.count("failed steps:") == 1
    assert run_text(RunText("a", "FAILED", "q", None, None, steps)) == run_text(
        RunText("a", "FAILED", "q", None, None, list(steps))
    )


def test_the_text_keeps_non_english_input():
    text = run_text(RunText("客服", "FAILED", "我的订单在哪里？", "超时", "请求超时 30 秒"))
    assert text == "agent 客服 failed: 超时: 请求超时 <num> 秒\ninput: 我的订单在哪里？"


def test_run_text_of_reads_a_derived_run_and_its_own_steps():
    run = Run(
        id="r", trace_id="t", span_id="s", parent_run_id=None, name="n", agent_name="bot",
        agent_id=None, agent_version=None, agent_description=None, status="FAILED",
        input="hi", input_truncated=False, output=None, output_truncated=False,
        error_type="KeyError", error_message="'x'", start_ns=0, end_ns=1, models=[],
        input_tokens=0, output_tokens=0, total_tokens=0, step_count=1, tool_call_count=1,
        llm_call_count=0, failed_step_count=1, orphan_span_count=0, session_id=None,
        user_id=None, service_name=None,
    )  # fmt: skip

    def step(step_id: str, run_id: str, index: int, name: str) -> Step:
        return Step(
            id=step_id, run_id=run_id, trace_id="t", span_id=step_id, index=index, kind="tool",
            name="span", tool_name=name, model=None, status="FAILED", input=None,
            input_truncated=False, output=None, output_truncated=False, error_type="KeyError",
            error_message="'x'", start_ns=0, end_ns=1, input_tokens=None, output_tokens=None,
            total_tokens=None, parent_step_id=None, child_run_id=None,
        )  # fmt: skip

    fields = run_text_of(run, [step("b", "r", 1, "second"), step("x", "other", 0, "not mine"),
                                step("a", "r", 0, "first")])  # fmt: skip
    assert [s.name for s in fields.steps] == ["first", "second"]
    assert fields.agent_name == "bot" and fields.input == "hi"


def test_an_unavailable_model_says_what_to_install():
    reason = unavailable_reason(("agentguide_no_such_module",))
    assert reason is not None
    assert "agentguide_no_such_module" in reason and INSTALL_HINT in reason
    assert available() == (unavailable_reason() is None)


@pytest.mark.skipif(available(), reason="the embedding model is installed here")
def test_embedding_without_the_model_raises_the_reason():
    with pytest.raises(embeddings.EmbeddingsUnavailable, match="agentguide\\[similar\\]"):
        embeddings.embed_run(timeout_run("1", 1))


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@needs_model
def test_vectors_have_the_fixed_dimension_unit_length_and_are_deterministic():
    vector = embeddings.embed_run(timeout_run("A-1", 30))
    assert len(vector) == DIMENSION
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-4)
    assert embeddings.embed_run(timeout_run("A-1", 30)) == vector


@needs_model
def test_runs_that_failed_alike_are_closer_than_a_run_that_did_something_else():
    first, second, other = embeddings.shared_embedder().embed_runs(
        [timeout_run("A-1234", 30), timeout_run("Z-77", 12, retries=2), address_change_run()]
    )
    assert _cosine(first, second) > _cosine(first, other) + 0.1
    assert _cosine(first, second) > _cosine(second, other) + 0.1


@needs_model
def test_the_model_loads_and_embeds_with_every_connection_refused():
    # A fresh interpreter where any attempt to reach the network fails, without the offline
    # variables set: the model must come from the installed package alone.
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from agentguide.embeddings import RunText, embed_run
        vector = embed_run(RunText("bot", "FAILED", "hello", "E", "boom"))
        print(len(vector))
        """
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS"))
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(DIMENSION)
