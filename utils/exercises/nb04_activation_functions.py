"""Exercises of 04_activation_functions: the derivative of leaky ReLU, the fraction of
dead units, and ELU from scratch."""

import numpy as np

from utils import activations
from utils.exercises import (
    Exercise,
    LearnerError,
    Wrong,
    as_array,
    call_learner,
    expect_close,
    expect_number,
    register,
)

# --- 4.1 · The derivative of leaky ReLU --------------------------------------------------

# No point sits exactly on the kink x = 0, where the derivative is a convention.
_SLOPE_INPUTS = np.array([-3.0, -1.0, -0.25, 0.25, 1.0, 4.0])
_SLOPE_HINT = ("Leaky ReLU is x for x > 0 and slope·x otherwise, so its derivative is 1 for "
               "x > 0 and `slope` otherwise: np.where(x > 0, 1.0, slope).")


def _call_elementwise(function, x, parameter, name, hint):
    """Call the learner's element-wise function; explain `if x > 0` written for one number."""
    try:
        return call_learner(function, x, parameter, name=name)
    except LearnerError as error:
        if isinstance(error.original, ValueError) and "ambiguous" in str(error.original):
            raise Wrong(f"`x` is a NumPy array, not a single number, so `if x > 0` (or "
                        f"`... if x > 0 else ...`) cannot decide for all its elements at once: "
                        f"Python raised \"{error.original}\". Use np.where, which decides "
                        f"element by element.", hint=hint) from None
        raise


def _check_leaky_relu_derivative(leaky_relu_derivative):
    x = _SLOPE_INPUTS
    for slope in (0.01, 0.2):
        shown = f"leaky_relu_derivative(x, slope={slope})"
        got = as_array(_call_elementwise(leaky_relu_derivative, x, slope,
                                         "leaky_relu_derivative", _SLOPE_HINT), shown)
        expected = activations.leaky_relu_derivative(x, slope)
        if got.shape == x.shape:
            slips = [
                (activations.leaky_relu(x, slope), "You returned leaky ReLU itself, not its "
                 "slope (its derivative)."),
                (activations.relu_derivative(x), "On the negative side you returned 0: that is "
                 "ReLU's derivative, the zero gradient that lets units die. Leaky ReLU keeps "
                 "the small slope there."),
                (np.where(x > 0, slope, 1.0), "The two sides are swapped: the slope is 1 for "
                 "x > 0 and `slope` for x ≤ 0."),
                (np.where(x > 0, 1.0, -slope), "The negative side has the wrong sign: slope·x "
                 "rises with x, so its derivative is +slope."),
                (np.where(x > 0, 1.0, slope * x), "On the negative side you returned slope·x, "
                 "the function's value there, not its slope: the derivative of slope·x is the "
                 "constant `slope`."),
            ]
            if slope != 0.01:
                slips.append((activations.leaky_relu_derivative(x, 0.01),
                              "Your function ignores its `slope` argument (it always uses "
                              "0.01)."))
            for values, message in slips:
                if np.allclose(got, values):
                    raise Wrong(message, expected=f"{shown} = {np.round(expected, 4).tolist()}",
                                got=str(np.round(got, 4).tolist()), hint=_SLOPE_HINT)
        expect_close(got, expected, what=shown, hint=_SLOPE_HINT, inputs=x)
    return ("The derivative is 1 wherever the unit is active, so active units pass the "
            "gradient on unchanged; on the negative side it is small but never 0, so no unit "
            "can die.")


