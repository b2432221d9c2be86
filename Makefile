# Two entry points for a fresh clone: `make lab` opens the course, `make test` checks it.
# Both create .venv on first use (offline except for the package registries).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: lab test install clean-venv

install: $(STAMP)

# Re-install whenever the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# JupyterLab on notebooks/; it prints the URL to open (and opens a browser where there is one).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(DISPLAY)$(BROWSER),,--no-browser)

# Unit tests, then every notebook executed by nbval in fast mode (CHAPTER11_FAST=1 shrinks training runs).
test: $(STAMP)
	CHAPTER11_FAST=1 MPLBACKEND=Agg $(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

clean-venv:
	rm -rf $(VENV)
