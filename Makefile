# Threadline: `make run` starts the platform, `make test` runs every test. Both set up what
# they need first (uv, then the locked workspace), so a fresh clone needs nothing else.

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
SYNCED := .venv/.threadline-synced

.PHONY: setup run demo test test-unit test-integration test-browser lint protos protos-check bench fuzz chaos clean

setup: $(SYNCED)

$(SYNCED): pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --all-packages
	@touch $@

run: setup ## the whole platform on this machine (embedded NATS and PostgreSQL, sandbox)
	$(UV) run threadline up

demo: setup ## play a customer against `make run` (in another shell)
	$(UV) run threadline demo

test: setup ## unit, integration and end-to-end tests (starts embedded servers itself)
	$(UV) run pytest --ignore=tests/browser

test-unit: setup ## only the tests that need no server (none starts; see threadline.testing.plugin)
	$(UV) run pytest -m "not integration" --ignore=tests/browser

test-integration: setup ## only the tests that need NATS and PostgreSQL
	$(UV) run pytest -m integration --ignore=tests/browser

# Debian's chromium (`apt-get install -y chromium`; .ci/run installs it); no browser download.
test-browser: setup ## the console in headless Chromium (Playwright) against the whole platform
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(UV) run pytest tests/browser

lint: setup ## ruff and mypy --strict on our code
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy libs/*/src services/*/src

protos: setup ## regenerate libs/contracts from protos/
	$(UV) run python scripts/gen_protos.py

protos-check: setup ## fail when the committed generated code is stale
	$(UV) run python scripts/gen_protos.py --check

bench: setup ## throughput and latency figures (see docs/benchmarks.md)
	$(UV) run python -m tests.bench

FUZZ_MINUTES ?= 30
fuzz: setup ## hostile webhooks, gateway and gRPC requests against the whole platform (bounded)
	$(UV) run python -m tests.fuzz --webhooks 50000 --requests 10000 --max-minutes $(FUZZ_MINUTES) $(FUZZ_ARGS)

chaos: setup ## fault test: every part SIGKILLed under load, then every count must agree (CHAOS_ARGS=--help)
	$(UV) run python -m tests.chaos $(CHAOS_ARGS)

clean:
	rm -rf .threadline .venv .pytest_cache .mypy_cache .ruff_cache