register(Exercise(
    id="4.1",
    title="The derivative of leaky ReLU",
    answer_name="leaky_relu_derivative",
    checker=_check_leaky_relu_derivative,
    wrong_answers=[
        ("ReLU's derivative", lambda x, slope=0.01: (x > 0).astype(float)),
        ("the function instead of its derivative",
         lambda x, slope=0.01: np.where(x > 0, x, slope * x)),
        ("sides swapped", lambda x, slope=0.01: np.where(x > 0, slope, 1.0)),
        ("slope hard-coded", lambda x, slope=0.01: np.where(x > 0, 1.0, 0.01)),
        ("a single number", lambda x, slope=0.01: 1.0),
        ("slope times x", lambda x, slope=0.01: np.where(x > 0, 1, slope * x)),
        ("scalar code", lambda x, slope=0.01: 1.0 if x > 0 else slope),
    ],
))

# --- 4.2 · Count the dead units ----------------------------------------------------------


def dead_unit_example(seed=42):
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


_DEAD_HINT = ("A unit is a column. It is dead when its column is zero for every row: "
              "(activations == 0).all(axis=0) marks the dead units; its mean is the fraction.")


def _check_dead_fraction(dead_fraction):
    cases = [dead_unit_example(),
             np.maximum(0.0, np.random.default_rng(7).standard_normal((60, 8)) - 1.0)]
    cases[1][:, [2, 5]] = 0.0
    for values in cases:
        got = call_learner(dead_fraction, values, name="dead_fraction")
        expected = float((values == 0).all(axis=0).mean())
        shown = f"dead_fraction of a {values.shape[0]}×{values.shape[1]} array"
        got_array = as_array(got, shown)
        if got_array.size != 1:
            raise Wrong(f"{shown} should be a single number, the fraction of dead units.",
                        expected=f"{expected:.6g}", got=f"an array of shape {got_array.shape}",
                        hint=_DEAD_HINT + " Take .mean() of that boolean row.")
        value = float(got_array.ravel()[0])
        slips = [
            (float((values == 0).mean()), "You computed the fraction of zero *values*. A unit "
             "is dead only if it is zero for every example."),
            (float((values == 0).any(axis=0).mean()), "You counted units that are zero for "
             "*some* example. Every ReLU unit is zero for some inputs; dead means zero for "
             "all of them."),
            (float((values == 0).all(axis=1).mean()), "You looked along the wrong axis: rows "
             "are examples, columns are units."),
            (float((values == 0).all(axis=0).sum()), "You returned the number of dead units; "
             "divide by the number of units for the fraction."),
            (float((values < 0).all(axis=0).mean()), "ReLU outputs are never negative: a dead "
             "unit outputs exactly 0, so test `== 0` (or `<= 0`)."),
            (100 * expected, "You returned a percentage; the check wants the fraction, a "
             "number between 0 and 1 (drop the × 100)."),
            (1 - expected, "You returned the share of units that are *alive* (nonzero for "
             "some example); the dead share is what is left: 1 minus that."),
        ]
        first_rows = sorted({float((values[:n] == 0).all(axis=0).mean())
                             for n in range(1, values.shape[0] // 2)})
        slips += [(slip, "You looked at the first few rows (examples) only. A unit that is "
                   "zero on those may fire on a later example: use every row.")
                  for slip in first_rows]
        for slip, message in slips:
            if not np.isclose(slip, expected) and np.isclose(value, slip, rtol=1e-6):
                raise Wrong(message, expected=f"{expected:.6g}", got=f"{value:.6g}",
                            hint=_DEAD_HINT)
        expect_number(value, expected, what=shown, rtol=1e-6, hint=_DEAD_HINT)
    return ("Dead means zero for every example of the set you have: the fewer examples you "
            "look at, the more units look dead.")


register(Exercise(
    id="4.2",
    title="Count the dead units",
    answer_name="dead_fraction",
    checker=_check_dead_fraction,
    wrong_answers=[
        ("fraction of zero values", lambda a: (a == 0).mean()),
        ("zero for any example", lambda a: (a == 0).any(axis=0).mean()),
        ("wrong axis", lambda a: (a == 0).all(axis=1).mean()),
        ("a count", lambda a: (a == 0).all(axis=0).sum()),
        ("one batch", lambda a: (a[:64] == 0).all(axis=0).mean()),
        ("negative instead of zero", lambda a: (a < 0).all(axis=0).mean()),
        ("one value per unit", lambda a: (a == 0).all(axis=0)),
        ("first row only", lambda a: (a[0] == 0).mean()),
        ("first 5 rows", lambda a: (a[:5] == 0).all(0).mean()),
        ("first 32 rows", lambda a: (a[:32] == 0).all(axis=0).mean()),
        ("a percentage", lambda a: 100 * (a == 0).all(axis=0).mean()),
        ("the alive fraction", lambda a: (a != 0).any(axis=0).mean()),
    ],
))

# --- 4.3 · ELU from scratch --------------------------------------------------------------

_ELU_INPUTS = np.array([-6.0, -2.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 3.0])
_ELU_HINT = ("ELU is x for x > 0 and α(eˣ − 1) otherwise: "
             "np.where(x > 0, x, alpha * (np.exp(x) - 1)), or np.expm1 for e^x − 1.")


def _check_elu(elu):
    x = _ELU_INPUTS
    for alpha in (1.0, 2.0):
        shown = f"elu(x, alpha={alpha:g})"
        got = as_array(_call_elementwise(elu, x, alpha, "elu", _ELU_HINT), shown)
        expected = activations.elu(x, alpha)
        if got.shape == x.shape:
            slips = [
                (np.where(x > 0, x, alpha * np.exp(x)), "The negative side lacks the − 1: "
                 "α·eˣ jumps to α at 0 and tends to 0, but ELU must be continuous at 0 and "
                 "saturate at −α."),
                (activations.relu(x), "Your function returns 0 for negative inputs: that is "
                 "ReLU. ELU's negative values are what pull the mean activation toward 0."),
                (alpha * np.expm1(x), "You used α(eˣ − 1) for every input; for x > 0 ELU is "
                 "the identity, x."),
                (np.where(x > 0, x, alpha * x), "That is leaky ReLU with slope α; ELU's negative "
                 "side is the curve α(eˣ − 1), which flattens out at −α."),
            ]
            if alpha != 1.0:
                slips.append((np.where(x > 0, x, alpha * np.exp(x) - 1), "α multiplies the "
                              "− 1 too: ELU's negative side is α(eˣ − 1) = α·eˣ − α, not "
                              "α·eˣ − 1 (the two agree only for α = 1). Mind the brackets."))
                slips.append((activations.elu(x, 1.0), "Your function ignores its `alpha` "
                              "argument (it always uses 1)."))
            for values, message in slips:
                if np.allclose(got, values):
                    at = int(np.argmax(np.abs(got - expected)))
                    raise Wrong(message, expected=f"{shown} at x = {x[at]:g}: {expected[at]:.4f}",
                                got=f"{got[at]:.4f}", hint=_ELU_HINT)
        expect_close(got, expected, what=shown, hint=_ELU_HINT, inputs=x)
    return ("ELU(x) = x on the positive side (slope 1, like ReLU) and saturates at −α on the "
            "negative side, so its outputs average closer to 0.")


register(Exercise(
    id="4.3",
    title="ELU from scratch",
    answer_name="elu",
    checker=_check_elu,
    wrong_answers=[
        ("forgets the − 1", lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.exp(x))),
        ("ReLU", lambda x, alpha=1.0: np.maximum(0.0, x)),
        ("no identity branch", lambda x, alpha=1.0: alpha * (np.exp(x) - 1)),
        ("leaky ReLU", lambda x, alpha=1.0: np.where(x > 0, x, alpha * x)),
        ("ignores alpha", lambda x, alpha=1.0: np.where(x > 0, x, np.expm1(x))),
        ("α not on the − 1", lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.exp(x) - 1)),
        ("scalar code", lambda x, alpha=1.0: x if x > 0 else alpha * (np.exp(x) - 1)),
    ],
))
