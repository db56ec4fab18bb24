# One image for every role: api, worker, scheduler and the migrate job differ only by command.
# The base is pinned (a tag of a fixed Python and Debian release); rebuild to take its fixes.
FROM python:3.11.10-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libgeos-dev curl \
    && rm -rf /var/lib/apt/lists/*
# The dependencies come from the lock (pinned versions, hashes checked) in a layer of their own;
# the project is installed on top of them without resolving anything.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY emergency ./emergency
COPY alerts ./alerts
COPY geo ./geo
COPY config ./config
RUN pip install --no-deps . && pip check
ENV TYPHOON_CONFIG_DIR=/app/config TYPHOON_DATA_DIR=/var/lib/typhoon
# The service's user owns its data directory: a named volume mounted there starts as a copy
# of it (owner included), so the API replicas can write field photos into it.
RUN useradd --system --uid 10001 typhoon \
    && mkdir -p /var/lib/typhoon /var/lib/typhoon-anchor \
    && chown typhoon:typhoon /var/lib/typhoon /var/lib/typhoon-anchor
USER typhoon
EXPOSE 8000
CMD ["typhoon", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker", "--no-scheduler", "--no-migrate"]
