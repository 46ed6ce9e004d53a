"""Print a captured scenario as a span tree, to read it before writing expected.json.

    python -m tests.fakes.show_spans tests/fixtures/langgraph/ok [--attributes]

One line per span, indented under its parent, in start order: arrival number, span id, name,
status, and the attributes that tell what a span is (``--attributes`` prints them all).
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from tests.fakes.otlp_bodies import trace_request

_TELLING = (
    "openinference.span.kind",
    "gen_ai.operation.name",
    "gen_ai.agent.name",
    "agent.name",
    "graph.node.id",
    "graph.node.parent_id",
    "tool.name",
    "gen_ai.tool.name",
    "llm.model_name",
    "gen_ai.request.model",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "metadata",
)
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _value(any_value: Any) -> Any:
    return json_format.MessageToDict(any_value).popitem()[1] if any_value.ListFields() else None


def _short(value: Any, width: int = 160) -> str:
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--attributes", action="store_true", help="print every attribute")
    args = parser.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    spans: dict[str, tuple[int, Any, Any]] = {}
    for number, body in enumerate(sorted(args.scenario.glob("*.body.bin")), start=1):
        request = trace_request(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans[span.span_id.hex()] = (number, span, resource_spans.resource)
    children: dict[str, list[str]] = {}
    for span_id, (_, span, _) in spans.items():
        parent = span.parent_span_id.hex()
        children.setdefault(parent if parent in spans else "", []).append(span_id)

    def start_of(span_id: str) -> int:
        return int(spans[span_id][1].start_time_unix_nano)

    def show(span_id: str, depth: int) -> None:
        number, span, _ = spans[span_id]
        attributes = {kv.key: _value(kv.value) for kv in span.attributes}
        status = _STATUS.get(span.status.code, str(span.status.code))
        if span.status.message:
            status += f" {span.status.message!r}"
        print(f"{'  ' * depth}#{number:02d} {span_id} {span.name!r} [{status}]")
        keys = attributes if args.attributes else [k for k in _TELLING if k in attributes]
        for key in keys:
            print(f"{'  ' * depth}      {key} = {_short(attributes[key])}")
        for event in span.events:
            names = {kv.key: _value(kv.value) for kv in event.attributes}
            print(f"{'  ' * depth}      event {event.name}: {_short(names, 120)}")
        for child in sorted(children.get(span_id, []), key=start_of):
            show(child, depth + 1)

    roots = sorted(children.get("", []), key=start_of)
    for root in roots:
        show(root, 0)


if __name__ == "__main__":
    main()
