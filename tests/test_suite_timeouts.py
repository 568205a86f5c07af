"""A notebook cell that hangs fails the suite fast, with a message naming the notebook and cell."""

import subprocess
import sys

import nbformat


def test_a_hanging_cell_fails_with_a_timeout_that_names_the_cell(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x = 1"),
                      nbformat.v4.new_code_cell("import time\ntime.sleep(600)")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    path = tmp_path / "hangs.ipynb"
    nbformat.write(notebook, path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "--nbval-cell-timeout=3", "-q", str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Timeout of 3 seconds exceeded" in output, output[-3000:]
    assert "hangs.ipynb::Cell 1" in output, output[-3000:]


def test_notebook_cells_wait_longer_than_nbval_s_five_seconds_for_outputs():
    """The root conftest raises nbval's hard-coded 5 s output wait (a loaded CI machine)."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)

    class Cell:
        output_timeout = 5

    class Other:
        pass

    cell, other = Cell(), Other()
    root_conftest.pytest_collection_modifyitems([cell, other])
    assert cell.output_timeout >= 30 and not hasattr(other, "output_timeout")
