# Two commands: `make run` serves the demo; `make test` checks everything. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

MO := app/translations/zh_Hans/LC_MESSAGES/messages.mo

.PHONY: run test lint typecheck pytest bench install migrate demo clean translations extract-messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) $(MO)

# UI translations: `make extract-messages` after changing marked strings, then translate the .po.
$(MO): app/translations/zh_Hans/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -d app/translations

translations: $(MO)

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -c Translators: --sort-output --no-wrap \
		--project "Delphi consensus" -o app/translations/messages.pot .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-wrap

migrate: $(STAMP) $(MO)
	$(BIN)/delphi db upgrade

demo: migrate
	DELPHI_BASE_URL=http://$(HOST):$(PORT) $(BIN)/delphi demo

run: demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl+C stops)"
	DELPHI_BASE_URL=http://$(HOST):$(PORT) $(BIN)/delphi serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
# With TEST_DATABASE_URL the two engines run side by side (separate databases), then both logs.
pytest: $(STAMP) $(MO)
	@if [ -z "$$TEST_DATABASE_URL" ]; then exec $(BIN)/pytest; fi; \
	logs=$$(mktemp -d); \
	echo "--- SQLite and PostgreSQL ($$TEST_DATABASE_URL) side by side"; \
	env -u TEST_DATABASE_URL $(BIN)/pytest -p no:cacheprovider > $$logs/sqlite.log 2>&1 & lite=$$!; \
	$(BIN)/pytest -p no:cacheprovider > $$logs/postgresql.log 2>&1; pg=$$?; \
	wait $$lite; sqlite=$$?; \
	echo "--- SQLite"; cat $$logs/sqlite.log; \
	echo "--- PostgreSQL"; cat $$logs/postgresql.log; \
	rm -rf $$logs; \
	test $$sqlite -eq 0 -a $$pg -eq 0

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.close_round
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.exports
	$(BIN)/python -m bench.report_pdf
	$(BIN)/python -m bench.heavy

# The sample consensus report of the finished demo study (PNG pages need poppler-utils).
.PHONY: sample-report
sample-report: $(STAMP) $(MO)
	$(BIN)/python -m app.tools.report_demo docs/sample-report

clean:
	rm -rf $(VENV) var/*.sqlite3* .mypy_cache .ruff_cache .hypothesis
