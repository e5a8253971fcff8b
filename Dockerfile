# Production image: non-root, migrations on start, served by uvicorn.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DELPHI_ENVIRONMENT=production
WORKDIR /srv/delphi
RUN useradd --create-home --uid 10001 delphi
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY templates ./templates
COPY migrations ./migrations
RUN pip install --no-cache-dir -e . && pybabel compile -d app/translations \
    && mkdir -p var && chown delphi var
USER delphi
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "delphi db upgrade && delphi serve --host 0.0.0.0 --port 8000"]
