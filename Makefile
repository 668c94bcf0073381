# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,app,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/activegan run

# Two pytest workers, one file each at a time (tests of one file share its fixtures, e.g. the Ray cluster):
# on 2 cores the suite takes about two thirds of its one-process time; each worker has its own cache.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) runs
