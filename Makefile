# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install run test bench clean

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
	$(VENV)/bin/seethrough demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench_media.py
	$(PY) bench/bench_analyze.py
	$(PY) bench/bench_training.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
