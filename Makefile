# Two commands a fresh machine needs: `make run` and `make test`.
# Both create .venv and install what they need on their own.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
AWS_PORT ?= 4566

VENDORED := vendor/.installed

.PHONY: run test lint format bench vendor clean chromium package infra deploy stage-given

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	PORT=$(PORT) AWS_PORT=$(AWS_PORT) $(PY) -m infra.local

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: $(STAMP) $(VENDORED) lint chromium
	$(VENV)/bin/pytest -n 2 --dist loadgroup

# Browser tests drive Debian's Chromium through Playwright; Playwright's own browser download is never used.
chromium:
	@test -x /usr/bin/chromium || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# AWS calls, latency, cold start, package size and cost per endpoint (issue 6); under 5 minutes.
# Runs on the embedded AWS in-process, with dummy credentials: nothing reaches real AWS.
# Then the side-by-side with oidc-provider (issue 13; npm installs it into .local/compare on first use,
# and a machine without node or npm prints why it was not run).
bench: $(STAMP) $(VENDORED)
	$(PY) -m bench
	$(PY) -m bench --compare

# PynamoDB for the Lambda package without botocore (the Lambda runtime has it), at requirements-dev.txt's pin.
# Built, never committed: vendor/ is what chalice packages as it is.
vendor: $(VENDORED)

$(VENDORED): $(STAMP) requirements-dev.txt
	rm -rf vendor
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-compile --target vendor \
		"$$(grep -i '^pynamodb==' requirements-dev.txt)"
	touch $(VENDORED)

# Shipping to AWS (README "Deploying to AWS"); STAGE is dev or prod, as in .chalice/config.json.
# package: one SAM template with the app and infra/resources.yaml for a CI/CD pipeline, in build/$(STAGE)/.
# infra: what a plain `chalice deploy --stage $(STAGE)` needs first: the stack tollgate-$(STAGE), each function's
#   policy file with its ARNs, the stage's REST API and issuer recorded, and vendor/ (needs AWS credentials).
# deploy: infra, then chalice deploy, throttling, the execute-api endpoint off with a custom domain, first keys.
package: stage-given $(STAMP) $(VENDORED)
	$(PY) -m infra.package --stage $(STAGE) $(if $(ISSUER_URL),--issuer-url $(ISSUER_URL))

infra: stage-given $(STAMP) $(VENDORED)
	$(PY) -m infra.deploy --stage $(STAGE) --infra-only

deploy: stage-given $(STAMP) $(VENDORED)
	$(PY) -m infra.deploy --stage $(STAGE)

stage-given:
	@test -n "$(STAGE)" || { echo "STAGE is required: make $(MAKECMDGOALS) STAGE=dev|prod" >&2; exit 2; }

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) vendor .local .pytest_cache .ruff_cache
