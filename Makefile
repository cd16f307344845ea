# Two commands on a fresh machine: `make preview` and `make test`. Each creates what it needs.
PYTHON ?= python3
STACK ?= prod
OUT ?= build/$(STACK)
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov

.PHONY: preview test scan bench docs clean

# The main environment: pulumi, pulumi-aws, the policy SDK, boto3, pytest, moto.
$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# checkov cannot share a venv with pulumi (packaging and boto3 pins), so it gets its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt constraints-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	touch $@

## preview: the offline preview of $(STACK): resource tree, preview.json, policy and checkov results
preview: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m scripts.preview --stack $(STACK) --out $(OUT)

## test: the whole suite (moto server and PostgreSQL are started by the tests themselves)
test: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m pytest

## bench: median wall times of the offline preview (prod and a 10x stack)
bench: $(VENV)/.installed
	$(PY) -m scripts.bench

## docs: regenerate the component reference from the source
docs: $(VENV)/.installed
	$(PY) -m scripts.component_docs

clean:
	rm -rf build
