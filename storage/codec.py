"""How raw spans are kept: blocks of a trace's spans, compressed together.

A block is the spans of one trace that arrived in one request under one resource and scope:
their serialized protobufs, each preceded by its length (4 bytes, little-endian), compressed
as one zstd frame. Compressing a trace's spans together stores them in about three quarters of
the bytes that compressing them one by one takes (the keys and much of the text repeat), and
one row holds them all. A block written by the layout before blocks is one span's protobuf,
uncompressed; a serialized ``Span`` starts with field 1 (``trace_id``, tag byte 0x0A), never
with the zstd magic number, so the two are told apart without a column.

``compress`` and ``decompress`` are the same zstd for other stored bytes (search documents).
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Sequence

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSION_LEVEL = 3  # on blocks, levels 1 to 3 cost about the same; 3 is a little smaller
_LENGTH = struct.Struct("<I")

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


def encode_block(spans: Sequence[bytes]) -> tuple[bytes, int]:
    """The stored form of a block of serialized spans, and its content hash (a signed 64-bit
    integer over the uncompressed spans: the same spans in the same order hash alike).
    Releases the GIL while compressing."""
    framed = b"".join(_LENGTH.pack(len(span)) + span for span in spans)
    digest = hashlib.blake2b(framed, digest_size=8).digest()
    return _compressor().compress(framed), int.from_bytes(digest, "big", signed=True)


def compress(data: bytes) -> bytes:
    """``data`` as one zstd frame."""
    return _compressor().compress(data)


def decompress(stored: bytes) -> bytes:
    """The bytes of a zstd frame made by ``compress``."""
    return _decompressor().decompress(stored)


def decode_block(stored: bytes) -> list[bytes]:
    """The serialized spans of a stored block, in block order."""
    if stored[:4] != ZSTD_MAGIC:
        return [stored]  # a span of the layout before blocks
    framed = _decompressor().decompress(stored)
    spans = []
    position = 0
    end = len(framed)
    while position < end:
        (length,) = _LENGTH.unpack_from(framed, position)
        position += 4
        spans.append(framed[position : position + length])
        position += length
    return spans


def span_ids_of(span_ids: bytes) -> list[bytes]:
    """The 8-byte span ids a block's ``span_ids`` column holds, in block order."""
    return [span_ids[i : i + 8] for i in range(0, len(span_ids), 8)]
