# The platform image: the Dagster code location (fraud_assets), the webserver and the daemon.
#
#   docker build -t fraud-platform .
#   docker run -p 3000:3000 -v fraud-state:/var/lib/fraud fraud-platform      # all in one
#
# One image, three roles. The default command runs all three in one container (as
# `make demo` does on a laptop). To run them as separate containers sharing one instance
# (PostgreSQL storage in $DAGSTER_HOME/dagster.yaml), override the command:
#   code location: dagster code-server start -h 0.0.0.0 -p 4000 -m fraud_assets.definitions
#   webserver:     dagster-webserver -h 0.0.0.0 -p 3000 -w /path/to/workspace.yaml
#   daemon:        dagster-daemon run -w /path/to/workspace.yaml
# where that workspace.yaml loads `grpc_server: {host: <code location>, port: 4000}`.
# Inside a container the servers listen on 0.0.0.0 so that published ports reach them.
#
# The fraud API itself ships as its own image: the `fraud_bento` asset builds the Bento,
# and `bentoml containerize <tag>` turns it into one.
#
# Not built on the development machines (no container engine there).

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    FRAUD_HOME=/var/lib/fraud \
    DAGSTER_HOME=/var/lib/fraud/dagster
# Telemetry: off in every process that imports fraud_assets (settings.disable_telemetry),
# and in the Dagster instance by the dagster.yaml written below.

# The uv that wrote uv.lock; the environment is installed from the lock file exactly.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /opt/fraud-platform

# Dependencies first: this layer is rebuilt only when the lock changes, not on code edits.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# The project (installed editable: settings.REPO_ROOT must stay this folder, where
# feature_repo/, serving/ and uv.lock live for the Feast and Bento assets).
COPY workspace.yaml ./
COPY fraud_assets ./fraud_assets
COPY feature_repo ./feature_repo
COPY serving ./serving
RUN uv sync --frozen --no-dev

# State (Dagster instance, MLflow, Feast, lake, Bento store) lives in one volume, owned by
# an unprivileged user; dagster.yaml (telemetry off, one run at a time) is written now.
RUN useradd --create-home --uid 1000 fraud \
    && python -c "from fraud_assets.orchestration.instance import ensure_dagster_home; ensure_dagster_home()" \
    && chown -R fraud:fraud /var/lib/fraud
USER fraud
VOLUME ["/var/lib/fraud"]

EXPOSE 3000 4000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/server_info', timeout=4)"

CMD ["dagster", "dev", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
