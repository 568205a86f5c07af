"""Exercises of 02_backpropagation: the backward passes of Linear and tanh,
and finding a planted bug with the gradient check."""

import numpy as np

from utils import scratch
from utils.exercises import (
    Exercise,
    LearnerError,
    Slip,
    Wrong,
    as_array,
    call_learner,
    expect_close,
    register,
    reject_slips,
)

# --- 2.1 · The backward pass of a Linear layer ------------------------------------------

_LINEAR_HINTS = [
    "Go back to the index form in the task, y_nk = Σ_j x_nj W_kj + b_k: which outputs does "
    "W_kj enter, which does b_k enter, which does x_nj enter, and with what slope? The chain "
    "rule adds up g_nk times that slope over exactly those outputs.",
    "∂L/∂x = (∂L/∂y)·W, ∂L/∂W = (∂L/∂y)ᵀ·x, and ∂L/∂b = ∂L/∂y summed over the examples "
    "of the batch.",
]


def _linear_problem():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((5, 4))
    weight = rng.standard_normal((3, 4))
    grad_out = rng.standard_normal((5, 3))
    return x, weight, grad_out


def _check_linear_backward(linear_backward):
    """dL/dx = g W, dL/dW = gᵀ x, dL/db = Σ_batch g, for x (5, 4), W (3, 4), g (5, 3)."""
    x, weight, grad_out = _linear_problem()
    try:
        result = call_learner(linear_backward, x, weight, grad_out, name="linear_backward")
    except LearnerError as error:
        if isinstance(error.original, ValueError) and (
                "mismatch" in str(error.original) or "broadcast" in str(error.original)):
            raise Wrong("A matrix product or an element-wise operation got arrays whose shapes "
                        f"do not fit ({error.original}).",
                        hint="Here x has shape (5, 4), weight (3, 4) and grad_out (5, 3). Which "
                             "product of them has the shape (5, 4) of x? Which has the shape "
                             "(3, 4) of weight?") from None
        raise
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise Wrong("linear_backward should return three arrays: (grad_x, grad_weight, "
                    "grad_bias).", got=f"{type(result).__name__}"
                    + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""),
                    hint="End with `return grad_x, grad_weight, grad_bias`.")
    for part, name in zip(result, ("grad_x", "grad_weight", "grad_bias")):
        if part is None or part is Ellipsis:
            raise Wrong(f"{name} is {part!r}: did you forget to compute it?",
                        expected=f"{name}, an array", got=f"{name} = {part!r}")
    grad_x, grad_weight, grad_bias = (as_array(part, name, array=True) for part, name in
                                      zip(result, ("grad_x", "grad_weight", "grad_bias")))
    if grad_weight.shape == (4, 3):
        raise Wrong("grad_weight is transposed: it must have the shape of the weight (3, 4).",
                    expected="shape (3, 4)", got="shape (4, 3)",
                    hint="Swap the order of the product, or transpose the other factor.")
    if grad_bias.shape != (3,):
        raise Wrong(f"grad_bias has shape {grad_bias.shape}, but the bias has shape (3,): "
                    "one value per output unit.", expected="shape (3,)",
                    got=f"shape {grad_bias.shape}",
                    hint="b_k enters the output y_nk of every example n: sum grad_out over the "
                         "batch axis (the examples) only, one value per output unit, and keep "
                         "no axis of length 1.")
    reject_slips(grad_bias, [(grad_out.mean(axis=0), "grad_bias is the mean of grad_out "
                              "over the batch: the 1/N is counted twice.",
                              "The bias is added to every example, so each example's "
                              "gradient adds to it (the loss already averages, through "
                              "grad_out).")],
                 expected=str(np.round(grad_out.sum(axis=0), 4)),
                 shown=str(np.round(grad_bias, 4)))
    if grad_weight.shape == (3, 4):
        reject_slips(grad_weight, [(grad_out.T @ x / len(x),
                                    "grad_weight is divided by the batch size; it should be "
                                    "the sum over the examples.",
                                    "grad_out already carries the 1/N of the mean loss: each "
                                    "example's contribution to W is simply added up.")])
    if grad_x.shape == (5, 4):
        reject_slips(grad_x, [(grad_out @ weight / len(x),
                               "grad_x is divided by the batch size; it should not be.",
                               "Each example's input gradient depends on that example alone.")])
    expect_close(grad_x, grad_out @ weight, what="grad_x")
    expect_close(grad_weight, grad_out.T @ x, what="grad_weight")
    expect_close(grad_bias, grad_out.sum(axis=0), what="grad_bias")
    return ("Two matrix products and a sum are the whole backward pass of a Linear layer — "
            "the same formulas as scratch.Linear.backward.")


