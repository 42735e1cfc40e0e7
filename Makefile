# Every target creates .venv and installs what it needs first.
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR := $(CURDIR)/demo-output
APP_PORT ?= 5151

# The demo and `make app` start their own database server on 127.0.0.1 with
# its data in demo-output/fiftyone-db (fiftyone_plugin/private_db.py), never
# joining the user's, and see this checkout as their only plugin.
DEMO_ENV := FIFTYONE_DEFAULT_DATASET_DIR=$(DEMO_DIR)/datasets \
	FIFTYONE_PLUGINS_DIR=$(DEMO_DIR)/plugins \
	FIFTYONE_DO_NOT_TRACK=true FIFTYONE_DATABASE_VALIDATION=false \
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2}

.PHONY: setup test demo app bench bench-quick clean

setup:
	@bash scripts/setup_env.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	@mkdir -p $(DEMO_DIR)/plugins && ln -sfn $(CURDIR) $(DEMO_DIR)/plugins/data-explorer
	$(DEMO_ENV) $(PY) -m fiftyone_plugin.demo --out $(DEMO_DIR) --app-port $(APP_PORT)

app: setup
	@mkdir -p $(DEMO_DIR)/plugins && ln -sfn $(CURDIR) $(DEMO_DIR)/plugins/data-explorer
	$(DEMO_ENV) $(PY) -m fiftyone_plugin.demo --app-only --out $(DEMO_DIR) --app-port $(APP_PORT)

bench: setup
	$(PY) bench/run.py

bench-quick: setup
	$(PY) bench/run.py --quick

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
