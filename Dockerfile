# syntax=docker/dockerfile:1

# ---- builder: a virtualenv with the exact pins of requirements.lock, then the bot's wheel ----
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# Dependencies first, so editing the bot's code does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock

# The same artifact as `pip install` users get (and tests/integration/packaging/test_wheel.py
# runs): a wheel, with the migrations inside it, and the sandbox (failover_sandbox) beside the bot.
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY failover_sandbox ./failover_sandbox
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
    && pip install --no-cache-dir --no-deps /dist/failover_bot-*.whl \
    && pip check

# The image carries only the product: the sandbox (a fake Slack, a simulated fleet) goes, and
# the build fails if it can still be imported; `failover-bot sandbox` then says it is missing.
# -I: the check looks at the virtualenv only, not at /src's own failover_sandbox folder (the
# working directory, which a plain `python -c` puts first on sys.path).
RUN rm -r /opt/venv/lib/python3.11/site-packages/failover_sandbox \
    && python -I -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('failover_sandbox') is not None)"

# ---- runtime: the virtualenv (bot, migrations; no sandbox), a non-root user; no pip cache ----
FROM python:3.11.13-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="failover-bot" \
      org.opencontainers.image.description="Slack chat-ops bot for Azure IoT Hub manual failover" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}" \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/failover-bot.db

# Numeric IDs, so Kubernetes can verify runAsNonRoot without resolving a user name.
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown 10001:10001 /data

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv

# Only the SQLite fallback writes here; production sets DATABASE_URL to PostgreSQL.
VOLUME ["/data"]

USER 10001:10001
EXPOSE 3000

# The slim image has no curl: ask Python. A non-2xx answer or no answer exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

ENTRYPOINT ["failover-bot"]
CMD ["serve"]
