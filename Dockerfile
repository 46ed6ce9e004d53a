# AgentGuide: OTLP/gRPC on 4317, one HTTP port on 4318 (OTLP/HTTP, query API, viewer).
#   docker build -t agentguide .
#   docker run -p 4317:4317 -p 4318:4318 -e AGENTGUIDE_DATABASE_URL=postgresql://... agentguide
# Without AGENTGUIDE_DATABASE_URL the container runs the embedded PostgreSQL in the
# /var/lib/agentguide volume.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: AgentGuide's wheel, installed with its dependencies into a virtualenv -----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agentguide ./agentguide
COPY receiver ./receiver
COPY mapping ./mapping
COPY storage ./storage
COPY api ./api
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/agentguide \
 && /opt/agentguide/bin/pip install /wheels/agentguide-*.whl

# --- runtime: the same slim Python, the virtualenv, a user without privileges -----------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/agentguide/bin:$PATH
RUN groupadd --system --gid 10001 agentguide \
 && useradd --system --uid 10001 --gid agentguide --no-log-init \
        --home-dir /var/lib/agentguide --create-home --shell /usr/sbin/nologin agentguide
COPY --from=build /opt/agentguide /opt/agentguide

# Bind every interface inside the container; the database comes from the environment.
ENV AGENTGUIDE_HOST=0.0.0.0 \
    AGENTGUIDE_GRPC_PORT=4317 \
    AGENTGUIDE_HTTP_PORT=4318 \
    AGENTGUIDE_DATA_DIR=/var/lib/agentguide/pgdata

# PostgreSQL (embedded mode) refuses to run as root, and nothing here needs root.
USER agentguide
WORKDIR /var/lib/agentguide
VOLUME ["/var/lib/agentguide"]

EXPOSE 4317 4318

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('AGENTGUIDE_HTTP_PORT', '4318'), timeout=2)"]

# docker stop sends SIGTERM: in-flight exports finish before the process exits.
STOPSIGNAL SIGTERM
CMD ["agentguide", "serve", "--host", "0.0.0.0"]
