# Two commands on a fresh machine: `make preview` and `make test`. Each creates what it needs.
PYTHON ?= python3
STACK ?= prod
OUT ?= build/$(STACK)
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
# Every stack of the repo, one Pulumi.<stack>.yaml each.
STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))

.PHONY: preview preview-all report review lint test scan bench docs clean

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

## preview: the offline preview of $(STACK): resource tree, preview.json, then the policy pack and
## checkov over it (exit 1 when an unwaived mandatory violation, or with --strict an undecided
## mandatory check, would block the deploy). To report on the real CLI, use
## `pulumi preview --json --show-sames`: without it only changed resources are listed.
preview: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m scripts.engine.preview --stack $(STACK) --out $(OUT)
	$(PY) -m scripts.report.policy_report $(OUT)/preview.json --with-checkov --format text --strict

## preview-all: `make preview` for every Pulumi.<stack>.yaml (each into build/<stack>); all are
## previewed even when one is blocked, and the target fails if any was
preview-all: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	@failed=""; for stack in $(STACKS); do \
	  echo "== $$stack"; \
	  $(MAKE) --no-print-directory preview STACK=$$stack OUT=build/$$stack || failed="$$failed $$stack"; \
	done; \
	if [ -n "$$failed" ]; then echo "preview-all: blocked or failed:$$failed" >&2; exit 1; fi

## report: the policy + checkov report in FORMAT (text, markdown, json, sarif, junit, html)
FORMAT ?= html
report: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	test -f $(OUT)/preview.json || $(PY) -m scripts.engine.preview --stack $(STACK) --out $(OUT) >/dev/null
	$(PY) -m scripts.report.policy_report $(OUT)/preview.json --with-checkov --format $(FORMAT) --out $(OUT)/report.$(FORMAT) --summary
	@echo "Wrote $(OUT)/report.$(FORMAT)"

## review: the change review of the working tree against BASE (default origin/main): what it
## creates, updates, replaces and deletes, data-loss findings, policy delta (exit 1 when blocked)
BASE ?= origin/main
review: $(VENV)/.installed
	$(PY) -m scripts.review --base $(BASE) --stack $(STACK) --out $(OUT)/review

## scan: checkov alone on the converted prod plan, and on the repo's own workflows and secrets
scan: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	test -f $(OUT)/preview.json || $(PY) -m scripts.engine.preview --stack $(STACK) --out $(OUT) >/dev/null
	$(PY) -m scripts.checkov_bridge.scan $(OUT)/preview.json --out $(OUT)/checkov.json
	$(PY) -m scripts.checkov_bridge.scan --repo .

## lint: ruff (lint, then the format check) and mypy (strict on components/, stacks/ and the policy pack; see pyproject.toml)
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy components stacks policies/tradesense_policies

## test: lint, then the whole suite (moto server and PostgreSQL are started by the tests themselves)
test: lint $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m pytest

## bench: median wall times of the offline preview (prod and a 10x stack) and of the change review
bench: $(VENV)/.installed
	$(PY) -m scripts.engine.bench

## docs: regenerate the component reference, the policy catalogue and the live coverage table from the source
docs: $(VENV)/.installed
	$(PY) -m scripts.docgen.component_docs
	$(PY) -m scripts.docgen.policy_docs
	$(PY) -m scripts.docgen.live_coverage

clean:
	rm -rf build
