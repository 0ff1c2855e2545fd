# Two commands do all the set-up: `make demo` and `make test` (each bootstraps on first use).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
ENV := source tools/env.sh &&
APE := $(ENV) ape
PYTEST_OPTS ?= -q -p no:cacheprovider
ANVIL_NET := ethereum:local:foundry

.PHONY: setup test lint typecheck unit anvil-suite compile demo demo-llm bench fuzz clean browser reliability

setup:
	@bash tools/bootstrap.sh

# ape compile, then ship the protocol ABIs and bytecode inside the package (node/abi).
compile: setup
	@$(APE) compile --force
	@$(ENV) poc devnet export-abi > /dev/null

lint: setup
	@$(ENV) ruff check node poc_lab tests scripts tools
	@$(ENV) ruff format --check node poc_lab tests scripts tools || (echo "run: source tools/env.sh && ruff format node poc_lab tests scripts tools"; exit 1)

typecheck: setup
	@$(ENV) mypy

# Debian's chromium + chromedriver for the explorer's browser tests (skipped where none can be had).
browser:
	@bash scripts/install_browser.sh

# Unit tests on ape's embedded chain (eth-tester); integration tests need real anvil / IPFS.
# The roles suite (daemons playing whole games) runs once, on anvil, in `anvil-suite`: its
# fixtures work on either chain, and there it takes about 5 minutes where py-evm's step
# execution takes several times that (`ape test tests/node/roles` runs it on the embedded chain).
unit: compile browser
	@$(APE) test tests $(PYTEST_OPTS) -m "not integration and not slow" --ignore tests/node/roles

# The contract scenarios again on a real anvil (started and stopped by ape-foundry): every
# market, payout, game and token scenario; the `evm_only` checks (vectors, gas tables, long
# random sequences: the EVM alone decides them) stay on the embedded chain, where `unit` runs
# them. Then the roles on anvil and the integration suite (its fixtures start and stop anvil
# and the IPFS node).
anvil-suite: compile
	@$(APE) test tests/contracts tests/toolchain $(PYTEST_OPTS) -m "not slow and not evm_only" --network $(ANVIL_NET)
	@# separate session: both folders have a `conftest` module imported by name
	@$(APE) test tests/node/roles $(PYTEST_OPTS) -m "not slow and not integration" --network $(ANVIL_NET)
	@$(APE) test tests $(PYTEST_OPTS) -m "integration and not slow"

test: lint typecheck unit anvil-suite
	@echo "make test: all suites passed"

fuzz: compile
	@rm -rf .cache/fuzz
	@$(ENV) POC_FUZZ=1 POC_RELIABILITY_OUT=.cache/fuzz ape test tests $(PYTEST_OPTS) -m "slow"
	@$(ENV) python -m poc_lab.reliability .cache/fuzz docs/reliability.md --load-only

# The daemons through fault-injecting proxies (anvil + IPFS), more seeds than `make test`
# runs, and through chain faults on anvil (reorgs, drops, base-fee spikes, restarts);
# docs/reliability.md is rendered from what the runs recorded.
reliability: compile
	@rm -rf .cache/reliability
	@$(ENV) POC_RELIABILITY_OUT=.cache/reliability POC_FAULT_SEEDS=3 ape test tests/integration/test_fault_proxy.py tests/integration/test_chain_faults.py $(PYTEST_OPTS) -m integration
	@$(ENV) python -m poc_lab.reliability .cache/reliability docs/reliability.md

bench: compile
	@$(ENV) python -m poc_lab.bench.all

demo: compile
	@$(ENV) python -m poc_lab.demo

# the LLM act: a tiny-gpt generation job verified, then a lie in one attention head's softmax
# slashed (~40 s; the first run trains the tiny GPT, about a minute on 2 cores, cached in .cache/models)
demo-llm: compile
	@$(ENV) python -m poc_lab.demo llm

clean:
	rm -rf .build .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
