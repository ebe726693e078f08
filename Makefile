# One-command set-up on a fresh machine: `make demo` runs the demo,
# `make test` runs the whole test suite (which also builds the docs with
# warnings as errors: tests/unit/test_docs_and_packaging.py), `make docs` builds
# the docs into docs/_build/html.  Each target installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := pyramid_livehub/static/vendor

.PHONY: bench-deps demo test docs bench soak install js system-deps brokers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

# Python packages (the package itself, editable, with its test extra)
.stamp-install: $(BIN)/python setup.py
	$(BIN)/pip install -q -e '.[router,test]'
	touch $@

install: .stamp-install js

# npm packages (AutobahnJS, esbuild) exactly as package-lock.json pins them.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# AutobahnJS comes from npm at set-up time; it is never committed.
$(VENDOR)/autobahn.min.js: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/autobahn-browser/autobahn.min.js $(VENDOR)/autobahn.min.js
	touch $@

# livehub.js is bundled from static/src/ by esbuild.  It is committed, since
# it ships in the Python package; tests/browser/test_livehub_js.py checks it is fresh.
pyramid_livehub/static/livehub.js: $(wildcard pyramid_livehub/static/src/*.mjs) \
		pyramid_livehub/static/build.mjs node_modules/.package-lock.json
	node pyramid_livehub/static/build.mjs

js: $(VENDOR)/autobahn.min.js pyramid_livehub/static/livehub.js

# Chromium for the browser tests (Debian package; Playwright never downloads one).
system-deps:
	@test -x /usr/bin/chromium || (apt-get install -y chromium || (apt-get update && apt-get install -y chromium))

# The shared brokers the integration tests use (started if stopped; STOMP plugin on).
brokers:
	@bash .ci/brokers

demo: install
	$(BIN)/python -m demo.run

test: install system-deps brokers
	$(BIN)/python -m mypy pyramid_livehub
	$(BIN)/python -m pytest -q

docs: .stamp-install
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

# The Socket.IO peer (python-socketio + uvicorn + redis) gets its own venv, so its
# dependencies never mix with ours; matplotlib (the plots) is the bench extra.
PEER_VENV := benchmarks/.peer-venv

$(PEER_VENV)/bin/python: benchmarks/peer_venv.py .stamp-install
	$(BIN)/python -m benchmarks.peer_venv

.stamp-bench: .stamp-install setup.py
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

# wrk loads the WSGI rows (a Python load client would share the app's core).
bench-deps:
	@command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk))

# Every benchmark in one run, one table; BENCH_QUICK=1 for a short run,
# BENCH_PIN_ROUTER=1 to give the router core 1 and the rest core 0.
bench: install system-deps bench-deps brokers .stamp-bench $(PEER_VENV)/bin/python
	$(BIN)/python -m benchmarks.run

# Issue 11 soak: SOAK_SECONDS (120), SOAK_SUBSCRIBERS (200), SOAK_RATE (1000 ev/s),
# SOAK_OUT (soak.png); fails on RSS growth, a publisher drop, no slow-client close or
# a lost event (benchmarks/soak.py).  `make test` runs a 2-minute version at a load
# a busy 2-core machine carries (tests/integration/test_soak.py).
soak: install brokers .stamp-bench
	$(BIN)/python -m benchmarks.soak

clean:
	rm -rf $(VENV) $(PEER_VENV) node_modules $(VENDOR) .stamp-* *.egg-info docs/_build
