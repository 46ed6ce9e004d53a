"""Run comparison: an exact minimum-cost alignment, per-pair differences, first divergence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.compare import ComparedStep, align, compare_runs, compared_step
from mapping.model import Step

Key = tuple[str, str]
keys = st.tuples(st.sampled_from(["tool", "llm", "retriever"]), st.sampled_from(["a", "b", "c"]))
key_lists = st.lists(keys, max_size=14)


def reference_distance(a: list[Key], b: list[Key]) -> int:
    """The textbook O(n*m) table, written independently of the module under test."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            if i == 0 or j == 0:
                table[i][j] = i + j
                continue
            if a[i - 1] == b[j - 1]:
                diagonal = table[i - 1][j - 1]
            elif a[i - 1][0] == b[j - 1][0]:
                diagonal = table[i - 1][j - 1] + 1
            else:
                diagonal = table[i - 1][j - 1] + 2  # no cross-kind pairing: delete + insert
            table[i][j] = min(diagonal, table[i - 1][j] + 1, table[i][j - 1] + 1)
    return table[len(a)][len(b)]


def script_cost(a: list[Key], b: list[Key], script) -> int:
    """Checks the script is a valid edit script of a into b and returns its cost."""
    next_a = next_b = cost = 0
    for operation, i, j in script:
        if operation in ("match", "substitute"):
            assert (i, j) == (next_a, next_b)
            next_a, next_b = next_a + 1, next_b + 1
            if operation == "match":
                assert a[i] == b[j]
            else:
                assert a[i][0] == b[j][0] and a[i][1] != b[j][1]
                cost += 1
        elif operation == "delete":
            assert (i, j) == (next_a, None)
            next_a += 1
            cost += 1
        else:
            assert (operation, i, j) == ("insert", None, next_b)
            next_b += 1
            cost += 1
    assert (next_a, next_b) == (len(a), len(b))
    return cost


@settings(max_examples=400)
@given(key_lists, key_lists)
def test_the_alignment_is_a_minimum_cost_edit_script(a: list[Key], b: list[Key]):
    assert script_cost(a, b, align(a, b)) == reference_distance(a, b)


@settings(max_examples=400)
@given(key_lists, key_lists, st.integers(min_value=1, max_value=12))
def test_hirschberg_splitting_finds_the_same_minimum(a: list[Key], b: list[Key], cells: int):
    script = align(a, b, direct_cells=cells)
    assert script_cost(a, b, script) == reference_distance(a, b)


@given(key_lists, key_lists)
def test_the_alignment_is_deterministic(a: list[Key], b: list[Key]):
    assert align(a, b) == align(list(a), list(b))


def test_a_retried_tool_is_an_insertion_and_a_different_tool_a_substitution():
    a = [("llm", "gpt"), ("tool", "search"), ("llm", "gpt"), ("tool", "write")]
    b = [("llm", "gpt"), ("tool", "search"), ("tool", "search"), ("llm", "gpt"), ("tool", "mail")]
    assert align(a, b) == [
        ("match", 0, 0),
        ("match", 1, 1),
        ("insert", None, 2),
        ("match", 2, 3),
        ("substitute", 3, 4),
    ]


def test_steps_of_different_kinds_are_never_paired():
    assert align([("tool", "x")], [("llm", "x")]) == [("delete", 0, None), ("insert", None, 0)]


def test_empty_runs():
    assert align([], []) == []
    assert align([("tool", "a")], []) == [("delete", 0, None)]
    assert compare_runs([], []).first_divergence is None


def _step(kind="tool", name="search", **fields) -> ComparedStep:
    return ComparedStep(kind, name, **fields)


def test_pairs_report_what_changed_and_the_first_divergence():
    a = [
        _step("llm", "gpt", input="plan", output="call search", duration_ms=100.0, tokens=50),
        _step(input="q=paris", output="[3 results]", duration_ms=20.0, cost=0.5),
        _step("llm", "gpt", input="summarise", output="done", tokens=30),
    ]
    b = [
        _step("llm", "gpt", input="plan", output="call search", duration_ms=140.0, tokens=70),
        _step(input="q=pars", status="FAILED", error_type="NotFound", duration_ms=5.0, cost=0.5),
        _step("llm", "gpt", input="apologise", output="sorry", tokens=20),
    ]
    comparison = compare_runs(a, b)
    first, second, _ = comparison.pairs
    assert [change.field for change in first.changes] == ["duration_ms", "tokens"]
    assert first.changes[0].delta == 40.0 and first.changes[1].delta == 20
    assert not first.diverges  # only measurements differ
    assert [change.field for change in second.changes] == [
        "status", "input", "output", "error_type", "duration_ms",
    ]  # fmt: skip
    assert second.changes[1].a == "q=paris" and second.changes[1].b == "q=pars"
    assert comparison.first_divergence == 1
    assert (comparison.matches, comparison.distance) == (3, 0)
    totals = {total.field: total for total in comparison.totals}
    assert (totals["tokens"].a, totals["tokens"].b, totals["tokens"].delta) == (80, 90, 10)
    assert totals["duration_ms"].delta == 25.0
    assert (totals["cost"].a, totals["cost"].b, totals["cost"].delta) == (0.5, 0.5, 0.0)


def test_an_extra_step_is_the_divergence_when_everything_before_it_agrees():
    a = [_step(input="x"), _step("llm", "gpt")]
    b = [_step(input="x"), _step("tool", "retry"), _step("llm", "gpt")]
    comparison = compare_runs(a, b)
    assert comparison.first_divergence == 1
    assert comparison.pairs[1].operation == "insert"
    assert (comparison.insertions, comparison.distance) == (1, 1)


def test_identical_runs_do_not_diverge():
    steps = [_step(input=str(k), duration_ms=float(k)) for k in range(5)]
    comparison = compare_runs(steps, list(steps))
    assert comparison.first_divergence is None and comparison.matches == 5


def test_long_runs_align_exactly_through_the_split_path():
    # A 600-step run against a variant with steps dropped, added and renamed, split down to
    # small tables: the edit script must still cost exactly the known number of edits.
    a = [("tool" if k % 3 else "llm", f"n{k % 7}") for k in range(600)]
    b = list(a)
    del b[100:110]  # 10 deletions
    b[300:300] = [("retriever", "docs")] * 5  # 5 insertions
    b[450] = (b[450][0], "renamed")  # 1 substitution
    script = align(a, b, direct_cells=64)
    assert script_cost(a, b, script) == 16
    assert script_cost(a, b, align(a, b)) == 16


def test_compared_step_reads_a_derived_step():
    step = Step(
        id="s1", run_id="r", trace_id="t", span_id="s1", index=0, kind="llm", name="chat",
        tool_name=None, model="gpt-4o", status="FAILED", input="hi", input_truncated=False,
        output=None, output_truncated=False, error_type="RateLimitError", error_message="429",
        start_ns=1_000_000, end_ns=3_500_000, input_tokens=3, output_tokens=None,
        total_tokens=3, parent_step_id=None, child_run_id=None,
    )  # fmt: skip
    compared = compared_step(step, cost=0.01)
    assert (compared.kind, compared.name, compared.duration_ms) == ("llm", "gpt-4o", 2.5)
    assert (compared.tokens, compared.cost, compared.id) == (3, 0.01, "s1")
