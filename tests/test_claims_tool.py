"""tools.claims: margins over seeds, the report, and demonstrations left out (no kernels)."""

import json

import pytest

from tools import claims


@pytest.mark.parametrize("values, op, bound, kind, size, thin", [
    ([1e-9, 3e-9], "<", 1e-4, "factor", 1e-4 / 3e-9, False),       # spans decades
    ([0.5, 0.9], "<", 1.0, "fraction", 0.1, True),                  # 10 % below the bound
    ([0.5, 0.7], "<", 1.0, "fraction", 0.3, False),
    ([0.93, 0.96], ">", 0.8, "fraction", 0.13 / 0.8, True),
    ([2.31, 2.32], ">", 2.0, "fraction", 0.155, True),
    ([1e4, 3e4], ">", 1e3, "factor", 10.0, False),
    ([0.9, 1.1], "between", [0.75, 1.25], "window", 0.3, False),
    ([0.76, 1.0], "between", [0.75, 1.25], "window", 0.02, True),
    ([2e-5, 5e-5], "between", [1e-6, 1e-3], "factor", 20.0, False),
    ([1.3], "<", 1.2, "fraction", -0.1 / 1.2, True),                # failing
])
def test_margin_is_a_factor_across_decades_and_a_fraction_otherwise(values, op, bound, kind,
                                                                     size, thin):
    got_kind, got_size, got_thin = claims.margin(values, op, bound)
    assert got_kind == kind and got_size == pytest.approx(size) and got_thin == thin


@pytest.mark.parametrize("values, op, bound", [([10, 10], "==", 10), (["a"], "is", "a"),
                                               ([float("nan")], "<", 1.0)])
def test_no_margin_for_exact_categorical_or_nan(values, op, bound):
    assert claims.margin(values, op, bound) == ("", None, False)


def entry(statement, value, op, bound, holds, seed, notebook="05_weight_initialization"):
    return {"notebook": notebook, "statement": statement, "value": value, "op": op,
            "bound": bound, "holds": holds, "seed": seed, "cpu_capability": "auto"}


def test_summary_lists_failures_and_thin_margins_first_and_leaves_out_demonstrations():
    entries = ([entry("He: loss", v, "<", 1.2, v < 1.2, s) for s, v in enumerate([0.2, 1.3])]
               + [entry("ratio", v, "<", 1e-4, True, s) for s, v in enumerate([1e-9, 2e-9])]
               + [entry("accuracy", v, ">", 0.8, True, s) for s, v in enumerate([0.85, 0.9])]
               + [entry("diagnosis", ["vanishing"], "includes", ["vanishing"], True, 0)]
               + [entry("slope", 0.25, ">", 0.5, False, 0, notebook="00_welcome")])
    runs = [{"notebook": "00_welcome", "seed": 0, "capability": "auto", "seconds": 3.0,
             "demonstrations": ["slope"], "errors": []}]
    rows = claims.summarise(entries, runs)
    assert {row["statement"] for row in rows} == {"He: loss", "ratio", "accuracy", "diagnosis"}
    report = claims.render(rows, runs, "0-1")
    assert "4 claims in 1 notebooks" in report and "1 failing, 1 with a thin margin" in report
    table = report.split("## Every claim")[1]
    order = [table.index(name) for name in ("He: loss", "accuracy", "ratio", "diagnosis")]
    assert order == sorted(order)
    assert "| 1 |" in table.split("He: loss")[1].splitlines()[0]  # the failing seed


def test_parse_seeds():
    assert claims.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(SystemExit, match="--seeds"):
        claims.parse_seeds("zero")


def test_report_only_reads_the_ledger(tmp_path, capsys):
    log = tmp_path / "05-seed0.jsonl"
    log.write_text(json.dumps(entry("ratio", 1e-9, "<", 1e-4, True, 0)) + "\n")
    report = tmp_path / "claims.md"
    assert claims.main(["--report-only", "--log-dir", str(tmp_path),
                        "--report", str(report)]) == 0
    assert "1 claims in 1 notebooks" in report.read_text()


def test_a_run_that_stopped_with_an_error_is_said_at_the_top():
    entries = [entry("ratio", v, "<", 1e-4, True, s) for s, v in enumerate([1e-9, 2e-9])]
    runs = [{"notebook": "05_weight_initialization", "seed": s, "capability": "default",
             "seconds": 3.0, "demonstrations": [], "errors": errors}
            for s, errors in ((0, []), (1, ["ERROR cell 51: ValueError: boom"]))]
    report = claims.render(claims.summarise(entries, runs), runs, "0-1")
    top = report.split("## ")[0]
    assert "1 of 2 runs stopped with an error in a cell" in top
    assert "ERROR cell 51: ValueError: boom" in report.split("## Runs with errors")[1]
    clean = claims.render(claims.summarise(entries, runs[:1]), runs[:1], "0")
    assert "stopped with an error" not in clean
