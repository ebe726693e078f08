# One-command set-up on a fresh machine: `make demo` runs the demo,
# `make test` runs the whole test suite.  Each target installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := pyramid_livehub/static/vendor

.PHONY: demo test bench install js system-deps brokers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

# Python packages (the package itself, editable, with its test extra)
.stamp-install: $(BIN)/python setup.py
	$(BIN)/pip install -q -e '.[router,test]'
	touch $@

install: .stamp-install js

# AutobahnJS comes from npm at set-up time; it is never committed.
$(VENDOR)/autobahn.min.js: package.json
	npm install --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/autobahn-browser/autobahn.min.js $(VENDOR)/autobahn.min.js
	touch $@

js: $(VENDOR)/autobahn.min.js

# Chromium for the browser tests (Debian package; Playwright never downloads one).
system-deps:
	@test -x /usr/bin/chromium || (apt-get install -y chromium || (apt-get update && apt-get install -y chromium))

# The shared brokers the integration tests use (started if stopped; STOMP plugin on).
brokers:
	@bash .ci/brokers

demo: install
	$(BIN)/python -m demo.run

test: install system-deps brokers
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .stamp-* *.egg-info
