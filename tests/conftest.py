"""Shared helpers for the tests: where the notebooks are and how to read them."""

import os
from pathlib import Path

import matplotlib
import nbformat
import pytest
from torch import nn

matplotlib.use("Agg")  # no display in the tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
# COURSE_DRAFT_NOTEBOOKS (paths separated by os.pathsep) adds draft notebooks, e.g. the parts
# of a notebook being written in build/, to the exercise and structure tests.
NOTEBOOK_PATHS = sorted(NOTEBOOK_DIR.glob("*.ipynb")) + [
    Path(path).resolve() for path in os.environ.get("COURSE_DRAFT_NOTEBOOKS", "").split(os.pathsep)
    if path]


def read_notebook(path):
    """The notebook at ``path`` as an nbformat v4 node."""
    return nbformat.read(path, as_version=4)


def notebook_params():
    """``pytest.param`` per notebook, with the file name as id."""
    return [pytest.param(path, id=path.name) for path in NOTEBOOK_PATHS]


@pytest.fixture(autouse=True)
def _quiet_course_environment(monkeypatch):
    """Unit tests must not depend on the developer's COURSE_* settings."""
    for name in ("COURSE_SEED", "COURSE_DEVICE", "COURSE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


class DeclaredOutOfOrder(nn.Module):
    """Layers that run first to last but are registered in the order ``declare``: a model
    whose declaration order differs from the data's path (gradflow must follow the path)."""

    def __init__(self, layers, declare):
        super().__init__()
        for i in declare:
            self.add_module(f"layer{i}", layers[i])
        self.count = len(layers)

    def forward(self, x):
        for i in range(self.count):
            x = getattr(self, f"layer{i}")(x)
        return x


class StateReader(nn.Module):
    """A recurrent classifier on the final hidden state: ``_, h = rnn(x); head(h[-1])``."""

    def __init__(self, layer_type, batch_first):
        super().__init__()
        self.rnn = layer_type(3, 8, batch_first=batch_first)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state
        return self.head(h[-1])
