"""How a raw span's bytes are kept: a zstd frame of the protobuf, or the protobuf itself.

A serialized ``Span`` always starts with field 1 (``trace_id``, tag byte 0x0A) because ingest
rejects spans without one, so the zstd magic number tells the two apart without a column.
Rows written before compression existed stay as they are and read the same.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSION_LEVEL = 1  # fast; levels up to 3 gain under 1% on spans

# zstd contexts must not be used by two threads at once: one per thread.
_contexts = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    compressor: zstandard.ZstdCompressor | None = getattr(_contexts, "compressor", None)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL, write_content_size=True)
        _contexts.compressor = compressor
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_contexts, "decompressor", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _contexts.decompressor = decompressor
    return decompressor


def compress_spans(spans: Sequence[bytes]) -> list[bytes]:
    """The stored form of each serialized span. Releases the GIL while compressing."""
    compress = _compressor().compress
    return [compress(span) for span in spans]


def decompress_span(stored: bytes) -> bytes:
    """The serialized span of a stored value, compressed or not."""
    if stored[:4] == ZSTD_MAGIC:
        return _decompressor().decompress(stored)
    return stored
