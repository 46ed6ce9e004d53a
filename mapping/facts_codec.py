"""``SpanFacts`` to and from plain dicts (stored as JSONB): an exact round trip.

Fields equal to their default are left out of the dict to keep the stored document small;
``facts_from_dict`` restores them. Keys it does not know (written by a newer version) are
ignored.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from mapping.model import ArtifactFacts, SpanFacts


def _layout(cls: type) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The required field names of a dataclass and the plain defaults of the others."""
    required = []
    defaults: dict[str, Any] = {}
    for f in fields(cls):
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
        else:
            required.append(f.name)
    return tuple(required), defaults


_FACTS_REQUIRED, _FACTS_DEFAULTS = _layout(SpanFacts)
_ARTIFACT_REQUIRED, _ARTIFACT_DEFAULTS = _layout(ArtifactFacts)
_FACTS_FIELDS = frozenset(_FACTS_REQUIRED) | _FACTS_DEFAULTS.keys()
_ARTIFACT_FIELDS = frozenset(_ARTIFACT_REQUIRED) | _ARTIFACT_DEFAULTS.keys()


def _artifact_to_dict(artifact: ArtifactFacts) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(artifact, name) for name in _ARTIFACT_REQUIRED}
    for name, default in _ARTIFACT_DEFAULTS.items():
        value = getattr(artifact, name)
        if value != default:
            out[name] = value
    return out


def facts_to_dict(f: SpanFacts) -> dict[str, Any]:
    """A JSON-ready dict of ``f`` (str, int, bool, None, dicts and lists only)."""
    out: dict[str, Any] = {name: getattr(f, name) for name in _FACTS_REQUIRED}
    for name, default in _FACTS_DEFAULTS.items():
        value = getattr(f, name)
        if value != default:
            out[name] = value
    if f.usage:
        out["usage"] = dict(f.usage)
    if f.artifacts:
        out["artifacts"] = [_artifact_to_dict(artifact) for artifact in f.artifacts]
    return out


def facts_from_dict(d: dict[str, Any]) -> SpanFacts:
    """The ``SpanFacts`` that ``facts_to_dict`` made ``d`` from."""
    values = {name: value for name, value in d.items() if name in _FACTS_FIELDS}
    values["usage"] = dict(d.get("usage") or {})
    values["artifacts"] = [
        ArtifactFacts(**{k: v for k, v in artifact.items() if k in _ARTIFACT_FIELDS})
        for artifact in d.get("artifacts") or ()
    ]
    return SpanFacts(**values)
