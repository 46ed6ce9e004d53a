"""Failure signatures: one deterministic key per way a run fails, so alike failures group.

A signature has four parts that say *what* failed and *how*: the failing step's kind, its name
(tool name, else model, else step name), its error type, and its error message with the parts
that vary from run to run replaced by placeholders (``message_template``). Its ``id`` is a
16-hex-digit hash of those four parts. The agent is kept beside them but is not hashed: one
tool failing the same way under several agents is one failure mode, listed with its agents
(group by ``(id, agent)`` for a per-agent view).

**Which step failed the run.** A run's steps may fail and be recovered from (a retried tool
call), so "the last failed step" is not always the cause. The rule, in order:

1. When the run has an error of its own (type or message), the cause is the last failed step
   whose error reached the run: same error type (when both say one) and a normalised message
   equal to the run's or contained in it (frameworks wrap: ``"tool x failed: <step message>"``).
   Only the last ``MAX_CANDIDATE_STEPS`` (100) failed steps are looked at.
2. When the run has an error that no failed step explains, the run's own error is the cause:
   kind ``"run"``, empty name (a step failed and was recovered from; the run failed later).
3. When the run says no error at all, the last failed step is the cause.
4. When nothing failed and the run says nothing, kind ``"run"`` with an empty error: still one
   deterministic signature ("failed without saying why").

**What is normalised** (``normalise_message``), each replaced by a placeholder: quoted values
(``'…'``, ``"…"``, backticks, typographic quotes, up to 256 characters inside) keeping their
quotes, URLs, email addresses, UUIDs, ISO-8601 timestamps and clock times, IPv4/IPv6 addresses
with ports, file paths (Unix with two or more segments, or starting ``~/``, ``./``, ``../``;
Windows drive paths), long mixed letter-and-digit ids (16+ characters), and numbers: every
run of digits (any script's) with its decimal separators, and hex ids (``0x…``, or 8+ hex
digits with a digit among them; a hex id may be all digits, so both become ``<num>``).
Whitespace runs become one space. At most ``MAX_SCANNED_CHARS`` of a message are read and the
template keeps at most ``MAX_TEMPLATE_CHARS``; normalising a template again leaves it as it is.

Signatures carry ``SIGNATURE_VERSION``: when these rules change, so do the ids (re-deriving
recomputes them; derived state is a function of the stored spans).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mapping.model import Run, Step

SIGNATURE_VERSION = 1
MAX_SCANNED_CHARS = 16384
"""The longest prefix of an error message that is read; the rest does not change a signature."""
MAX_TEMPLATE_CHARS = 1024
"""The longest normalised message kept in a signature."""
MAX_COMPONENT_CHARS = 256
"""The longest agent name, step name or error type kept in a signature."""
MAX_CANDIDATE_STEPS = 100
"""How many of the last failed steps are compared with the run's error to find the cause."""

RUN_KIND = "run"
"""The kind of a signature whose cause is the run's own error rather than one of its steps."""

_QUOTED = (
    r"(?<!\w)(?:'[^'\n]{0,256}'|\"[^\"\n]{0,256}\"|`[^`\n]{0,256}`"
    r"|‘[^’\n]{0,256}’|“[^”\n]{0,256}”|«[^»\n]{0,256}»|「[^」\n]{0,256}」)(?!\w)"
)
_URL = r"[A-Za-z][A-Za-z0-9+.\-]{0,15}://[^\s'\"<>`]+"
_EMAIL = r"[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63})+"
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?)?"
    r"(?:Z|[+\-][0-9]{2}:?[0-9]{2})?"
    r"|[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?"
)
_IPV4 = r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?::[0-9]{1,5})?(?![\w.])"
_IPV6 = r"(?<![\w:])\[?(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}\]?(?::[0-9]{1,5})?(?![\w:])"
_PATH = (
    r"(?<![\w.])(?:~|\.{1,2})?(?:/[\w.\-@+~%]+){2,}/?"
    r"|(?<![\w.])(?:~|\.{1,2})(?:/[\w.\-@+~%]+)+/?"
    r"|(?<!\w)[A-Za-z]:\\(?:[^\\\s:*?\"<>|]+\\?)+"
)
_HEX = r"(?<!\w)(?:0[xX][0-9A-Fa-f]+|(?=[A-Fa-f]*[0-9])[0-9A-Fa-f]{8,})(?!\w)"
_LONG_ID = r"(?<![\w\-])(?=[\w\-]*[0-9])(?=[\w\-]*[^\W\d_])[^\W_][\w\-]{15,}(?![\w\-])"
_NUMBER = r"\d+(?:[.,]\d+)*"

_VARIABLE = re.compile(
    "|".join(
        f"(?P<{name}>{pattern})"
        for name, pattern in [
            ("str", _QUOTED),
            ("url", _URL),
            ("email", _EMAIL),
            ("uuid", _UUID),
            ("ts", _TIMESTAMP),
            ("ip", _IPV4),
            ("ip6", _IPV6),
            ("path", _PATH),
            ("hex", _HEX),
            ("id", _LONG_ID),
            ("num", _NUMBER),
        ]
    )
)
# A hex id may be all digits, so hex ids and numbers share a placeholder.
_PLACEHOLDER_NAMES = {"ip6": "ip", "hex": "num"}
_WHITESPACE = re.compile(r"\s+")
_MAX_PASSES = 4


