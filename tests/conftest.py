"""Shared helpers for the tests: where the notebooks are and how to read them."""

from pathlib import Path

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")  # no display in the tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOK_PATHS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


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
