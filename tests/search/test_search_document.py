"""The pure parts of search: attribute flattening and bounds, the run document, snippets and
the parsing of q. No database."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from api.search_params import search_words
from api.search_snippets import snippet
from mapping import derive_trace, span_facts
from mapping.model import SpanFacts
from mapping.search_document import (
    DOCUMENT_CHARS,
    MAX_VALUES,
    SEGMENT_CHARS,
    fold,
    merge_attributes,
    run_documents,
    words_text,
)
from mapping.span_attributes import MAX_KEY_CHARS, MAX_PAIRS, MAX_VALUE_CHARS, span_attributes
from tests.otlp_helpers import attr, make_span, random_span_id, random_trace_id


def _resource(**attributes: object) -> Resource:
    resource = Resource()
    resource.attributes.extend(attr(k, v) for k, v in attributes.items())
    return resource


def test_span_resource_and_scope_attributes_in_one_namespace() -> None:
    span = make_span(random_trace_id(), attributes={"a": "x", "n": 3, "f": 1.5, "b": False})
    scope = InstrumentationScope(name="lib", version="1.2")
    scope.attributes.append(attr("scope.key", "s"))
    pairs = span_attributes(span, _resource(**{"service.name": "svc"}), scope)
    assert pairs == (
        ("a", "x"), ("n", 3), ("f", 1.5), ("b", False), ("service.name", "svc"),
        ("scope.key", "s"), ("otel.scope.name", "lib"), ("otel.scope.version", "1.2"),
    )  # fmt: skip


def test_nested_values_flatten_and_odd_ones_are_left_out() -> None:
    span = make_span(
        random_trace_id(),
        attributes={
            "meta": {"team": "search", "deep": {"level": 2}},
            "tags": ["x", 1, ["nested"], {"k": "v"}],
            "blob": b"\x00\x01",
            "empty": "",
            "nan": float("nan"),
            "nul": "a\x00b",
        },
    )
    pairs = span_attributes(span, Resource(), InstrumentationScope())
    assert pairs == (
        ("meta.team", "search"), ("meta.deep.level", 2), ("tags", "x"), ("tags", 1),
        ("nan", None), ("nul", "a\ufffdb"),
    )  # fmt: skip


def test_bounds() -> None:
    many = {f"k{i}": i for i in range(MAX_PAIRS + 50)}
    long_key = "k" * (MAX_KEY_CHARS + 1)
    span = make_span(
        random_trace_id(),
        attributes={"long": "v" * (MAX_VALUE_CHARS + 1), long_key: "x", **many},
    )
    pairs = span_attributes(span, Resource(), InstrumentationScope())
    assert len(pairs) == MAX_PAIRS
    assert pairs[0] == ("long", None)  # the key is kept, so "exists" finds it
    assert all(key != long_key for key, _ in pairs)
    merged = merge_attributes([("k", i) for i in range(MAX_VALUES + 5)] + [("k", None)])
    assert merged == {"k": list(range(MAX_VALUES))}
    assert merge_attributes([("t", True), ("t", 1), ("t", True)]) == {"t": [True, 1]}


def test_a_resource_s_pairs_are_shared_by_its_spans_and_not_crowded_out() -> None:
    resource = _resource(**{"service.name": "svc", "deployment.environment": "prod"})
    scope = InstrumentationScope(name="lib")
    trace_id = random_trace_id()
    crowded = make_span(trace_id, attributes={f"k{i}": i for i in range(MAX_PAIRS + 5)})
    plain = make_span(trace_id, attributes={"a": "x"})
    crowded_facts = span_facts(crowded, resource, scope)
    plain_facts = span_facts(plain, resource, scope)
    assert len(crowded_facts.attributes) == MAX_PAIRS
    assert plain_facts.attributes == (("a", "x"),)
    assert crowded_facts.shared_attributes is plain_facts.shared_attributes
    assert crowded_facts.shared_attributes == (
        ("service.name", "svc"), ("deployment.environment", "prod"), ("otel.scope.name", "lib"),
    )  # fmt: skip


def _trace(step_texts: list[str]) -> list[SpanFacts]:
    trace_id, root = random_trace_id(), random_span_id()
    spans = [
        make_span(
            trace_id, "invoke_agent a", span_id=root,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a",
                        "input.value": "the question", "app.tier": "gold"},
        )
    ]  # fmt: skip
    for i, text in enumerate(step_texts):
        spans.append(
            make_span(
                trace_id, f"execute_tool t{i}", parent_span_id=root,
                start_ns=1_700_000_000_000_000_000 + i + 1,
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"t{i}",
                            "gen_ai.tool.call.arguments": text, "app.step": i},
            )
        )  # fmt: skip
    scope = InstrumentationScope(name="s")
    return [span_facts(span, _resource(), scope) for span in spans]


def test_a_run_document_names_where_each_piece_came_from() -> None:
    facts = _trace(["first args", "second args"])
    [document] = run_documents(derive_trace(facts), {f.span_id: f for f in facts})
    assert document.body == "the question\nfirst args\nsecond args"
    assert [(s.offset, s.name, s.field) for s in document.segments] == [
        (0, "invoke_agent a", "input"), (13, "t0", "input"), (24, "t1", "input"),
    ]  # fmt: skip
    assert document.attributes["app.tier"] == ["gold"]
    assert document.attributes["app.step"] == [0, 1]
    assert document.attributes["otel.scope.name"] == ["s"]


def test_a_run_document_is_bounded() -> None:
    facts = _trace(["x" * 5000] * 20)
    [document] = run_documents(derive_trace(facts), {f.span_id: f for f in facts})
    assert len(document.body) <= DOCUMENT_CHARS
    pieces = document.body.split("\n")
    assert all(len(piece) <= SEGMENT_CHARS for piece in pieces)


def test_fold_keeps_offsets() -> None:
    assert fold("MÜNCHEN Straße") == "münchen straße"
    text = "İstanbul ABC"  # İ lowers to two characters: kept as it is
    assert len(fold(text)) == len(text)
    assert fold(text).endswith("abc")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("MÜNCHEN ist groß", "münchen ist groß"),
        ("今天北京的天气", "今天 天北 北京 京的 的天 天气"),
        ("東京の天気を", "東京 京の の天 天気 気を"),
        ("서울에서 날씨", "서울 울에 에서 날씨"),
        ("雨 iPhone用です", "雨 iphone 用で です"),
        ("カレー・ライス", "カレ レー ・ ライ イス"),  # the middle dot is not a letter
        ("order-12345 e-mail x-1", "order 12345 e-mail x 1"),
        ("the cat and the cat", "the cat and"),
        ("to user@example.com: see /var/log/a.log", "to user example.com: see var log a.log"),
    ],
)
def test_words_text(text: str, words: str) -> None:
    assert words_text(text) == words


def test_snippets_find_words_as_the_database_does() -> None:
    segments = [[0, "s", "run", "input"]]

    def marked(body: str, word: str) -> list[str]:
        fragments = snippet(body, segments, [word])["fragments"]
        return [f["text"] for f in fragments if f["match"]]

    assert marked("the Weather today", "weath") == ["Weather"]
    assert marked("Weather first", "weath") == ["Weather"]
    assert marked("xweather, weather", "weather") == ["weather"]
    assert marked("the redeployment", "deploy") == []
    assert marked("call get_weather now", "weather") == ["weather"]
    assert marked("mail User@Example.com.", "user@example.com") == ["User@Example.com"]
    assert marked("ticket order-12345", "12345") == ["12345"]
    assert marked("order was 12345", "order-12345") == ["order", "12345"]
    assert marked("今天北京的天气怎么样", "天气") == ["天气"]
    assert marked("用iPhone", "iphone") == ["iPhone"]


def test_snippets_mark_every_occurrence_in_the_first_matching_segment() -> None:
    body = "intro text\n" + "a" * 100 + " Needle and needle " + "b" * 200
    segments = [[0, "s1", "run", "input"], [11, "s2", "step", "output"]]
    found = snippet(body, segments, ["needle"])
    assert (found["span_id"], found["name"], found["field"]) == ("s2", "step", "output")
    fragments = found["fragments"]
    assert fragments[0] == {"text": "…", "match": False}
    assert [f["text"] for f in fragments if f["match"]] == ["Needle", "needle"]
    assert fragments[-1] == {"text": "…", "match": False}
    assert snippet(body, segments, ["absent"])["fragments"] == []


@pytest.mark.parametrize(
    ("q", "words"),
    [
        ("Password RESET", ("password", "reset")),
        ('"reset my password" now', ("reset my password", "now")),
        ("天气  北京", ("天气", "北京")),
        ("dup DUP", ("dup",)),
        ("it's & ! weather", ("it's", "weather")),
    ],
)
def test_query_words(q: str, words: tuple[str, ...]) -> None:
    assert search_words(q) == words


@pytest.mark.parametrize(
    "q", ["", "  ", '""', "x" * 201, " ".join("abcdefghi"), "a\x00", "&|!", "' \\ :*"]
)
def test_bad_queries(q: str) -> None:
    with pytest.raises(RequestValidationError):
        search_words(q)


def test_the_digest_marks_the_format_of_the_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new words format changes every row's digest, so a derivation rewrites old rows."""
    from storage import search_index

    facts = _trace(["args"])
    [document] = run_documents(derive_trace(facts), {f.span_id: f for f in facts})
    before = search_index._Row(b"t" * 16, document).digest
    monkeypatch.setattr(search_index, "WORDS_FORMAT", search_index.WORDS_FORMAT + 1)
    assert search_index._Row(b"t" * 16, document).digest != before
