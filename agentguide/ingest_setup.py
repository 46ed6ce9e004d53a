"""The ingest service as ``serve`` configures it: limits, API keys and rate limits."""

from __future__ import annotations

from agentguide.config import ServeSettings
from agentguide.memory import release_free_memory, tune_allocator
from receiver.auth import Authenticator, AuthMode
from receiver.decoding import Decoder
from receiver.limits import IngestLimits
from receiver.metrics import ServerMetrics
from receiver.rate_limit import RateLimiter
from receiver.service import IngestService
from storage.keys import KeyStore
from storage.store import Store


def build_ingest_service(store: Store, settings: ServeSettings) -> IngestService:
    keys = KeyStore(store.pool) if settings.auth is AuthMode.REQUIRED else None
    return IngestService(
        store,
        IngestLimits(
            max_request_bytes=settings.max_request_bytes,
            max_inflight_bytes=settings.max_inflight_bytes,
            max_concurrent_exports=settings.max_concurrent_exports,
            admission_wait_s=settings.admission_wait_s,
            max_spans_per_request=settings.max_spans_per_request,
        ),
        authenticator=Authenticator(settings.auth, keys),
        rate_limiter=RateLimiter(settings.rate_limits),
        metrics=ServerMetrics(),
        decoder=Decoder(tune_memory=tune_allocator, release_memory=release_free_memory),
    )