register(Exercise(
    id="2.1",
    title="The backward pass of a Linear layer",
    answer_name="linear_backward",
    checker=_check_linear_backward,
    hints=_LINEAR_HINTS,
    wrong_answers=[
        Slip("grad_weight transposed", lambda x, w, g: (g @ w, x.T @ g, g.sum(axis=0)),
             "grad_weight is transposed"),
        Slip("bias gradient averaged", lambda x, w, g: (g @ w, g.T @ x, g.mean(axis=0)),
             "the 1/N is counted twice"),
        Slip("grad_x with the transposed weight",
             lambda x, w, g: (g @ w.T, g.T @ x, g.sum(axis=0)), "shapes do not fit"),
        Slip("element-wise instead of a matrix product",
             lambda x, w, g: (g * w, g.T @ x, g.sum(axis=0)), "shapes do not fit"),
        Slip("grad_x divided by the batch size",
             lambda x, w, g: (g @ w / len(x), g.T @ x, g.sum(axis=0)),
             "divided by the batch size"),
        Slip("grad_weight averaged over the batch",
             lambda x, w, g: (g @ w, g.T @ x / len(x), g.sum(axis=0)),
             "grad_weight is divided by the batch size"),
        Slip("bias summed over the wrong axis",
             lambda x, w, g: (g @ w, g.T @ x, g.sum(axis=1)), "one value per output unit"),
        Slip("bias summed over every axis", lambda x, w, g: (g @ w, g.T @ x, g.sum()),
             "one value per output unit"),
        Slip("bias summed with keepdims=True",
             lambda x, w, g: (g @ w, g.T @ x, g.sum(axis=0, keepdims=True)),
             "one value per output unit"),
        Slip("returns only two gradients", lambda x, w, g: (g.T @ x, g.sum(axis=0)),
             "should return three arrays"),
        Slip("a gradient left as None", lambda x, w, g: (None, g.T @ x, g.sum(axis=0)),
             "grad_x is None"),
        Slip("lists instead of arrays",
             lambda x, w, g: ((g @ w).tolist(), (g.T @ x).tolist(), g.sum(axis=0).tolist()),
             "return a NumPy array"),
    ],
))

# --- 2.2 · The backward pass of tanh ---------------------------------------------------

_TANH_HINTS = [
    "What does the chain rule do with the gradient from above, grad_out? Each x_i enters only "
    "its own output tanh(x_i), so you need one more factor: the slope of tanh at x_i.",
    "Differentiate tanh(x) = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ) with the quotient rule: the numerator "
    "becomes (eˣ + e⁻ˣ)² − (eˣ − e⁻ˣ)², so the slope is 1 − tanh(x)².",
    "∂L/∂x = grad_out · (1 − tanh(x)²), element by element, with tanh(x) computed from the "
    "input x.",
]


