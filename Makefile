# Two commands for a newcomer: `make run` and `make test`. See README.md.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
# The website widget's socket.io client, vendored from the pinned npm package.
WIDGET_VENDOR := channels/webchat_static/vendor/socket.io.min.js
export PYTHONPATH := $(CURDIR)
export BUSINESS_PROFILE ?= $(CURDIR)/business.yml
export CRM_DB_URL ?= sqlite:///$(CURDIR)/var/crm.db
export TRACKER_STORE_URL ?= sqlite:///$(CURDIR)/var/tracker.db
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: run test install train check lint bench clean widget

run: install train
	@scripts/run.sh

test: install
	$(BIN)/python -m pytest $(ARGS)

install: $(VENV)/.installed $(WIDGET_VENDOR)

widget: $(WIDGET_VENDOR)

$(WIDGET_VENDOR): widget/package.json widget/package-lock.json
	@scripts/build_widget.sh

$(VENV)/.installed: requirements.lock
	@test -x $(BIN)/python || { py=$$(scripts/find_python.sh) && "$$py" -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	@touch $@

check: install
	@$(BIN)/python -m business check

# Rasa's own fingerprint decides whether anything changed since the last model.
train: check
	@mkdir -p var models
	@$(BIN)/python scripts/profile_nlu.py >/dev/null
	@echo "Training the model if anything changed (log: var/train.log)..."
	@$(BIN)/rasa train --fixed-model-name booking --out models >var/train.log 2>&1 \
		|| { tail -n 30 var/train.log; echo "Training failed; see var/train.log."; exit 1; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/booking_dialogues.py

clean:
	rm -rf models var results .rasa
