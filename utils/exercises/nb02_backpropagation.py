"""Exercises of 02_backpropagation: the backward passes of Linear and sigmoid,
and finding a planted bug with the gradient check."""

import numpy as np

from utils import scratch
from utils.exercises import (
    Exercise,
    LearnerError,
    Wrong,
    as_array,
    call_learner,
    expect_close,
    register,
)

# --- 2.1 · The backward pass of a Linear layer ------------------------------------------


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
    grad_x, grad_weight, grad_bias = (as_array(part, name) for part, name in
                                      zip(result, ("grad_x", "grad_weight", "grad_bias")))
    if grad_weight.shape == (4, 3):
        raise Wrong("grad_weight is transposed: it must have the shape of the weight (3, 4).",
                    expected="shape (3, 4)", got="shape (4, 3)",
                    hint="dL/dW = grad_outᵀ · x, i.e. grad_out.T @ x.")
    if grad_bias.shape == (3,) and np.allclose(grad_bias, grad_out.mean(axis=0)):
        raise Wrong("grad_bias is the mean of grad_out over the batch; it should be the sum.",
                    expected=str(np.round(grad_out.sum(axis=0), 4)),
                    got=str(np.round(grad_bias, 4)),
                    hint="The bias is added to every example, so its gradient sums over them "
                         "(the loss already averages, through grad_out).")
    hint_x = "dL/dx = grad_out · W, i.e. grad_out @ weight (shape (5, 4) like x)."
    if grad_x.shape == (5, 4) and np.allclose(grad_x, grad_out @ weight / len(x)):
        raise Wrong("grad_x is divided by the batch size; it should not be.", hint=hint_x)
    expect_close(grad_x, grad_out @ weight, what="grad_x", hint=hint_x)
    expect_close(grad_weight, grad_out.T @ x, what="grad_weight",
                 hint="dL/dW = grad_outᵀ · x, i.e. grad_out.T @ x.")
    expect_close(grad_bias, grad_out.sum(axis=0), what="grad_bias",
                 hint="dL/db = grad_out summed over the batch: grad_out.sum(axis=0).")
    return ("Two matrix products and a sum are the whole backward pass of a Linear layer — "
            "the same formulas as scratch.Linear.backward.")


register(Exercise(
    id="2.1",
    title="The backward pass of a Linear layer",
    answer_name="linear_backward",
    checker=_check_linear_backward,
    wrong_answers=[
        ("grad_weight transposed", lambda x, w, g: (g @ w, x.T @ g, g.sum(axis=0))),
        ("bias gradient averaged", lambda x, w, g: (g @ w, g.T @ x, g.mean(axis=0))),
        ("grad_x with the transposed weight", lambda x, w, g: (g @ w.T, g.T @ x, g.sum(axis=0))),
        ("element-wise instead of a matrix product", lambda x, w, g: (g * w, g.T @ x,
                                                                      g.sum(axis=0))),
        ("grad_x divided by the batch size", lambda x, w, g: (g @ w / len(x), g.T @ x,
                                                               g.sum(axis=0))),
        ("returns only two gradients", lambda x, w, g: (g.T @ x, g.sum(axis=0))),
    ],
))

# --- 2.2 · The backward pass of the sigmoid --------------------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _check_sigmoid_backward(sigmoid_backward):
    """dL/dx = dL/dy · σ(x)(1 − σ(x)) for the sigmoid's input x."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((4, 3)) * 2
    grad_out = rng.standard_normal((4, 3))
    got = as_array(call_learner(sigmoid_backward, x, grad_out, name="sigmoid_backward"),
                   "sigmoid_backward(x, grad_out)")
    local = _sigmoid(x) * (1 - _sigmoid(x))
    if got.shape == x.shape:
        slips = [
            (local, "You returned the local slope σ'(x) only; it must be multiplied by "
                    "grad_out.", "The chain rule: dL/dx = dL/dy · dy/dx = grad_out · σ'(x)."),
            (grad_out * x * (1 - x), "You used x·(1 − x): that is the slope written in terms "
             "of the sigmoid's OUTPUT, but x is its input.",
             "Compute s = σ(x) first, then grad_out · s · (1 − s)."),
            (grad_out * _sigmoid(x), "You multiplied grad_out by σ(x) instead of its slope.",
             "The slope of σ is σ(x)·(1 − σ(x))."),
        ]
        for values, message, hint in slips:
            if np.allclose(got, values):
                raise Wrong(message, hint=hint)
    expect_close(got, grad_out * local, what="sigmoid_backward(x, grad_out)",
                 hint="dL/dx = grad_out · σ(x) · (1 − σ(x)), element by element.")
    return "Each element of grad_out is scaled by the sigmoid's slope there — at most 1/4."


register(Exercise(
    id="2.2",
    title="The backward pass of the sigmoid",
    answer_name="sigmoid_backward",
    checker=_check_sigmoid_backward,
    wrong_answers=[
        ("forgets grad_out", lambda x, g: _sigmoid(x) * (1 - _sigmoid(x))),
        ("slope in terms of the output", lambda x, g: g * x * (1 - x)),
        ("multiplies by σ itself", lambda x, g: g * _sigmoid(x)),
        ("a matrix product instead of element-wise",
         lambda x, g: g @ (_sigmoid(x) * (1 - _sigmoid(x))).T),
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
                    hint="Pick the name with the largest error: max(report, key=report.get).")
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
                    "better than 1e-6, so its backward pass is right.",
                    hint="Look for the one relative error that is far above 1e-6.")
    return ("Right: the relative error of linear2.bias is close to 1 — its backward pass "
            "averages over the batch where it should sum. Every other gradient agrees with "
            "finite differences, which pins the bug to one line of code.")


def _context_of_2_3():
    """What the notebook has defined when the solution of 2.3 runs."""
    from utils.data import make_spirals

    points, labels = make_spirals(n_per_class=100, noise=0.03, seed=0)
    return {"scratch": scratch, "network_with_a_bug": network_with_a_bug,
            "check_x": points[:20].astype(np.float64), "check_y": labels[:20]}


register(Exercise(
    id="2.3",
    title="Find the bug with the gradient check",
    answer_name="buggy_parameter",
    checker=_check_buggy_parameter,
    wrong_answers=[
        ("a correct parameter", "linear1.weight"),
        ("the layer's weight instead of its bias", "linear2.weight"),
        ("a name that does not exist", "layer2.bias"),
        ("a number", 2),
        ("the whole report", {"linear2.bias": 0.97}),
    ],
    solution_context=_context_of_2_3,
))
