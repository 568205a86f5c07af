"""Exercises of 04_activation_functions: the derivative of leaky ReLU, the fraction of
dead units, and ELU from scratch."""

import numpy as np

from utils import activations
from utils.exercises.core import (
    BATCH_SIZES,
    Case,
    Convention,
    Slip,
    Wrong,
    as_array,
    batch_cases,
    expect_number,
    function_exercise,
    reject_slips,
)

# --- 4.1 · The derivative of leaky ReLU --------------------------------------------------

# No point sits exactly on the kink x = 0, where the derivative is a convention.
_SLOPE_INPUTS = np.array([-3.0, -1.0, -0.25, 0.25, 1.0, 4.0])
_SLOPE_HINTS = [
    "Leaky ReLU is a straight line on each side of 0. What is the slope of each line? Pick "
    "one of the two element by element, with a NumPy function (an `if` cannot decide for a "
    "whole array).",
    "f(x) = x for x > 0 and a·x otherwise, so f'(x) = 1 for x > 0 and a (the `slope` "
    "argument) for x ≤ 0.",
]
_ELEMENTWISE_NUDGE = ("Choose between two values element by element with a NumPy function "
                      "made for it, instead of `if`.")


def _explain_if(error, case, name):
    """`if x > 0` written for one number: say why it fails on an array."""
    if isinstance(error.original, ValueError) and "ambiguous" in str(error.original):
        return Wrong(f"`x` is a NumPy array, not a single number, so `if x > 0` (or "
                     f"`... if x > 0 else ...`) cannot decide for all its elements at once: "
                     f"Python raised \"{error.original}\".", hint=_ELEMENTWISE_NUDGE)
    return None


def _elementwise_cases(points: np.ndarray, parameter: float, name: str,
                       seed: int) -> list[Case]:
    """The task's points, then arrays of the batch sizes 1, 2, 3, 17 and one 2-D array, for
    one parameter (every array from 2 elements on has a point on both sides of 0)."""
    rng = np.random.default_rng(seed)
    cases = [Case((points, parameter), f"x = {np.round(points, 3).tolist()}, {name}={parameter}")]
    for shape in [(size,) for size in BATCH_SIZES] + [(3, 5)]:
        x = rng.normal(0, 2, shape)
        x.flat[:2] = [-1.5, 1.5][:x.size]  # the one-element case is on the negative side
        cases.append(Case((x, parameter), f"x of shape {shape}, {name}={parameter}"))
    return cases


_SLOPE_CASES = (_elementwise_cases(_SLOPE_INPUTS, 0.01, "slope", 41)
                + _elementwise_cases(np.array([-2.0, 0.0, 2.0]), 0.2, "slope", 42))
#: At the kink x = 0 both one-sided slopes are valid; PyTorch (and the reference) use `slope`.
KINK_AT_ONE = Convention(
    "f'(0) = 1", lambda x, slope=0.01: np.where(x >= 0, 1.0, slope),
    "(At x = 0 your derivative is 1, the slope of the right-hand side; PyTorch uses "
    "`slope` there. Both are valid: at the kink any value between them is a subgradient.)",
    accepted=True)


def _in_place_derivative(x, slope=0.01):
    x[x > 0] = 1.0  # overwrites the caller's array
    x[x <= 0] = slope
    return x


