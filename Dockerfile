# Production image: non-root, migrations on start, gunicorn managing uvicorn workers.
#   docker build -t delphi-consensus .     (or `docker compose up -d`, see compose.yaml and README)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DELPHI_ENVIRONMENT=production

# WeasyPrint (the PDF report) needs Pango and HarfBuzz's subsetter; the CJK font renders the
# Chinese texts; PostgreSQL's client programs let `delphi backup`/`restore` run in the container.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk postgresql-client \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --user-group delphi
WORKDIR /srv/delphi

# Dependencies first (this layer is reused until pyproject.toml changes); not the test extra.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

# The app runs from this folder (templates/, migrations/ and alembic.ini are found beside app/).
COPY README.md alembic.ini gunicorn.conf.py ./
COPY app ./app
COPY templates ./templates
COPY migrations ./migrations
RUN pip install --no-deps -e . \
    && pybabel compile -d app/translations \
    && mkdir -p var && chown delphi:delphi var

USER delphi
EXPOSE 8000
# Liveness only (no database access); compose.yaml and load balancers use /readyz for readiness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# Migrate, then hand the process over to gunicorn (settings: gunicorn.conf.py; WEB_CONCURRENCY
# workers, default 2). With several replicas, run `delphi db upgrade` once as a release step.
CMD ["sh", "-c", "delphi db upgrade && exec gunicorn --config gunicorn.conf.py"]
