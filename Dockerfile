# syntax=docker/dockerfile:1
# Build stage: install the project and its dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY migrations ./migrations
# Editable, so the package finds alembic.ini and migrations/ beside it in /app.
RUN /opt/venv/bin/pip install -e '.[postgres]'

# Runtime stage: the venv and the migrations, run as an unprivileged user.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FTM_DATABASE_URL=sqlite:////data/ftmatrix.db
RUN useradd --system --uid 10001 --home-dir /app ftmatrix \
    && mkdir -p /data && chown ftmatrix /data
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
USER ftmatrix
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
# Alone (SQLite in the /data volume): migrate, install FTM_ADMIN_KEY if given, serve.
CMD ["sh", "-c", "ftmatrix bootstrap && exec ftmatrix serve --host 0.0.0.0 --port 8000"]
