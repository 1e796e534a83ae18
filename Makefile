# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install browser run test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Re-install only when the dependency lists change.
$(STAMP): pyproject.toml requirements-nodeps.txt | $(PY)
	$(PIP) install -q -e ".[dev]"
	$(PIP) install -q --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/seethrough serve

# Browser tests drive Debian's chromium (never a downloaded browser). Installed when
# missing and this user can; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1)) \
	    && echo "installed chromium for the browser tests" || echo "could not install chromium: browser tests will skip"; \
	  else echo "chromium not found (apt-get install chromium): browser tests will skip"; fi; }

test: install browser
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench_media.py
	$(PY) bench/bench_analyze.py
	$(PY) bench/bench_training.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
