"""Exercises of 02_backpropagation: the backward passes of Linear and tanh,
and finding a planted bug with the gradient check."""

import numpy as np

from utils import backprop
from utils.exercises import patients
from utils.exercises.core import (
    BATCH_SIZES,
    Case,
    Exercise,
    Slip,
    Wrong,
    as_array,
    batch_cases,
    expect_close,
    function_exercise,
    register,
    result_parts,
)

# --- 2.1 · The backward pass of a Linear layer ------------------------------------------

_LINEAR_HINTS = [
    "Go back to the index form in the task, y_nk = Σ_j x_nj W_kj + b_k: which outputs does "
    "W_kj enter, which does b_k enter, which does x_nj enter, and with what slope? The chain "
    "rule adds up g_nk times that slope over exactly those outputs.",
    "∂L/∂x = (∂L/∂y)·W, ∂L/∂W = (∂L/∂y)ᵀ·x, and ∂L/∂b = ∂L/∂y summed over the examples "
    "of the batch.",
]


def _linear_backward(x, weight, grad_out):
    return grad_out @ weight, grad_out.T @ x, grad_out.sum(axis=0)


def _linear_case(n, n_in, n_out, rng):
    x, weight = rng.standard_normal((n, n_in)), rng.standard_normal((n_out, n_in))
    return Case((x, weight, rng.standard_normal((n, n_out))),
                f"a batch of {n} (x {x.shape}, weight {weight.shape}, grad_out {(n, n_out)})")


_RNG = np.random.default_rng(21)
#: Batches of 1, 2, 3 and 17 examples (4 → 3 features), and one layer of another shape.
_LINEAR_CASES = [_linear_case(n, 4, 3, _RNG) for n in BATCH_SIZES]
_LINEAR_CASES.append(_linear_case(5, 7, 2, _RNG))
_GRADIENTS = ("grad_x", "grad_weight", "grad_bias")


def _compare_linear(result, expected, case):
    """Three arrays of the shapes of x, weight and bias, with the expected values."""
    x, weight, _ = case.args
    parts = result_parts(result, _GRADIENTS, "linear_backward")
    grad_x, grad_weight, grad_bias = (as_array(part, name, array=True)
                                      for part, name in zip(parts, _GRADIENTS))
    if grad_weight.shape == weight.shape[::-1]:
        raise Wrong(f"grad_weight is transposed: it must have the shape of the weight "
                    f"{weight.shape}.", expected=f"shape {weight.shape}",
                    got=f"shape {grad_weight.shape}",
                    hint="Swap the order of the product, or transpose the other factor.")
    bias_shape = (weight.shape[0],)
    if grad_bias.shape != bias_shape:
        raise Wrong(f"grad_bias has shape {grad_bias.shape}, but the bias has shape "
                    f"{bias_shape}: one value per output unit.", expected=f"shape {bias_shape}",
                    got=f"shape {grad_bias.shape}",
                    hint="b_k enters the output y_nk of every example n: sum grad_out over the "
                         "batch axis (the examples) only, one value per output unit, and keep "
                         "no axis of length 1.")
    for got, right, name in zip((grad_x, grad_weight, grad_bias), expected, _GRADIENTS):
        expect_close(got, right, what=f"{name} for {case.label}")


def _explain_linear_error(error, case, name):
    """A matrix product of arrays whose shapes do not fit: say which shapes there are."""
    text = str(error.original)
    if isinstance(error.original, ValueError) and ("mismatch" in text or "broadcast" in text):
        x, weight, grad_out = case.args
        return Wrong("A matrix product or an element-wise operation got arrays whose shapes "
                     f"do not fit ({text}).",
                     hint=f"Here x has shape {x.shape}, weight {weight.shape} and grad_out "
                          f"{grad_out.shape}. Which product of them has the shape of x? "
                          "Which has the shape of weight?")
    return None


