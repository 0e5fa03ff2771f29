# The two set-up commands of the README. Each creates .venv from constraints.txt when it is
# missing (a second run reuses it; the stamp file marks a finished install), then runs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: quickstart test venv clean-venv

venv: $(STAMP)

$(STAMP): setup.py constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/paddle-wwm quickstart

test: $(STAMP)
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
