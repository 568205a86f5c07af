"""Settings for every test run, notebooks included (nbval collects the notebooks here)."""

#: nbval waits a hard-coded 5 s for each output message after a cell's reply and kills the
#: kernel when one is late (nbval#231); on a loaded 2-core CI machine a figure can take
#: longer than that. A hang still fails: the per-cell timeout (pyproject.toml) bounds it.
NBVAL_OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    """Give nbval's notebook cells a sturdier wait for their outputs."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