function_exercise(
    "2.1", "The backward pass of a Linear layer", "linear_backward", _linear_backward,
    _LINEAR_CASES, hints=_LINEAR_HINTS, compare=_compare_linear,
    explain_error=_explain_linear_error,
    success="Two matrix products and a sum are the whole backward pass of a Linear layer — "
            "the same formulas as backprop.Linear.backward.",
    slips=[
        Slip("grad_weight transposed", lambda x, w, g: (g @ w, x.T @ g, g.sum(axis=0)),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): grad_weight "
                     "is transposed: it must have the shape of the weight (3, 4).",
             compared=False),
        Slip("bias gradient averaged", lambda x, w, g: (g @ w, g.T @ x, g.mean(axis=0)),
             message="grad_bias is the mean of grad_out over the batch: the 1/N is counted "
                     "twice.",
             hint="The bias is added to every example, so each example's gradient adds to it "
                  "(the loss already averages, through grad_out)."),
        Slip("grad_x divided by the batch size",
             lambda x, w, g: (g @ w / len(x), g.T @ x, g.sum(axis=0)),
             message="grad_x is divided by the batch size; it should not be.",
             hint="Each example's input gradient depends on that example alone."),
        Slip("grad_weight averaged over the batch",
             lambda x, w, g: (g @ w, g.T @ x / len(x), g.sum(axis=0)),
             message="grad_weight is divided by the batch size; it should be the sum over the "
                     "examples.",
             hint="grad_out already carries the 1/N of the mean loss: each example's "
                  "contribution to W is simply added up."),
        Slip("grad_x with the transposed weight",
             lambda x, w, g: (g @ w.T, g.T @ x, g.sum(axis=0)),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): A matrix "
                     "product or an element-wise operation got arrays whose shapes do not fit "
                     "(matmul: Input operand 1 has a mismatch in its core dimension 0, with "
                     "gufunc signature (n?,k),(k,m?)->(n?,m?) (size 4 is different from 3)).",
             compared=False),
        Slip("element-wise instead of a matrix product",
             lambda x, w, g: (g * w, g.T @ x, g.sum(axis=0)),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): A matrix "
                     "product or an element-wise operation got arrays whose shapes do not fit "
                     "(operands could not be broadcast together with shapes (1,3) (3,4) ).",
             compared=False),
        Slip("bias summed over the wrong axis",
             lambda x, w, g: (g @ w, g.T @ x, g.sum(axis=1)),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): grad_bias has "
                     "shape (1,), but the bias has shape (3,): one value per output unit.",
             compared=False),
        Slip("bias summed over every axis", lambda x, w, g: (g @ w, g.T @ x, g.sum()),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): grad_bias has "
                     "shape (), but the bias has shape (3,): one value per output unit.",
             compared=False),
        Slip("bias summed with keepdims=True",
             lambda x, w, g: (g @ w, g.T @ x, g.sum(axis=0, keepdims=True)),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): grad_bias has "
                     "shape (1, 3), but the bias has shape (3,): one value per output unit.",
             compared=False),
        Slip("returns only two gradients", lambda x, w, g: (g.T @ x, g.sum(axis=0)),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): "
                     "linear_backward should return three values (grad_x, grad_weight, "
                     "grad_bias).",
             compared=False),
        Slip("a gradient left as None", lambda x, w, g: (None, g.T @ x, g.sum(axis=0)),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): grad_x is "
                     "None: did you forget to compute it?",
             compared=False),
        Slip("lists instead of arrays",
             lambda x, w, g: ((g @ w).tolist(), (g.T @ x).tolist(), g.sum(axis=0).tolist()),
             message="On a batch of 1 (x (1, 4), weight (3, 4), grad_out (1, 3)): grad_x is a "
                     "Python list; return a NumPy array.",
             compared=False),
    ],
)

# --- 2.2 · The backward pass of tanh ---------------------------------------------------

_TANH_HINTS = [
    "What does the chain rule do with the gradient from above, grad_out? Each x_i enters only "
    "its own output tanh(x_i), so you need one more factor: the slope of tanh at x_i.",
    "Differentiate tanh(x) = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ) with the quotient rule: the numerator "
    "becomes (eˣ + e⁻ˣ)² − (eˣ − e⁻ˣ)², so the slope is 1 − tanh(x)².",
    "∂L/∂x = grad_out · (1 − tanh(x)²), element by element, with tanh(x) computed from the "
    "input x.",
]


def _tanh_backward(x, grad_out):
    return grad_out * (1 - np.tanh(x) ** 2)


#: Batches of 1, 2, 3 and 17 examples of 3 features, and one of 2 × 7.
_TANH_CASES = batch_cases(lambda n, rng: (2 * rng.standard_normal((n, 3)),
                                          rng.standard_normal((n, 3))),
                          "x and grad_out of shape ({n}, 3)", seed=22)
_TANH_CASES.append(Case((np.linspace(-3, 3, 14).reshape(2, 7),
                         np.random.default_rng(23).standard_normal((2, 7))),
                        "x and grad_out of shape (2, 7)"))

