"""utils.claims.claim: prints what holds, raises with the measured value otherwise."""

import numpy as np
import pytest
import torch

from utils.claims import claim


def test_holding_claim_prints_a_tick(capsys):
    claim("layer-1 / layer-20 gradient", 3.1e-9, "<", 1e-4)
    assert capsys.readouterr().out.strip() == "✔ layer-1 / layer-20 gradient = 3.10e-9 < 1e-4"


@pytest.mark.parametrize("value", [0.93, np.float32(0.93), torch.tensor(0.93), np.array([0.93])])
def test_numbers_of_every_kind(value, capsys):
    claim("accuracy", value, ">=", 0.9)
    assert "✔ accuracy = 0.93 ≥ 0.9" in capsys.readouterr().out


def test_between_and_equal(capsys):
    claim("std", 1.02, "between", (0.5, 2))
    claim("images", 1797, "==", 1797)
    out = capsys.readouterr().out
    assert "✔ std = 1.02 in [0.5, 2]" in out and "✔ images = 1797" in out


@pytest.mark.parametrize("value, op, bound", [(5, "<", 1), (0.1, ">", 0.5), (3, "between", (0, 2)),
                                              (1796, "==", 1797), (2.0, "<=", 1.999)])
def test_false_claim_raises_with_the_measured_value(value, op, bound, capsys):
    with pytest.raises(AssertionError, match=f"x = {float(value)!r}, expected {op}"):
        claim("x", value, op, bound)
    assert "✘" in capsys.readouterr().out


def test_nan_never_passes():
    with pytest.raises(AssertionError, match="NaN"):
        claim("loss", float("nan"), "<", 1e9)


@pytest.mark.parametrize("value, message", [("0.5", "single number"), (torch.ones(3), "shape"),
                                            (np.ones(2), "shape"), (True, "single number")])
def test_non_numbers_are_refused(value, message):
    with pytest.raises(TypeError, match=message):
        claim("x", value, "<", 1)


@pytest.mark.parametrize("statement, op, bound, message", [
    ("", "<", 1, "non-empty"), ("x", "=<", 1, "unknown comparison"),
    ("x", "between", 1, r"bound=\(low, high\)"), ("x", "between", (2, 1), "low ≤ high"),
])
def test_bad_usage_is_explained(statement, op, bound, message):
    with pytest.raises(ValueError, match=message):
        claim(statement, 0.5, op, bound)


@pytest.mark.parametrize("value, op, bound", [
    ("vanishing", "is", "vanishing"), (["vanishing", "saturated"], "includes", ["vanishing"]),
    ("tanh", "in", ["tanh", "sigmoid"]), (["dead"], "excludes", ["vanishing", "exploding"]),
    (True, "is", True),
])
def test_categorical_claims_hold(value, op, bound, capsys):
    claim("diagnosis", value, op, bound)
    assert capsys.readouterr().out.startswith("✔ diagnosis = ")


@pytest.mark.parametrize("value, op, bound", [
    ("exploding", "is", "vanishing"), (["saturated"], "includes", ["vanishing"]),
    ("relu", "in", ["tanh", "sigmoid"]), (["vanishing"], "excludes", ["vanishing"]),
    (False, "is", True),
])
def test_false_categorical_claims_raise(value, op, bound, capsys):
    with pytest.raises(AssertionError, match="Claim failed: diagnosis"):
        claim("diagnosis", value, op, bound)
    assert "✘" in capsys.readouterr().out


def test_categorical_claims_need_a_list_where_a_list_is_meant():
    with pytest.raises(ValueError, match="list of values"):
        claim("diagnosis", "tanh", "in", "tanh")


def test_ledger_records_every_claim_when_asked(tmp_path, monkeypatch):
    import json

    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_LOG", str(log))
    monkeypatch.setenv("COURSE_NOTEBOOK", "03_vanishing_gradients")
    claim("ratio", 3.1e-9, "<", 1e-4)
    claim("std", 1.02, "between", (0.5, 2))
    claim("diagnosis", ["vanishing"], "includes", ["vanishing"])
    with pytest.raises(AssertionError):
        claim("loss", 2.0, "<", 1.0)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["statement"] for e in entries] == ["ratio", "std", "diagnosis", "loss"]
    assert [e["holds"] for e in entries] == [True, True, True, False]
    first = entries[0]
    assert first["notebook"] == "03_vanishing_gradients" and first["value"] == 3.1e-9
    assert first["op"] == "<" and first["bound"] == 1e-4
    for key in ("seed", "device", "torch", "numpy", "python", "cpu_capability"):
        assert key in first
    assert entries[1]["bound"] == [0.5, 2.0] and entries[2]["value"] == ["vanishing"]


def test_ledger_writes_nothing_when_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_CLAIMS_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    claim("ratio", 3.1e-9, "<", 1e-4)
    assert list(tmp_path.iterdir()) == []
