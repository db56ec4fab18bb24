# One image for every role: api, worker and scheduler differ only by command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libgeos-dev curl \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY emergency ./emergency
COPY alerts ./alerts
COPY geo ./geo
COPY config ./config
RUN pip install .
ENV TYPHOON_CONFIG_DIR=/app/config
RUN useradd --system --uid 10001 typhoon
USER typhoon
EXPOSE 8000
CMD ["typhoon", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker", "--no-scheduler"]
