"""``claim(...)``: check a quantitative statement of the prose and print it.

Every number a notebook states is measured by a cell and checked::

    claim("layer-1 / layer-20 gradient", ratio, "<", 1e-4)
    # ✔ layer-1 / layer-20 gradient = 3.1e-09 < 1e-04

When the statement is false the cell fails with ``AssertionError`` that shows
the measured value, so the test suite notices the day a claim stops holding.

Categorical facts are claims too (a diagnosis, a list of conditions)::

    claim("diagnosis of the deep sigmoid net", findings, "includes", ["vanishing"])
    # ✔ diagnosis of the deep sigmoid net = ['vanishing', 'saturated'] includes ['vanishing']

The claims ledger: when the environment variable ``COURSE_CLAIMS_LOG`` names a
file, every claim (holding or not) appends one JSON line to it: the notebook
(``COURSE_NOTEBOOK``), statement, value, comparison, bound, whether it held,
seed, device and library versions. ``make claims`` (``tools/claims.py``) runs
every notebook over many seeds and turns these lines into a report of margins.
Nothing is written when the variable is unset.
"""

import json
import math
import os
import platform
from typing import Any

import numpy as np

from utils import checks

OPERATORS = {
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
    "==": lambda value, bound: value == bound,
    "between": lambda value, bound: bound[0] <= value <= bound[1],
}
_SHOWN = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "="}

#: Comparisons of categorical facts: any value (text, True/False, a list of names).
#: ``is``: equal; ``in``: one of the values in ``bound``; ``includes``: every item of
#: ``bound`` is in ``value``; ``excludes``: no item of ``bound`` is in ``value``.
CATEGORICAL = {
    "is": lambda value, bound: value == bound,
    "in": lambda value, bound: value in bound,
    "includes": lambda value, bound: all(item in value for item in bound),
    "excludes": lambda value, bound: not any(item in value for item in bound),
}
LOG_VARIABLE = "COURSE_CLAIMS_LOG"


def _as_number(value, what):
    """Turn a Python, NumPy or one-element torch number into a float."""
    try:
        return checks.one_number(value)
    except checks.NotOneNumber as error:
        raise TypeError(f"claim: {what} must be a single number, got {error}.") from None


def _format(number, digits=3):
    """A readable number: whole numbers as they are, others with ``digits`` significant digits."""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if 1e-3 <= abs(number) < 1e4:
        integer_digits = len(str(int(abs(number))))
        return f"{number:.{max(digits, integer_digits)}g}"
    return f"{number:.{digits - 1}e}".replace("e-0", "e-").replace("e+0", "e+")


def _format_bound(number):
    """Bounds are typed by the author: show their digits, without trailing zeros."""
    text = _format(number, digits=6)
    if "e" in text:
        mantissa, exponent = _format(number, digits=3).split("e")
        return f"{_strip_zeros(mantissa)}e{exponent}"
    return _strip_zeros(text)


def _strip_zeros(text):
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plain(value):
    """A JSON-friendly copy of a categorical value (tuples and sets become lists)."""
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(item) for item in value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    return repr(value)


def _record(statement, value, op, bound, holds):
    """Append one JSON line to the claims ledger, if ``COURSE_CLAIMS_LOG`` names a file."""
    path = os.environ.get(LOG_VARIABLE, "").strip()
    if not path:
        return
    import torch

    from utils.setup import current_device, current_seed

    entry = {
        "notebook": os.environ.get("COURSE_NOTEBOOK", "") or "unknown",
        "statement": statement, "value": _plain(value), "op": op, "bound": _plain(bound),
        "holds": bool(holds), "seed": current_seed(), "device": str(current_device()),
        "cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "") or "auto",
        "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(),
    }
    with open(path, "a", encoding="utf-8") as ledger:
        ledger.write(json.dumps(entry, allow_nan=True) + "\n")


def _categorical_claim(statement, value, op, bound):
    """Check a categorical fact: ``value`` is / is in / includes / excludes ``bound``."""
    if op in ("in", "includes", "excludes") and (
            isinstance(bound, (str, bytes)) or not hasattr(bound, "__iter__")):
        raise ValueError(f"claim: {op!r} needs a list of values as bound, got {bound!r}.")
    if op in ("includes", "excludes") and not hasattr(value, "__iter__"):
        raise ValueError(f"claim: {op!r} needs a collection as the value, got {value!r}.")
    shown_value, shown_bound = _plain(value), _plain(bound)
    shown = f"{statement} = {shown_value!r}"
    if op != "is":
        shown += f" {op} {shown_bound!r}"
    holds = CATEGORICAL[op](value, bound)
    _record(statement, value, op, bound, holds)
    if not holds:
        print(f"✘ {shown} does NOT hold" if op != "is" else
              f"✘ {shown}, expected {shown_bound!r}")
        raise AssertionError(f"Claim failed: {statement} = {shown_value!r}, expected "
                             f"{op} {shown_bound!r}.")
    print(f"✔ {shown}")


def claim(statement: str, value: Any, op: str, bound: Any) -> None:
    """Check that ``value op bound`` holds; print it with ✔, or raise with the value.

    ``op`` is one of ``<``, ``<=``, ``>``, ``>=``, ``==`` (for counts) or ``between`` (then
    ``bound`` is a pair ``(low, high)``, both included). ``value`` may be a
    Python number, a NumPy scalar or a one-element tensor. Returns nothing:
    compute the value first, then claim it.

    For categorical facts ``op`` is ``is`` (equal), ``in`` (one of the values in
    ``bound``), ``includes`` (``value`` contains every item of ``bound``) or
    ``excludes`` (``value`` contains none of them); ``value`` may then be text,
    True/False or a list of names.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("claim: the statement must be a short non-empty text, "
                         "e.g. 'layer-1 / layer-20 gradient'.")
    if op in CATEGORICAL:
        _categorical_claim(statement, value, op, bound)
        return
    if op not in OPERATORS:
        raise ValueError(f"claim: unknown comparison {op!r}; use one of "
                         f"{list(OPERATORS) + list(CATEGORICAL)}.")
    number = _as_number(value, "the measured value")
    if op == "between":
        if not (isinstance(bound, (tuple, list)) and len(bound) == 2):
            raise ValueError(f"claim: 'between' needs bound=(low, high), got {bound!r}.")
        low, high = (_as_number(b, "each bound") for b in bound)
        if low > high:
            raise ValueError(f"claim: 'between' needs low ≤ high, got ({low}, {high}).")
        bound = (low, high)
        shown = (f"{statement} = {_format(number)} in "
                 f"[{_format_bound(low)}, {_format_bound(high)}]")
    else:
        bound = _as_number(bound, "the bound")
        shown = f"{statement} = {_format(number)}"
        if op != "==":
            shown += f" {_SHOWN[op]} {_format_bound(bound)}"
    holds = not math.isnan(number) and OPERATORS[op](number, bound)
    _record(statement, number, op, bound, holds)
    if math.isnan(number):
        print(f"✘ {statement} = nan")
        raise AssertionError(f"Claim failed: {statement} is NaN (not a number), so "
                             f"'{op} {bound}' cannot hold.")
    if not holds:
        print(f"✘ {shown} does NOT hold")
        raise AssertionError(f"Claim failed: {statement} = {number!r}, expected {op} {bound!r}.")
    print(f"✔ {shown}")
