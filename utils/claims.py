"""``claim(...)``: check a quantitative statement of the prose and print it.

Every number a notebook states is measured by a cell and checked::

    claim("layer-1 / layer-20 gradient", ratio, "<", 1e-4)
    # ✔ layer-1 / layer-20 gradient = 3.1e-09 < 1e-04

When the statement is false the cell fails with ``AssertionError`` that shows
the measured value, so the test suite notices the day a claim stops holding.
"""

import math
import numbers

import numpy as np

OPERATORS = {
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
    "==": lambda value, bound: value == bound,
    "between": lambda value, bound: bound[0] <= value <= bound[1],
}
_SHOWN = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "="}


def _as_number(value, what):
    """Turn a Python, NumPy or one-element torch number into a float."""
    if hasattr(value, "numel") and hasattr(value, "item"):  # a torch tensor
        if value.numel() != 1:
            raise TypeError(f"claim: {what} must be a single number, got a tensor of shape "
                            f"{tuple(value.shape)}.")
        value = value.item()
    elif isinstance(value, (np.ndarray, np.generic)):
        if value.size != 1:
            raise TypeError(f"claim: {what} must be a single number, got an array of shape "
                            f"{value.shape}.")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"claim: {what} must be a single number, got {value!r} "
                        f"({type(value).__name__}).")
    return float(value)


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


def claim(statement: str, value, op: str, bound):
    """Check that ``value op bound`` holds; print it with ✔, or raise with the value.

    ``op`` is one of ``<``, ``<=``, ``>``, ``>=``, ``==`` (for counts) or ``between`` (then
    ``bound`` is a pair ``(low, high)``, both included). ``value`` may be a
    Python number, a NumPy scalar or a one-element tensor. Returns nothing:
    compute the value first, then claim it.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("claim: the statement must be a short non-empty text, "
                         "e.g. 'layer-1 / layer-20 gradient'.")
    if op not in OPERATORS:
        raise ValueError(f"claim: unknown comparison {op!r}; use one of {list(OPERATORS)}.")
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
    if math.isnan(number):
        print(f"✘ {statement} = nan")
        raise AssertionError(f"Claim failed: {statement} is NaN (not a number), so "
                             f"'{op} {bound}' cannot hold.")
    if not OPERATORS[op](number, bound):
        print(f"✘ {shown} does NOT hold")
        raise AssertionError(f"Claim failed: {statement} = {number!r}, expected {op} {bound!r}.")
    print(f"✔ {shown}")