function_exercise(
    "4.1", "The derivative of leaky ReLU", "leaky_relu_derivative",
    activations.leaky_relu_derivative, _SLOPE_CASES, hints=_SLOPE_HINTS,
    explain_error=_explain_if, conventions=[KINK_AT_ONE],
    success="The derivative is 1 wherever the unit is active, so active units pass the "
            "gradient on unchanged; on the negative side it is small but never 0, so no unit "
            "can die.",
    slips=[
        Slip("ReLU's derivative", lambda x, slope=0.01: (x > 0).astype(float),
             message="On the negative side you returned 0: that is ReLU's derivative, the "
                     "zero gradient that lets units die. Leaky ReLU keeps the small slope "
                     "there.", hint="What is the slope of the line a·x?"),
        Slip("the function instead of its derivative",
             lambda x, slope=0.01: np.where(x > 0, x, slope * x),
             message="You returned leaky ReLU itself, not its slope (its derivative).",
             hint="The task asks for the derivative."),
        Slip("sides swapped", lambda x, slope=0.01: np.where(x > 0, slope, 1.0),
             message="The two sides are swapped: the slope is 1 for x > 0 and `slope` for "
                     "x ≤ 0.", hint="Which side is the identity?"),
        Slip("slope hard-coded", lambda x, slope=0.01: np.where(x > 0, 1.0, 0.01),
             message="Your function ignores its `slope` argument (it always uses 0.01).",
             hint="Use the argument, not a number of your own."),
        Slip("slope times x", lambda x, slope=0.01: np.where(x > 0, 1, slope * x),
             message="On the negative side you returned slope·x, the function's value there, "
                     "not its slope: the derivative of slope·x is a constant.",
             hint="What is the slope of the line a·x?"),
        Slip("negative slope", lambda x, slope=0.01: np.where(x > 0, 1.0, -slope),
             message="The negative side has the wrong sign: slope·x rises with x, so its "
                     "derivative is positive.", hint="Does a·x rise or fall?"),
        Slip("a single number", lambda x, slope=0.01: 1.0,
             message="leaky_relu_derivative on x of shape (1,), slope=0.01 is a single number, "
                     "but it should be an array of shape (1,) (one value per element).",
             compared=False),
        Slip("scalar code", lambda x, slope=0.01: 1.0 if x > 0 else slope,
             message="`x` is a NumPy array, not a single number, so `if x > 0` (or `... if x > "
                     "0 else ...`) cannot decide for all its elements at once: on one element "
                     "it gives a single number, on more Python raises an error.",
             hint=_ELEMENTWISE_NUDGE),
        Slip("overwrites the caller's x", _in_place_derivative,
             message="`leaky_relu_derivative` changed its input `x` in place (as `x -= ...`, `x "
                     "*= ...` or `x[...] = ...` do): the caller's `x` is overwritten, and code "
                     "that uses it again gets wrong numbers.",
             compared=False),
        Slip("a list", lambda x, slope=0.01: [1.0 if v > 0 else slope for v in np.ravel(x)],
             message="leaky_relu_derivative on x of shape (1,), slope=0.01 is a Python list; "
                     "return a NumPy array.",
             compared=False),
    ],
)

# --- 4.2 · Count the dead units ----------------------------------------------------------


def dead_unit_example(seed: int = 42) -> np.ndarray:
    """ReLU outputs of 200 examples × 10 units: units 0–2 are dead (zero for every
    example); unit 3 is active for one example only, late in the set; unit 4 is
    active for 2 % of the examples, all in the second half. The first example has
    units 5–9 partly active, so counting a few first rows gives a wrong but
    recognisable answer (no slice of the first rows makes every unit look dead)."""
    rng = np.random.default_rng(seed)
    values = np.maximum(0.0, rng.standard_normal((200, 10)))
    values[:, :5] = 0.0
    values[150, 3] = 0.7
    values[rng.choice(np.arange(100, 200), 4, replace=False), 4] = 1.3
    values[0, 5:] = [0.9, 0.8, 0.0, 1.1, 0.4]  # the first example: 4 of units 5–9 fire
    return values


def _barely_alive_example():
    """60 examples × 8 units: units 2 and 5 dead; unit 6 alive but with tiny outputs only
    (below 1e-3), so a threshold instead of "exactly zero" miscounts it."""
    values = np.maximum(0.0, np.random.default_rng(7).standard_normal((60, 8)) - 1.0)
    values[:, [2, 5]] = 0.0
    values[:, 6] = 0.0
    values[[10, 40], 6] = [2e-4, 5e-4]
    return values


_DEAD_HINTS = [
    "Which axis of the array holds the units? What must be true of every entry of a dead "
    "unit's column?",
    "A unit is a column. Which columns are zero in every row? Reduce along the rows, one "
    "answer per unit, then turn those answers into a share.",
    "fraction = dead units ÷ units, where a unit (a column) is dead if "
    "(activations == 0) holds in every row (example) of its column.",
]


