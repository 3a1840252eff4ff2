# The two commands every user needs: `make run` and `make test`. Everything else is a step of theirs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
RASA    := $(VENV)/bin/rasa
STAMP   := $(VENV)/.installed
SPACY   := build/spacy-zh-regions/meta.json
REGIONS := build/regions.json
MODEL   := models/.trained
REGISTRY_DB := var/card_registry.sqlite3
WEB_ASSETS := web/node_modules/.package-lock.json

# Quiet TensorFlow, no telemetry (no internet here), and Rasa's own imports of our components.
export TF_CPP_MIN_LOG_LEVEL ?= 2
export RASA_TELEMETRY_ENABLED ?= false
export PYTHONPATH := $(CURDIR)
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1

# Everything the trained model depends on: the training data and configuration, the spaCy pipeline,
# the custom components and the core modules they run (text cleaning, region table, shared names).
MODEL_CODE := $(wildcard components/*.py) $(addprefix core/,dialogue.py knowledge.py language.py regions.py text_input.py topic_model.py)
TRAINING_INPUTS := config.yml domain.yml $(shell find data knowledge -type f -name '*.yml' 2>/dev/null) $(SPACY) $(MODEL_CODE)

.PHONY: help setup run run-cluster test-cluster test train shell evaluate crossval compare-classifiers compare-policies lint typecheck validate test-stories pytest bench bench-train handbook staff-user export-reviewed clean
help:
	@echo "make run       set up (venv, spaCy pipeline, registry, model) and start the assistant"
	@echo "make test      set up and run every test (data validation, pytest, test stories)"
	@echo "make staff-user USER=name   create a staff account for the staff pages (asks for its password)"
	@echo "make export-reviewed        write the review queue's assigned questions to data/nlu/<lang>/reviewed.yml"
	@echo "make run-cluster | test-cluster | train | shell | evaluate | crossval | compare-classifiers | compare-policies | lint | typecheck | bench | bench-train | handbook | clean"

$(STAMP): requirements.txt
	@PY310="$$(scripts/find-python310)" && { [ -x $(PY) ] || "$$PY310" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip==24.2
	$(PY) -m pip install --quiet --no-deps -r requirements.txt
	$(PY) -m pip check
	@touch $@

# The region table, computed once (pinyin of every division): the processes read it instead of loading
# pypinyin's 46 MB phrase dictionary each (core/regions.py).
$(REGIONS): $(STAMP) core/regions.py
	$(PY) -m core.regions $(REGIONS)

$(SPACY): $(STAMP) $(REGIONS) scripts/build_spacy_model.py core/regions.py components/region_entities.py
	$(PY) scripts/build_spacy_model.py build/spacy-zh-regions

$(REGISTRY_DB): $(STAMP) data/registry/sample_cards.csv core/import_cards.py core/card_registry.py core/identity.py
	@mkdir -p var
	$(PY) -m core.import_cards data/registry/sample_cards.csv --url sqlite:///$(REGISTRY_DB)

# Browser assets of the chat page (socket.io-client) from the npm registry, as locked.
$(WEB_ASSETS): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --silent

setup: $(STAMP) $(REGIONS) $(SPACY) $(REGISTRY_DB) $(WEB_ASSETS)

$(MODEL): $(STAMP) $(TRAINING_INPUTS)
	$(RASA) train --fixed-model-name activation --out models
	@touch $@

train: setup $(MODEL)

run: setup $(MODEL)
	@echo "Starting: actions on :5055, Rasa on :5005 (REST: POST http://localhost:5005/webhooks/rest/webhook)"
	@echo "Chat page: http://localhost:8080/   Staff reference desk: http://localhost:8080/staff   (Ctrl-C stops all)"
	exec $(VENV)/bin/honcho start -f Procfile

# Two Rasa servers and two action servers behind HAProxy on http://127.0.0.1:5000 (needs haproxy,
# PostgreSQL and Redis; deploy/README.md). Ctrl-C stops them all.
run-cluster: setup $(MODEL)
	exec scripts/run-cluster

# The cluster tests alone (make pytest runs them too; REQUIRE_CLUSTER=1 makes a missing piece fail).
test-cluster: setup $(MODEL)
	$(PY) -m pytest -q tests/cluster

shell: setup $(MODEL)
	@$(PY) -m actions.server --port 5055 --actions actions > var/actions-shell.log 2>&1 & pid=$$!; \
	trap "kill $$pid" EXIT; \
	until curl -sf localhost:5055/health >/dev/null; do kill -0 $$pid 2>/dev/null || exit 1; sleep 1; done; \
	$(RASA) shell --model models --endpoints endpoints.yml

validate: $(STAMP)
	$(RASA) data validate --fail-on-warnings --config config.yml --domain domain.yml --data data

pytest: setup $(MODEL)
	$(PY) -m pytest -q tests

test-stories: setup $(MODEL)
	$(RASA) test core --model models --stories tests/stories --e2e --fail-on-prediction-errors --out results/stories

test: setup validate $(MODEL) pytest test-stories

evaluate: setup $(MODEL)
	$(PY) scripts/evaluate.py --topics

crossval: setup
	$(RASA) test nlu --nlu data/nlu --cross-validation --folds 3 --config config.yml --out results/crossval

CODE_DIRS := core actions components channels tracker_store web scripts tests

lint: $(STAMP)
	$(VENV)/bin/ruff check $(CODE_DIRS)
	$(VENV)/bin/ruff format --check $(CODE_DIRS)

# mypy's settings (which packages, how strict) are in pyproject.toml.
typecheck: $(STAMP)
	$(VENV)/bin/mypy

compare-classifiers: setup $(MODEL)
	$(PY) scripts/compare_classifiers.py

compare-policies: setup
	$(PY) scripts/compare_policies.py

# Speed and memory, side by side with a stock `rasa init` bot in the same run (about 7 minutes).
bench: setup $(MODEL)
	$(PY) scripts/bench.py

bench-train: setup
	$(PY) scripts/bench_train.py

handbook: $(STAMP)
	$(PY) scripts/build_handbook.py
	@echo "Printable handbook: build/handbook.html"

# A login for the staff pages (/staff…); no account ships. Asks for the password twice (STAFF_PASSWORD
# for scripts); `python -m web.staff_users passwd|disable|enable|unlock NAME`, `... list` for the rest.
staff-user: $(STAMP)
	@if [ "$(origin USER)" != "command line" ]; then echo "usage: make staff-user USER=name" >&2; exit 2; fi
	$(PY) -m web.staff_users add "$(USER)"

# Questions staff assigned a topic in the review queue (/staff/review) → data/nlu/zh|en/reviewed.yml
# (merged, never duplicated); review and commit them, then `make train` learns them.
export-reviewed: $(STAMP)
	$(PY) scripts/export_reviewed.py

clean:
	rm -rf models build results var .pytest_cache

# `make print-VARIABLE` shows a variable's value (the tests read MODEL_CODE this way).
print-%:
	@echo $($*)