def _check_tanh_backward(tanh_backward):
    """dL/dx = dL/dy · (1 − tanh(x)²) for tanh's input x."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((4, 3)) * 2
    grad_out = rng.standard_normal((4, 3))
    got = as_array(call_learner(tanh_backward, x, grad_out, name="tanh_backward"),
                   "tanh_backward(x, grad_out)", array=True)
    y = np.tanh(x)
    local = 1 - y**2
    if got.shape == x.shape:
        reject_slips(got, [
            (local, "You returned the local slope tanh'(x) only; it must be multiplied by "
                    "grad_out.", "What does the chain rule do with the gradient from above?"),
            (grad_out * (1 - x**2), "You used 1 − x²: that is the slope written in terms "
             "of tanh's OUTPUT, but x is its input.",
             "x here is what goes *into* tanh."),
            (grad_out * y * (1 - y), "You used tanh(x)·(1 − tanh(x)): that is the form of "
             "the sigmoid's slope, σ(1 − σ), not tanh's.",
             "Differentiate tanh itself, from its definition with eˣ and e⁻ˣ."),
            (grad_out * (1 + y**2), "You used 1 + tanh(x)²: that slope grows with |x|, "
             "but tanh flattens out for large |x|.",
             "Check the sign in the quotient rule: (eˣ + e⁻ˣ)² minus (eˣ − e⁻ˣ)²."),
            (grad_out * y, "You multiplied grad_out by tanh(x) instead of its slope.",
             "The chain rule needs tanh's derivative, not its value."),
        ], right=grad_out * local)
    expect_close(got, grad_out * local, what="tanh_backward(x, grad_out)")
    return ("Each element of grad_out is scaled by tanh's slope there — 1 at 0, and close to "
            "0 where tanh saturates.")


register(Exercise(
    id="2.2",
    title="The backward pass of tanh",
    answer_name="tanh_backward",
    checker=_check_tanh_backward,
    hints=_TANH_HINTS,
    wrong_answers=[
        Slip("forgets grad_out", lambda x, g: 1 - np.tanh(x) ** 2, "local slope tanh'(x) only"),
        Slip("slope in terms of the output", lambda x, g: g * (1 - x**2), "OUTPUT"),
        Slip("the sigmoid's slope form",
             lambda x, g: g * np.tanh(x) * (1 - np.tanh(x)), "the sigmoid's slope"),
        Slip("a sign slip", lambda x, g: g * (1 + np.tanh(x) ** 2), "grows with |x|"),
        Slip("multiplies by tanh itself", lambda x, g: g * np.tanh(x), "instead of its slope"),
        Slip("a matrix product instead of element-wise",
             lambda x, g: g @ (1 - np.tanh(x) ** 2).T, "wrong shape"),
        Slip("a list instead of an array",
             lambda x, g: (g * (1 - np.tanh(x) ** 2)).tolist(), "return a NumPy array"),
    ],
))

# --- 2.3 · Find the bug with the gradient check -----------------------------------------


class _LinearWithABug(scratch.Linear):
    """A Linear layer whose backward pass averages the bias gradient (it should sum)."""

    def backward(self, grad_out):
        grad_in = super().backward(grad_out)
        self.grads["bias"] = grad_out.mean(axis=0)
        return grad_in


def network_with_a_bug(seed=0):
    """A small tanh MLP [2, 8, 8, 3] in which one parameter's gradient is computed wrongly.

    Find which one with ``scratch.gradient_check``.
    """
    model = scratch.MLP([2, 8, 8, 3], "tanh", seed=seed)
    buggy = model.layers[2]
    replacement = _LinearWithABug(buggy.n_in, buggy.n_out)
    replacement.params = buggy.params
    model.layers[2] = replacement
    return model


_BUGGY_PARAMETER = "linear2.bias"


def _check_buggy_parameter(buggy_parameter):
    names = [name for name, _ in scratch.MLP([2, 8, 8, 3]).named_parameters()]
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
    if buggy_parameter != _BUGGY_PARAMETER:
        raise Wrong(f"The gradient of {buggy_parameter} agrees with finite differences to "
                    "better than 1e-6, so its backward pass is right.")
    return ("Right: the relative error of linear2.bias is close to 1 — its backward pass "
            "averages over the batch where it should sum. Every other gradient agrees with "
            "finite differences, which pins the bug to one line of code.")


def _context_of_2_3():
    """What the notebook has defined when the solution of 2.3 runs."""
    from utils.data import make_spirals

    points, labels = make_spirals(n_per_class=100, noise=0.03, seed=0)
    return {"scratch": scratch, "network_with_a_bug": network_with_a_bug,
            "check_x": points[::10].astype(np.float64), "check_y": labels[::10]}


_BUG_HINTS = [
    "Run scratch.gradient_check on the network and read its report: one relative error per "
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
        Slip("a correct parameter", "linear1.weight", "its backward pass is right"),
        Slip("the layer's weight instead of its bias", "linear2.weight",
             "its backward pass is right"),
        Slip("a name that does not exist", "layer2.bias", "is not a parameter"),
        Slip("a number", 2, "as text"),
        Slip("the whole report", {"linear2.bias": 0.97}, "the whole report"),
    ],
    solution_context=_context_of_2_3,
))