def _dead_share(activations: np.ndarray) -> float:
    """The reference: the share of units (columns) that are zero for every example (row)."""
    return float((activations == 0).all(axis=0).mean())


def _some_dead_units(n: int, rng: np.random.Generator) -> tuple[np.ndarray]:
    """ReLU outputs of ``n`` examples × 6 units: units 1 and 4 dead; unit 2 fires on the last
    example only (from 2 examples on), so the first rows alone make it look dead."""
    values = np.maximum(0.0, rng.standard_normal((n, 6)) + 0.5)
    values[:, [1, 4]] = 0.0
    values[:, 2] = 0.0
    values[-1, 2] = 0.8 if n > 1 else 0.0
    values[0, [0, 3, 5]] = [0.3, 0.6, 0.9]  # the first example fires on the live units
    return (values,)


_DEAD_CASES = [Case((dead_unit_example(),), "a 200×10 array"),
               Case((_barely_alive_example(),), "a 60×8 array"),
               *batch_cases(_some_dead_units, "a {n}×6 array", seed=44)]


def _value_slips(values: np.ndarray, expected: float) -> list[Slip]:
    """The typical wrong values on one array (any number of first rows included)."""
    first_rows = sorted({_dead_share(values[:n]) for n in range(1, values.shape[0] // 2)})
    return [
        Slip("share of zero values", float((values == 0).mean()), _ZERO_VALUES),
        Slip("any instead of all", float((values == 0).any(axis=0).mean()), _ANY),
        Slip("wrong axis", float((values == 0).all(axis=1).mean()), _WRONG_AXIS),
        Slip("count, not share", float((values == 0).all(axis=0).sum()), _COUNT),
        Slip("small counted as dead", float((values < 1e-3).all(axis=0).mean()), _SMALL),
        Slip("zero", 0.0, _ZERO),
        Slip("alive share", 1 - expected, _ALIVE),
        *[Slip("first rows only", share, _FIRST_ROWS) for share in first_rows],
    ]


def _compare_dead_fraction(got: object, expected: float, case: Case) -> None:
    """One number, the expected share; a typical wrong value is named."""
    shown = f"dead_fraction of {case.label}"
    if isinstance(got, (bool, np.bool_)):
        raise Wrong(f"{shown} returned {got}, a single True/False: `.all()` without an axis "
                    "asks whether the *whole array* is zero, one answer for all units.",
                    expected=f"the fraction {expected:.6g}", got=repr(got),
                    hint="You need one answer per unit (column) first, then their share.")
    got_array = as_array(got, shown)
    if got_array.size != 1:
        raise Wrong(f"{shown} should be a single number, the fraction of dead units.",
                    expected=f"{expected:.6g}", got=f"an array of shape {got_array.shape}",
                    hint="Turn the one True/False per unit into a share.")
    value = float(got_array.ravel()[0])
    reject_slips(value, _value_slips(case.args[0], expected), right=expected,
                 expected=f"{expected:.6g}", shown=f"{value:.6g}")
    expect_number(value, expected, what=shown, rtol=1e-6)


_ZERO_VALUES = ("You computed the fraction of zero *values*. A unit is dead only if it is "
                "zero for every example.")
_ANY = ("You counted units that are zero for *some* example. Every ReLU unit is zero for "
        "some inputs; dead means zero for all of them.")
_WRONG_AXIS = "You looked along the wrong axis: rows are examples, columns are units."
_COUNT = ("You returned the number of dead units; the fraction divides by the number of "
          "units.")
_SMALL = ("You counted units with *small* outputs as dead. Dead means exactly zero for every "
          "example: only then is its gradient exactly 0 (a unit with tiny outputs still "
          "learns).")
_ZERO = ("Your answer is 0, yet some units are dead. Two slips give 0: a test `< 0` (ReLU "
         "outputs are never negative, so it finds nothing), and `.all()` without an axis (one "
         "answer for the whole array instead of one per unit).")
_ALIVE = ("You returned the share of units that are *alive* (nonzero for some example); the "
          "dead share is what is left.")
_FIRST_ROWS = ("You looked at the first few rows (examples) only. A unit that is zero on "
               "those may fire on a later example: use every row.")


#: The dead share as a percentage: the same answer in other units.
PERCENTAGE = Convention(
    "a percentage", lambda a: 100 * (a == 0).all(axis=0).mean(),
    "That is the dead share as a percentage; this exercise asks for it as a fraction, a "
    "number between 0 and 1 (drop the × 100).")

function_exercise(
    "4.2", "Count the dead units", "dead_fraction", _dead_share, _DEAD_CASES,
    hints=_DEAD_HINTS, conventions=[PERCENTAGE], compare=_compare_dead_fraction,
    success="Dead means zero for every example of the set you have: the fewer examples you "
            "look at, the more units look dead.",
    slips=[
        Slip("fraction of zero values", lambda a: (a == 0).mean(),
             message="You computed the fraction of zero *values*. A unit is dead only if it is "
                     "zero for every example."),
        Slip("zero for any example", lambda a: (a == 0).any(axis=0).mean(),
             message="You counted units that are zero for *some* example. Every ReLU unit is "
                     "zero for some inputs; dead means zero for all of them."),
        Slip("wrong axis", lambda a: (a == 0).all(axis=1).mean(),
             message="You looked along the wrong axis: rows are examples, columns are units."),
        Slip("a count", lambda a: (a == 0).all(axis=0).sum(),
             message="You returned the number of dead units; the fraction divides by the number "
                     "of units."),
        Slip("one batch", lambda a: (a[:64] == 0).all(axis=0).mean(),
             message="You looked at the first few rows (examples) only. A unit that is zero on "
                     "those may fire on a later example: use every row."),
        Slip("negative instead of zero", lambda a: (a < 0).all(axis=0).mean(),
             message="Your answer is 0, yet some units are dead. Two slips give 0: a test `< 0` "
                     "(ReLU outputs are never negative, so it finds nothing), and `.all()` "
                     "without an axis (one answer for the whole array instead of one per unit)."),
        Slip("forgets the axis", lambda a: (a == 0).all(),
             message="Your answer is 0, yet some units are dead. Two slips give 0: a test `< 0` "
                     "(ReLU outputs are never negative, so it finds nothing), and `.all()` "
                     "without an axis (one answer for the whole array instead of one per unit).",
             compared=False),
        Slip("forgets the axis, then takes the mean", lambda a: (a == 0).all().mean(),
             message="Your answer is 0, yet some units are dead. Two slips give 0: a test `< 0` "
                     "(ReLU outputs are never negative, so it finds nothing), and `.all()` "
                     "without an axis (one answer for the whole array instead of one per unit)."),
        Slip("a threshold instead of exactly zero", lambda a: (a < 1e-3).all(axis=0).mean(),
             message="You counted units with *small* outputs as dead. Dead means exactly zero "
                     "for every example: only then is its gradient exactly 0 (a unit with tiny "
                     "outputs still learns)."),
        Slip("one value per unit", lambda a: (a == 0).all(axis=0),
             message="dead_fraction of a 1×6 array should be a single number, the fraction of "
                     "dead units.",
             compared=False),
        Slip("first row only", lambda a: (a[0] == 0).mean(),
             message="You looked at the first few rows (examples) only. A unit that is zero on "
                     "those may fire on a later example: use every row."),
        Slip("first 5 rows", lambda a: (a[:5] == 0).all(0).mean(),
             message="You looked at the first few rows (examples) only. A unit that is zero on "
                     "those may fire on a later example: use every row."),
        Slip("first 32 rows", lambda a: (a[:32] == 0).all(axis=0).mean(),
             message="You looked at the first few rows (examples) only. A unit that is zero on "
                     "those may fire on a later example: use every row."),
        Slip("the alive fraction", lambda a: (a != 0).any(axis=0).mean(),
             message="You returned the share of units that are *alive* (nonzero for some "
                     "example); the dead share is what is left."),
    ],
)

# --- 4.3 · ELU from scratch --------------------------------------------------------------

_ELU_INPUTS = np.array([-6.0, -2.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 3.0])
_ELU_HINTS = [
    "ELU has two pieces: the identity for positive inputs, and a curve on the negative "
    "side. Compute both for the whole array and choose between them element by element.",
    "ELU(x) = x for x > 0 and α(eˣ − 1) for x ≤ 0; NumPy's expm1 computes eˣ − 1 accurately "
    "near 0.",
]


_ELU_CASES = (_elementwise_cases(_ELU_INPUTS, 1.0, "alpha", 43)
              + _elementwise_cases(_ELU_INPUTS, 2.0, "alpha", 44))


def _in_place_elu(x, alpha=1.0):
    negative = x <= 0
    x[negative] = alpha * np.expm1(x[negative])  # overwrites the caller's array
    return x


function_exercise(
    "4.3", "ELU from scratch", "elu", activations.elu, _ELU_CASES, hints=_ELU_HINTS,
    explain_error=_explain_if,
    success="ELU(x) = x on the positive side (slope 1, like ReLU) and saturates at −α on the "
            "negative side, so its outputs average closer to 0.",
    slips=[
        Slip("forgets the − 1", lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.exp(x)),
             message="The negative side lacks the − 1: α·eˣ jumps to α at 0 and tends to 0, "
                     "but ELU must be continuous at 0 and saturate at −α.",
             hint="Compare your negative side at x = 0 with the formula."),
        Slip("ReLU", lambda x, alpha=1.0: np.maximum(0.0, x),
             message="Your function returns 0 for negative inputs: that is ReLU. ELU's "
                     "negative values are what pull the mean activation toward 0.",
             hint="What does the task say for x ≤ 0?"),
        Slip("no identity branch", lambda x, alpha=1.0: alpha * (np.exp(x) - 1),
             message="You used α(eˣ − 1) for every input; for x > 0 ELU is the identity, x.",
             hint="ELU has two pieces."),
        Slip("leaky ReLU", lambda x, alpha=1.0: np.where(x > 0, x, alpha * x),
             message="That is leaky ReLU with slope α; ELU's negative side is the curve "
                     "α(eˣ − 1), which flattens out at −α.",
             hint="What does the task say for x ≤ 0?"),
        Slip("ignores alpha", lambda x, alpha=1.0: np.where(x > 0, x, np.expm1(x)),
             message="Your function ignores its `alpha` argument (it always uses 1).",
             hint="Use the argument, not a number of your own."),
        Slip("α not on the − 1",
             lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.exp(x) - 1),
             message="α multiplies the − 1 too: ELU's negative side is α(eˣ − 1) = α·eˣ − α, "
                     "not α·eˣ − 1 (the two agree only for α = 1). Mind the brackets.",
             hint="Where do the brackets go?"),
        Slip("scalar code", lambda x, alpha=1.0: x if x > 0 else alpha * (np.exp(x) - 1),
             message="On x of shape (2,), alpha=1.0: `x` is a NumPy array, not a single number, "
                     "so `if x > 0` (or `... if x > 0 else ...`) cannot decide for all its "
                     "elements at once: Python raised \"The truth value of an array with more "
                     "than one element is ambiguous. Use a.any() or a.all()\".",
             compared=False),
        Slip("overwrites the caller's x", _in_place_elu,
             message="`elu` changed its input `x` in place (as `x -= ...`, `x *= ...` or "
                     "`x[...] = ...` do): the caller's `x` is overwritten, and code that uses "
                     "it again gets wrong numbers.",
             compared=False),
        Slip("a list", lambda x, alpha=1.0: [float(v) if v > 0 else alpha * np.expm1(v)
                                             for v in np.ravel(x)],
             message="elu on x of shape (1,), alpha=1.0 is a Python list; return a NumPy array.",
             compared=False),
        Slip("float32 with a wrong α", lambda x, alpha=1.0: np.where(
            x > 0, x, 1.01 * alpha * np.expm1(x)).astype(np.float32),
             message="elu on x of shape (1,), alpha=1.0 differs from the expected value at "
                     "index (0,).",
             compared=False),
    ],
)
