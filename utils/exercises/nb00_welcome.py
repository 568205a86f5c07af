"""Exercise of 00_welcome: the slope of the sigmoid."""

import math

import numpy as np

from utils.exercises.core import Case, LearnerError, Slip, Wrong, function_exercise

_HINTS = [
    "First compute σ(x) itself from its definition, with a function that works on whole "
    "arrays (NumPy's, not the math module's); then combine it as the formula in the task "
    "says.",
    "σ(x) = 1 / (1 + e^(−x)) and σ'(x) = σ(x)·(1 − σ(x)); at x = 0 that is ½·½ = ¼.",
]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _slope(x):
    return _sigmoid(x) * (1 - _sigmoid(x))


def _math_exp_slope(x):
    return math.exp(-x) / (1 + math.exp(-x)) ** 2  # math.exp takes one number only


def _explain_error(error: LearnerError, case: Case, name: str) -> Wrong | None:
    """A function that works on a number but fails on an array: say so."""
    if case.label.startswith("x ="):
        return None
    return Wrong(f"sigmoid_slope works on a single number but fails on a NumPy array, "
                 f"{case.label} ({type(error.original).__name__}: {error.original}).",
                 hint="Use NumPy functions, which work element-wise on whole arrays (NumPy's "
                      "exp rather than the math module's), and no `if` on x.")


_RNG = np.random.default_rng(0)
#: Two numbers, then arrays of odd shapes (the notebook tries other ones).
_CASES = [Case((0.0,), "x = 0.0"), Case((-2.5,), "x = -2.5"),
          Case((np.array([-6.0, -0.5, 0.0, 0.5, 6.0]),), "x = [-6, -0.5, 0, 0.5, 6]")]
_CASES += [Case((_RNG.normal(0, 3, shape),), f"x of shape {shape}")
           for shape in [(2,), (3,), (17,), (3, 2)]]

function_exercise(
    "0.1", "The slope of the sigmoid", "sigmoid_slope", _slope, _CASES, hints=_HINTS,
    # float32 (PyTorch's default) agrees with the float64 reference to about 1e-7.
    rtol=1e-4, atol=1e-8, explain_error=_explain_error,
    success="The slope peaks at 0.25 (at x = 0) and is below 0.0025 for |x| > 6: keep that "
            "number 1/4 in mind for notebook 03.",
    slips=[
        Slip("returns σ(x) itself", _sigmoid, message="You returned σ(x) itself, not its slope.",
             hint="The task asks for the slope, the derivative of σ."),
        Slip("a plus sign instead of a minus", lambda x: _sigmoid(x) * (1 + _sigmoid(x)),
             message="You wrote σ(x)·(1 + σ(x)); the slope has a minus sign.",
             hint="Compare the sign inside the bracket with the formula in the task."),
        Slip("forgets the factor σ(x)", lambda x: 1 - _sigmoid(x),
             message="You returned 1 − σ(x): a factor is missing.",
             hint="The slope is a product of two factors; you have one of them."),
        Slip("the slope of tanh instead", lambda x: 1 - np.tanh(x) ** 2,
             message="You returned the slope of tanh, 1 − tanh²(x).",
             hint="This exercise is about the sigmoid σ(x) = 1 / (1 + e^(−x)), not tanh."),
        Slip("twice the slope", lambda x: 2 * _slope(x),
             message="Your slope is 2 times the right value: is a factor doubled?"),
        Slip("uses math.exp, which fails on arrays", _math_exp_slope,
             message="sigmoid_slope works on a single number but fails on a NumPy array, x of "
                     "shape ",
             compared=False, varies=True),
        Slip("returns a constant", lambda x: 0.25,
             message="Your function gives 0.25 whatever x is: that is the slope at x = 0 "
                     "only."),
        Slip("returns a string", lambda x: "0.25",
             message="sigmoid_slope on x = 0.0 should be a number or an array of numbers, but "
                     "it is of type str.",
             compared=False),
        Slip("an `if` on the input", lambda x: 0.25 if x == 0 else _slope(x),
             message="sigmoid_slope works on a single number but fails on a NumPy array, x of "
                     "shape ",
             compared=False, varies=True),
        Slip("a list instead of an array",
             lambda x: [float(v) for v in np.ravel(_slope(x))] if np.ndim(x) else _slope(x),
             message="sigmoid_slope on x of shape (2,) is a Python list; return a NumPy array. "
                     "(It is right on x = 0.0, x = -2.5.)",
             compared=False),
    ],
)
