# tmemlab — newcomers need two targets: `make run-experiment` and `make test`.

PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
TMEMLAB   := $(VENV)/bin/tmemlab
PYTEST    := $(VENV)/bin/pytest
EXPERIMENT ?= experiments/smoke.yaml
RESULTS   ?= $(lastword $(sort $(wildcard results/*/)))

# Debian packages the harness drives (QEMU, libvirt, image tools), builds kernels with
# (linux-source-6.1's toolchain needs; liblz4-dev for the static guest tools), and tests with
# (Chromium renders the HTML report; gitlab-ci-local copies the project with rsync).
APT_PACKAGES := qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-daemon-driver-qemu \
	libvirt-dev pkg-config mmdebstrap e2fsprogs busybox-static cpio kmod gcc make libc6-dev \
	openssh-client git python3-venv chromium nodejs rsync \
	bc bison flex libelf-dev libssl-dev patch xz-utils liblz4-dev ccache

.PHONY: setup setup-apt setup-venv setup-tools run-experiment test test-fast test-functional test-e2e \
	bench-backend compare lint clean debate debate-quick

setup: setup-apt setup-venv setup-tools

# Idempotent: only missing packages trigger apt; a configured machine passes in ~1 s.
setup-apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "setup: installing $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi; \
	apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1 || apt-get update -q

setup-venv: $(VENV)/.installed

# Test-only tools from the npm registry: gitlab-ci-local runs ci/gitlab-ci.yml for real in
# tests/e2e/test_ci_pipeline_e2e.py. 4.65.1: later releases need Node 22 (Set.union);
# Debian 12's Node is 20.
GITLAB_CI_LOCAL := .tools/node_modules/.bin/gitlab-ci-local
setup-tools: $(GITLAB_CI_LOCAL)

$(GITLAB_CI_LOCAL):
	@command -v npm >/dev/null || apt-get install -y -q --no-install-recommends npm
	npm install --prefix .tools --no-audit --no-fund --silent gitlab-ci-local@4.65.1

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

run-experiment: setup
	$(TMEMLAB) run $(EXPERIMENT)

# The four 2011 objections to frontswap and the Xen claim, each with a verdict computed
# from the runs: results/debate-<stamp>/DEBATE.md and debate.html (README "The debate").
DEBATE_RESULTS ?= results
debate: setup
	$(TMEMLAB) debate --results $(DEBATE_RESULTS)

debate-quick: setup
	$(TMEMLAB) debate --quick --results $(DEBATE_RESULTS)

# Everything: unit, functional (real sockets, tools, Chromium) and e2e (real guests).
test: setup
	$(PYTEST) -q tests

test-fast: setup-venv
	$(PYTEST) -q tests/unit

test-functional: setup
	$(PYTEST) -q -m functional tests

test-e2e: setup
	$(PYTEST) -q tests/e2e

bench-backend: setup-venv
	$(PY) -m host_backend.bench

compare: setup-venv
	$(TMEMLAB) compare $(RESULTS)

lint: setup-venv
	$(VENV)/bin/ruff check harness host_backend tests

clean:
	rm -rf $(VENV) .tools guest_images/tools/build .pytest_cache .hypothesis
