"""Exercise of 00_welcome: the slope of the sigmoid."""

import numpy as np

from utils.exercises import (
    Exercise,
    LearnerError,
    Slip,
    Wrong,
    as_array,
    call_learner,
    describe_factor,
    expect_close,
    register,
    reject_slips,
)

_HINTS = [
    "First compute σ(x) itself from its definition, with a function that works on whole "
    "arrays (NumPy's, not the math module's); then combine it as the formula in the task "
    "says.",
    "σ(x) = 1 / (1 + e^(−x)) and σ'(x) = σ(x)·(1 − σ(x)); at x = 0 that is ½·½ = ¼.",
]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _check_sigmoid_slope(sigmoid_slope):
    """Compare with σ(x)(1 − σ(x)) on a scalar and on an array; name the common slips."""
    x = np.array([-6.0, -2.0, -0.5, 0.0, 0.5, 2.0, 6.0])
    sigma = _sigmoid(x)
    at_zero = as_array(call_learner(sigmoid_slope, 0.0, name="sigmoid_slope"),
                       "sigmoid_slope(0.0)")
    if at_zero.size != 1:
        raise Wrong("sigmoid_slope(0.0) should be a single number.", expected="0.25",
                    got=f"an array of shape {at_zero.shape}")
    try:
        got = call_learner(sigmoid_slope, x, name="sigmoid_slope")
    except LearnerError as error:
        raise Wrong("sigmoid_slope works on a single number but fails on a NumPy array "
                    f"({type(error.original).__name__}: {error.original}).",
                    hint="Use NumPy functions, which work element-wise on whole arrays "
                         "(NumPy's exp rather than the math module's), and no `if` on x."
                    ) from None
    got_array = as_array(got, "sigmoid_slope(x)", array=True)
    expected = sigma * (1 - sigma)
    if got_array.shape == x.shape:
        reject_slips(got_array, [
            (sigma, "You returned σ(x) itself, not its slope.",
             "The task asks for the slope, the derivative of σ."),
            (1 - sigma, "You returned 1 − σ(x): a factor is missing.",
             "The slope is a product of two factors; you have one of them."),
            (sigma * (1 + sigma), "You wrote σ(x)·(1 + σ(x)); the slope has a minus sign.",
             "Compare the sign inside the bracket with the formula in the task."),
            (1 - np.tanh(x) ** 2, "You returned the slope of tanh, 1 − tanh²(x).",
             "This exercise is about the sigmoid σ(x) = 1 / (1 + e^(−x)), not tanh."),
        ], right=expected, expected="0.25 at x = 0", shown=f"{got_array[3]:.6g} at x = 0")
        if not np.isnan(got_array).any() and not np.isclose(got_array[3], 0.25, rtol=1e-4):
            factor = got_array[3] / 0.25
            detail = (f" ({describe_factor(factor)} times the right value)"
                      if np.isfinite(factor) and factor else "")
            raise Wrong(f"At x = 0 your slope is off{detail}.", expected="0.25 at x = 0",
                        got=f"{got_array[3]:.6g} at x = 0")
    # float32 (PyTorch's default) agrees with the float64 reference to about 1e-7.
    expect_close(got, expected, what="sigmoid_slope(x)", rtol=1e-4, atol=1e-8, inputs=x)
    return ("The slope peaks at 0.25 (at x = 0) and is below 0.0025 for |x| > 6: "
            "keep that number 1/4 in mind for notebook 03.")


register(Exercise(
    id="0.1",
    title="The slope of the sigmoid",
    answer_name="sigmoid_slope",
    checker=_check_sigmoid_slope,
    hints=_HINTS,
    wrong_answers=[
        Slip("returns σ(x) itself", lambda x: 1 / (1 + np.exp(-x)), "σ(x) itself"),
        Slip("a plus sign instead of a minus",
             lambda x: (1 / (1 + np.exp(-x))) * (1 + 1 / (1 + np.exp(-x))), "minus sign"),
        Slip("forgets the factor σ(x)", lambda x: 1 - 1 / (1 + np.exp(-x)),
             "a factor is missing"),
        Slip("uses math.exp, which fails on arrays",
             lambda x: __import__("math").exp(-x) / (1 + __import__("math").exp(-x)) ** 2,
             "fails on a NumPy array"),
        Slip("returns a constant", lambda x: 0.25, "single number"),
        Slip("returns a string", lambda x: "0.25", "of type str"),
        Slip("the slope of tanh instead", lambda x: 1 - np.tanh(x) ** 2, "slope of tanh"),
        Slip("twice the slope", lambda x: 2 / (1 + np.exp(-x)) * (1 - 1 / (1 + np.exp(-x))),
             "2 times the right value"),
        Slip("an `if` on the input", lambda x: 0.25 if x == 0 else 0.1,
             "fails on a NumPy array"),
        Slip("a list instead of an array",
             lambda x: [float(v) for v in np.ravel(1 / (1 + np.exp(-x)) * (1 - 1 / (1 + np.exp(-x))))]
             if np.ndim(x) else 0.25, "return a NumPy array"),
    ],
))