def _placeholder(match: re.Match[str]) -> str:
    kind = match.lastgroup or "str"
    if kind == "str":
        text = match.group()
        return f"{text[0]}<str>{text[-1]}"
    return f"<{_PLACEHOLDER_NAMES.get(kind, kind)}>"


def _one_pass(text: str) -> str:
    text = _VARIABLE.sub(_placeholder, text)
    return _WHITESPACE.sub(" ", text).strip()[:MAX_TEMPLATE_CHARS].strip()


def normalise_message(message: str | None) -> str:
    """``message`` with its variable parts replaced by placeholders (see the module doc)."""
    if not message:
        return ""
    text = _one_pass(message[:MAX_SCANNED_CHARS])
    # A replacement can bring two quotes or digits together into a new variable part; a few
    # passes reach the fixed point, which makes normalising a template a no-op.
    for _ in range(_MAX_PASSES):
        again = _one_pass(text)
        if again == text:
            break
        text = again
    return text


def _component(value: str | None) -> str:
    return _WHITESPACE.sub(" ", value or "").strip()[:MAX_COMPONENT_CHARS]


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What signatures need of one step of the run, in the run's step order."""

    kind: str  # tool, llm, agent (a sub-agent), retriever, ...
    name: str  # tool name, else model, else step name
    failed: bool
    error_type: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What signatures need of the run itself."""

    agent_name: str
    failed: bool
    error_type: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class FailureSignature:
    id: str  # 16 hex digits over (kind, name, error_type, message_template)
    kind: str  # the failing step's kind, or "run" when the run's own error is the cause
    name: str
    error_type: str
    message_template: str
    agent_name: str  # beside the signature, not part of its id
    step_position: int | None  # position of the failing step in the steps given; None: the run
    step_id: str | None = None  # the failing step's id, when built from derived steps
    version: int = SIGNATURE_VERSION

    @property
    def title(self) -> str:
        """One line for people: ``tool web_search: TimeoutError: read timed out after <num>s``."""
        head = f"{self.kind} {self.name}".strip()
        return ": ".join(part for part in (head, self.error_type, self.message_template) if part)


def signature_id(kind: str, name: str, error_type: str, message_template: str) -> str:
    """The stable hash id of a signature's parts (already normalised and capped)."""
    material = "\x1f".join([f"v{SIGNATURE_VERSION}", kind, name, error_type, message_template])
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _reached_run(step: StepOutcome, run_type: str, run_text: str) -> bool:
    """Whether ``step``'s error is plausibly the one the run reports (type and normalised
    message of the run given)."""
    step_type = _component(step.error_type)
    if step_type and run_type and step_type != run_type:
        return False
    step_text = normalise_message(step.error_message)
    if step_text and run_text:
        return step_text == run_text or (len(step_text) >= 8 and step_text in run_text)
    return bool(step_type and run_type)


def failing_step_position(run: RunOutcome, steps: Sequence[StepOutcome]) -> int | None:
    """The position in ``steps`` of the step that failed the run, None when it is the run's own
    error (the rule is in the module doc; only the last ``MAX_CANDIDATE_STEPS`` failed steps
    are compared with the run's error)."""
    failed = [position for position, step in enumerate(steps) if step.failed]
    if run.error_type or run.error_message:
        run_type, run_text = _component(run.error_type), normalise_message(run.error_message)
        for position in reversed(failed[-MAX_CANDIDATE_STEPS:]):
            if _reached_run(steps[position], run_type, run_text):
                return position
        return None
    return failed[-1] if failed else None


def failure_signature(run: RunOutcome, steps: Sequence[StepOutcome]) -> FailureSignature | None:
    """The signature of a failed run (None when the run did not fail). ``steps`` are the run's
    own steps (not its sub-runs'; a sub-agent appears as its ``agent`` step) in run order."""
    if not run.failed:
        return None
    position = failing_step_position(run, steps)
    if position is None:
        kind, name, error_type, message = RUN_KIND, "", run.error_type, run.error_message
    else:
        step = steps[position]
        kind, name, error_type, message = step.kind, step.name, step.error_type, step.error_message
    kind, name, error_type = _component(kind), _component(name), _component(error_type)
    template = normalise_message(message)
    return FailureSignature(
        id=signature_id(kind, name, error_type, template),
        kind=kind,
        name=name,
        error_type=error_type,
        message_template=template,
        agent_name=_component(run.agent_name),
        step_position=position,
    )


def step_outcome(step: Step) -> StepOutcome:
    """A derived step as signatures see it."""
    return StepOutcome(
        kind=step.kind,
        name=step.tool_name or step.model or step.name,
        failed=step.status == "FAILED",
        error_type=step.error_type,
        error_message=step.error_message,
    )


def signature_of_run(run: Run, steps: Sequence[Step]) -> FailureSignature | None:
    """The signature of a derived run, with ``step_id`` set when a step is the cause. ``steps``
    may include other runs' steps (they are skipped) and need not be sorted (they are taken in
    ``index`` order, and ``step_position`` counts the run's own steps in that order)."""
    own = sorted((step for step in steps if step.run_id == run.id), key=lambda step: step.index)
    outcome = RunOutcome(
        agent_name=run.agent_name,
        failed=run.status == "FAILED",
        error_type=run.error_type,
        error_message=run.error_message,
    )
    signature = failure_signature(outcome, [step_outcome(step) for step in own])
    if signature is None or signature.step_position is None:
        return signature
    return replace(signature, step_id=own[signature.step_position].id)
