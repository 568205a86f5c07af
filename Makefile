# Vanishing Gradients — set-up, lab, tests and benchmark.
#   make lab    create .venv, install the pinned environment, open JupyterLab
#   make test   the same set-up when needed, then the whole test suite
#   make bench  time and peak memory of each notebook (not part of the tests)
#   make claims every notebook over seeds 0-9: build/claims.md, each claim's margin (not in the tests)
#   make sync   regenerate badges, setup cells and the course map from utils/course.py

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# On Linux, PyPI's torch is a multi-GB CUDA build; the course needs only the CPU build,
# which PyTorch's own index serves: use that index on Linux when its host can be looked up
# (offline mirrors and CI machines that carry the CPU wheel themselves cannot reach it).
# `make lab TORCH_INDEX=` keeps PyPI's (CUDA) build.
CPU_TORCH_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s 2>/dev/null)),$(shell $(PYTHON) -c "import socket; socket.setdefaulttimeout(3); socket.getaddrinfo('download.pytorch.org', 443)" >/dev/null 2>&1 && echo $(CPU_TORCH_INDEX)),)
PIP_FLAGS := --disable-pip-version-check -c constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)
# Jupyter refuses to run as root unless told; add the flag only when we are root.
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

# JupyterLab serves the whole course folder and opens (and prints) the welcome notebook.
WELCOME_URL := /lab/tree/notebooks/00_welcome.ipynb

.PHONY: help install lab test bench claims sync clean

help:
	@sed -n '2,7p' Makefile

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed, found " + sys.version.split()[0] + "; run make PYTHON=python3.11 (or another newer Python).")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_FLAGS) -e ".[lab,test]"
	@touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=$(WELCOME_URL) $(LAB_FLAGS)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m tools.bench

# SEEDS=0-19 for more seeds, JOBS=4 for more kernels at once, CAPABILITY=default for
# torch's plain CPU kernels (another rounding: like another machine).
SEEDS ?= 0-9
JOBS ?= 2
CAPABILITY ?= auto
claims: $(STAMP)
	$(BIN)/python -m tools.claims --seeds $(SEEDS) --jobs $(JOBS) --capability $(CAPABILITY)

sync: $(STAMP)
	$(BIN)/python -m tools.sync_notebooks

clean:
	rm -rf $(VENV) build *.egg-info