function_exercise(
    "2.2", "The backward pass of tanh", "tanh_backward", _tanh_backward, _TANH_CASES,
    hints=_TANH_HINTS,
    success="Each element of grad_out is scaled by tanh's slope there — 1 at 0, and close to "
            "0 where tanh saturates.",
    slips=[
        Slip("forgets grad_out", lambda x, g: 1 - np.tanh(x) ** 2,
             message="You returned the local slope tanh'(x) only; it must be multiplied by "
                     "grad_out.", hint="What does the chain rule do with the gradient from "
                                       "above?"),
        Slip("slope in terms of the output", lambda x, g: g * (1 - x**2),
             message="You used 1 − x²: that is the slope written in terms of tanh's OUTPUT, "
                     "but x is its input.", hint="x here is what goes *into* tanh."),
        Slip("the sigmoid's slope form",
             lambda x, g: g * np.tanh(x) * (1 - np.tanh(x)),
             message="You used tanh(x)·(1 − tanh(x)): that is the form of the sigmoid's "
                     "slope, σ(1 − σ), not tanh's.",
             hint="Differentiate tanh itself, from its definition with eˣ and e⁻ˣ."),
        Slip("a sign slip", lambda x, g: g * (1 + np.tanh(x) ** 2),
             message="You used 1 + tanh(x)²: that slope grows with |x|, but tanh flattens "
                     "out for large |x|.",
             hint="Check the sign in the quotient rule: (eˣ + e⁻ˣ)² minus (eˣ − e⁻ˣ)²."),
        Slip("multiplies by tanh itself", lambda x, g: g * np.tanh(x),
             message="You multiplied grad_out by tanh(x) instead of its slope.",
             hint="The chain rule needs tanh's derivative, not its value."),
        Slip("a matrix product instead of element-wise",
             lambda x, g: g @ (1 - np.tanh(x) ** 2).T,
             message="tanh_backward on x and grad_out of shape (1, 3) has the wrong shape.",
             compared=False),
        Slip("a list instead of an array",
             lambda x, g: (g * (1 - np.tanh(x) ** 2)).tolist(),
             message="tanh_backward on x and grad_out of shape (1, 3) is a Python list; return "
                     "a NumPy array.",
             compared=False),
    ],
)

# --- 2.3 · Find the bug with the gradient check -----------------------------------------


def _check_buggy_parameter(buggy_parameter: object) -> str:
    names = [name for name, _ in backprop.MLP([2, 8, 8, 3]).named_parameters()]
    if isinstance(buggy_parameter, dict):
        raise Wrong("buggy_parameter is the whole report; it should be one name from it.",
                    hint="Pick the one name whose relative error stands out.")
    if not isinstance(buggy_parameter, str):
        raise Wrong(f"buggy_parameter should be the parameter's name as text, e.g. "
                    f"{names[0]!r}; got a value of type {type(buggy_parameter).__name__}.",
                    hint="Copy the name from the gradient-check report, in quotes.")
    buggy_parameter = buggy_parameter.strip().lower()  # forgive stray spaces and capitals
    if buggy_parameter not in names:
        raise Wrong(f"{buggy_parameter!r} is not a parameter of this network.",
                    expected=f"one of {names}", hint="Copy the name from the report.")
    if buggy_parameter != patients.BUGGY_PARAMETER:
        raise Wrong(f"The gradient of {buggy_parameter} agrees with finite differences to "
                    "better than 1e-6, so its backward pass is right.")
    return ("Right: the relative error of linear2.bias is close to 1 — its backward pass "
            "averages over the batch where it should sum. Every other gradient agrees with "
            "finite differences, which pins the bug to one line of code.")


def _context_of_2_3() -> dict[str, object]:
    """What the notebook has defined when the solution of 2.3 runs."""
    from utils.data import make_spirals

    points, labels = make_spirals(n_per_class=100, noise=0.03, seed=0)
    return {"backprop": backprop, "network_with_a_bug": patients.network_with_a_bug,
            "check_x": points[::10].astype(np.float64), "check_y": labels[::10]}


_BUG_HINTS = [
    "Run backprop.gradient_check on the network and read its report: one relative error per "
    "parameter. A correct backward pass agrees with finite differences to better than 1e-6.",
    "The buggy parameter is the one whose relative error is far above 1e-6 (near 1): its "
    "name is the key of that entry in the report.",
]

register(Exercise(
    id="2.3",
    title="Find the bug with the gradient check",
    answer_name="buggy_parameter",
    checker=_check_buggy_parameter,
    hints=_BUG_HINTS,
    wrong_answers=[
        Slip("a correct parameter", "linear1.weight",
             message="The gradient of linear1.weight agrees with finite differences to better "
                     "than 1e-6, so its backward pass is right.",
             compared=False),
        Slip("the layer's weight instead of its bias", "linear2.weight",
             message="The gradient of linear2.weight agrees with finite differences to better "
                     "than 1e-6, so its backward pass is right.",
             compared=False),
        Slip("a name that does not exist", "layer2.bias",
             message="'layer2.bias' is not a parameter of this network.",
             compared=False),
        Slip("a number", 2,
             message="buggy_parameter should be the parameter's name as text, e.g. "
                     "'linear1.weight'; got a value of type int.",
             compared=False),
        Slip("the whole report", {"linear2.bias": 0.97},
             message="buggy_parameter is the whole report; it should be one name from it.",
             compared=False),
    ],
    solution_context=_context_of_2_3,
))
