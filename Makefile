# Vanishing Gradients — set-up, lab, tests and benchmark.
#   make lab    create .venv, install the pinned environment, open JupyterLab
#   make test   the same set-up when needed, then the whole test suite
#   make bench  time and peak memory of each notebook (not part of the tests)
#   make claims every notebook over seeds 0-9: build/claims.md, each claim's margin (not in the tests)
#   make sync   regenerate badges, setup cells and the course map from utils/course.py, and the
#               workshop guide
#   make editions  build/student/ (solutions removed) and build/instructor/ (solved, executed)
#   make site   the executed course as a static website in build/site/ (open index.html)
#   make workshop  regenerate docs/workshop.md (schedules, figures, mistakes, questions)
#   make figure regenerate the README's figure, docs/img/gradient_flow.png

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

# JupyterLab serves the whole course folder and opens (and prints) the welcome notebook, with
# the file browser in notebooks/. jupyter-config/ comes first on JUPYTER_CONFIG_PATH: project
# settings (no news pop-up) on top of the user's own, written nowhere else.
WELCOME_URL := /lab/tree/notebooks/00_welcome.ipynb
LAB_CONFIG_PATH := $(CURDIR)/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}

.PHONY: help install lab test bench claims sync editions site workshop figure clean

help:
	@sed -n '2,12p' Makefile

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed, found " + sys.version.split()[0] + "; run make PYTHON=python3.11 (or another newer Python).")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_FLAGS) -e ".[lab,test]"
	@touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	JUPYTER_CONFIG_PATH="$(LAB_CONFIG_PATH)" $(BIN)/jupyter lab --ServerApp.root_dir=. \
		--LabApp.default_url=$(WELCOME_URL) --LabApp.news_url=None $(LAB_FLAGS)

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
	$(BIN)/python -m tools.workshop
	$(BIN)/python -m tools.checklist

# JOBS kernels at once (default 2); COURSE_COMMITTED_ONLY=1 builds only what git tracks.
editions: $(STAMP)
	$(BIN)/python -m tools.editions --jobs $(JOBS)

# Executes only the instructor notebooks that are missing or older than their source.
site: $(STAMP)
	$(BIN)/python -m tools.site --jobs $(JOBS)

workshop: $(STAMP)
	$(BIN)/python -m tools.workshop

figure: $(STAMP)
	$(BIN)/python -m tools.figure

clean:
	rm -rf $(VENV) build *.egg-info
