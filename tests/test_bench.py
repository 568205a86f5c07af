"""tools.bench: budget marks, notebook selection and the report (no kernels are started)."""

from pathlib import Path

import pytest

from tools import bench

GIB = 1024**3


@pytest.mark.parametrize("wall, peak, expected", [
    (10, GIB, "ok"),
    (61, GIB, "OVER BUDGET (time)"),
    (10, 2 * GIB, "OVER BUDGET (memory)"),
    (61, 2 * GIB, "OVER BUDGET (time, memory)"),
    (10, None, "ok"),
])
def test_budget_marks(wall, peak, expected):
    result = bench.Result(Path("notebooks/00_welcome.ipynb"), wall, peak)
    assert result.status == expected


def test_failed_notebook_is_marked():
    result = bench.Result(Path("x.ipynb"), 1.0, None, error="ValueError: boom")
    assert result.failed and result.status == "FAILED: ValueError: boom"


def test_missing_notebook_is_a_usage_error(tmp_path):
    with pytest.raises(bench.UsageError, match="not found"):
        bench.resolve_notebooks([str(tmp_path / "nope.ipynb")])


def test_default_selection_is_every_course_notebook():
    names = [path.name for path in bench.resolve_notebooks([])]
    assert names == sorted(names) and "00_welcome.ipynb" in names


def test_report_has_a_row_per_notebook_and_a_total():
    results = [bench.Result(Path("notebooks/00_welcome.ipynb"), 5.0, 400 * 1024**2),
               bench.Result(Path("notebooks/01_gradient_descent.ipynb"), 70.0, 300 * 1024**2)]
    report = bench.format_report(results)
    assert "00_welcome.ipynb" in report and "OVER BUDGET (time)" in report
    assert "**75.0**" in report and "**400**" in report


@pytest.mark.parametrize("wall, stated, stale", [(40, 40, False), (51, 40, False), (53, 40, True),
                                                 (19, 40, True), (10, None, False)])
def test_stated_run_time_is_flagged_when_out_of_date(wall, stated, stale):
    assert bool(bench.stated_time_note(wall, stated)) == stale


def test_report_shows_the_stated_run_time():
    report = bench.format_report([bench.Result(Path("notebooks/03_vanishing_gradients.ipynb"),
                                               500.0, None)])
    assert "stated run time out of date" in report
