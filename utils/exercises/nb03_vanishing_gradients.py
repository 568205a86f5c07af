"""Exercises of 03_vanishing_gradients: predict the decay, the Jacobian of a
sigmoid layer, and finding the layer where learning stops."""

import math
import numbers
import re

import numpy as np
import torch

from utils.exercises import patients
from utils.exercises.core import (
    Case,
    Exercise,
    Slip,
    Unreadable,
    Wrong,
    expect_close,
    function_exercise,
    register,
)

# --- 3.1 · Predict, then measure ------------------------------------------------------

PREDICTION_DEPTH = 8
_PREDICTION_HINTS = [
    "The gradient is multiplied by about the same factor (below 1) each time it passes "
    "from one layer to the one below. How many such passes lie between layer 8 and layer 1?",
    "From layer 8 down to layer 1 there are 7 steps, each multiplying the gradient's size by "
    "about ¼·√(1/3) ≈ 0.144: the ratio is about 0.144⁷.",
]


def measured_gradient_ratio(depth: int = PREDICTION_DEPTH, seed: int = 0) -> float:
    """‖∂L/∂z₁‖ / ‖∂L/∂z_depth‖ of a sigmoid MLP (width 64, standard init) on 512 digits:
    the measurement of notebook 03's explorer."""
    from utils.widgets import gradient_norm_explorer

    return gradient_norm_explorer(depth, "sigmoid", seed=seed).ratio


def _as_prediction(predicted_ratio):
    """The learner's prediction as a float, or Wrong."""
    if hasattr(predicted_ratio, "item") and getattr(predicted_ratio, "ndim", 0) == 0:
        predicted_ratio = predicted_ratio.item()  # a 0-d tensor or NumPy number
    if isinstance(predicted_ratio, bool) or not isinstance(predicted_ratio, (int, float)):
        raise Unreadable(f"predicted_ratio should be one number, got a value of type "
                    f"{type(predicted_ratio).__name__}.",
                    hint="Compute it from the per-layer factor, e.g. with theory_factor.")
    try:
        value = float(predicted_ratio)
    except OverflowError:
        raise Unreadable("predicted_ratio is an integer too large for a floating-point number: "
                    "the ratio of the two gradient norms is below 1.",
                    got=f"an integer of {len(str(abs(predicted_ratio)))} digits") from None
    if not value > 0 or not math.isfinite(value):
        raise Wrong("A ratio of two gradient norms is a positive, finite number.", got=f"{value}",
                    hint="The ratio is a product of per-layer factors, each a bit above 0.")
    return value


#: A wrong prediction is not shown the measured ratio: it could simply be typed in.
_HIDDEN_MEASUREMENT = "the measured ratio (shown once your prediction is within a factor 3)"


def _check_prediction(predicted_ratio):
    predicted = _as_prediction(predicted_ratio)
    measured = measured_gradient_ratio()
    off = math.log10(predicted / measured)
    per_layer = 1 / math.sqrt(48)
    if abs(off) <= 0.5:
        return (f"Measured ratio {measured:.2e}; your prediction {predicted:.2e} is "
                f"within a factor {10 ** abs(off):.1f}. Seven factors of about 0.14: the "
                "decay is exponential in depth.")
    near = [
        (per_layer ** PREDICTION_DEPTH, "Close: the factor is right, but the number of "
         "factors is not. Count the steps between the layers.",
         "How many times does the gradient pass from one layer to the next on its way "
         "from layer 8 down to layer 1?"),
        ((1 / 48) ** 7, "1/48 is the factor for the gradient's variance, not for its size "
         "(norm).", "How does a norm scale when a variance is multiplied by 1/48?"),
        (0.25 ** 7, "You used only the sigmoid's largest slope 1/4; the weights also scale "
         "the gradient at each layer.", "What else multiplies the gradient in each layer?"),
        (0.25 ** 8, "You used only the sigmoid's largest slope 1/4 (and 8 factors); the "
         "weights also scale the gradient at each layer.",
         "What else multiplies the gradient in each layer?"),
    ]
    near.append((1.0, "Your prediction is about 1, as if the gradient kept its size from "
                 "layer to layer; it shrinks at every step. (If you got it by multiplying the "
                 "factor by 7: the 7 factors multiply each other.)",
                 "Repeated multiplication is a power."))
    near.append((8 * per_layer, "You multiplied the factor by 8; the gradient is multiplied "
                 "by the factor at every step, so the factors multiply each other.",
                 "Repeated multiplication is a power."))
    for upside_down in (1 / measured, 48 ** 3.5, 48 ** 4):
        near.append((upside_down, "Your prediction is upside down (above 1): the gradient "
                     "shrinks on its way to the input, so layer 1's is the smaller one.",
                     "Multiply by the factor (below 1) at each step; do not divide by it."))
    for value, message, nudge in near:
        if math.isclose(predicted, value, rel_tol=0.05):
            raise Wrong(message, expected=_HIDDEN_MEASUREMENT, got=f"{predicted:.2e}",
                        hint=nudge)
    if predicted > 1:
        message = ("Your prediction is above 1, but the gradient shrinks on its way to the "
                   "input, so the ratio is below 1.")
    else:
        orders = max(1, round(abs(off)))
        message = (f"Your prediction is {'too large' if off > 0 else 'too small'}, by about "
                   f"{orders} order{'s' if orders > 1 else ''} of magnitude.")
    raise Wrong(message, expected=_HIDDEN_MEASUREMENT, got=f"{predicted:.2e}")


register(Exercise(
    id="3.1",
    title="Predict, then measure",
    answer_name="predicted_ratio",
    checker=_check_prediction,
    hints=_PREDICTION_HINTS,
    wrong_answers=[
        Slip("eight factors instead of seven", (1 / math.sqrt(48)) ** 8,
             message="Close: the factor is right, but the number of factors is not. Count the "
                     "steps between the layers.",
             compared=False),
        Slip("eight factors of 0.144 instead of seven", 0.144 ** 8,
             message="Close: the factor is right, but the number of factors is not. Count the "
                     "steps between the layers.",
             compared=False),
        Slip("only the sigmoid's slope", 0.25 ** 7,
             message="You used only the sigmoid's largest slope ",
             compared=False, varies=True),
        Slip("no decay at all", 1.0,
             message="Your prediction is about 1, as if the gradient kept its size from layer "
                     "to layer; it shrinks at every step. (If you got it by multiplying the "
                     "factor by 7: the 7 factors multiply each other.)",
             compared=False),
        Slip("a negative number", -1e-6,
             message="A ratio of two gradient norms is a positive, finite number.",
             compared=False),
        Slip("text", "1e-6",
             message="predicted_ratio should be one number, got a value of type str.",
             compared=False),
        Slip("the variance factor", (1 / 48) ** 7,
             message="1/48 is the factor for the gradient's variance, not for its size (norm).",
             compared=False),
        Slip("upside down", 48 ** 3.5,
             message="Your prediction is upside down (above ",
             compared=False, varies=True),
        Slip("multiplies instead of raising to a power", 0.144 * 7,
             message="Your prediction is about 1, as if the gradient kept its size from layer "
                     "to layer; it shrinks at every step. (If you got it by multiplying the "
                     "factor by 7: the 7 factors multiply each other.)",
             compared=False),
        Slip("far too small", 1e-30,
             message="Your prediction is too small, by about 24 orders of magnitude.",
             compared=False),
        Slip("a huge integer", 10 ** 400,
             message="predicted_ratio is an integer too large for a floating-point number: the "
                     "ratio of the two gradient norms is below ",
             compared=False, varies=True),
    ],
))

# --- 3.2 · The Jacobian of a sigmoid layer ----------------------------------------------


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _slope(z):
    return _sigmoid(z) * (1 - _sigmoid(z))


_JACOBIAN_HINTS = [
    "Write one output h_i in terms of the inputs, then differentiate it by one input x_j "
    "with the chain rule: the slope of σ at that unit's input, times what that input "
    "changes with.",
    "J[i, j] = ∂h_i/∂x_j = σ'(z_i)·W[i, j] with z = Wx + b: J = diag(σ'(z))·W, row i of W "
    "scaled by σ'(z_i).",
]


def _jacobian(weight, bias, x):
    return _slope(weight @ x + bias)[:, None] * weight


def _jacobian_case(n_out, n_in, rng):
    weight = rng.standard_normal((n_out, n_in))
    return Case((weight, rng.standard_normal(n_out), rng.standard_normal(n_in)),
                f"a layer {n_in} → {n_out} (weight of shape {weight.shape})")


_RNG = np.random.default_rng(32)
#: The task's 4 → 3 layer, then layers of odd shapes: 1 → 1, 3 → 2, 2 → 17, 17 → 3.
_JACOBIAN_CASES = [_jacobian_case(n_out, n_in, _RNG)
                   for n_out, n_in in [(3, 4), (1, 1), (2, 3), (17, 2), (3, 17)]]
_MISSING_W = ("W is missing: you returned only the sigmoid's slopes. h depends on x through "
              "z = Wx + b, so the chain rule brings in W as well.")


def _compare_jacobian(got, expected, case):
    expect_close(got, expected, what=f"The Jacobian of {case.label}",
                 hint="J has one row per output h_i and one column per input x_j: the "
                      "shape of W.")


function_exercise(
    "3.2", "The Jacobian of a sigmoid layer", "sigmoid_layer_jacobian", _jacobian,
    _JACOBIAN_CASES, hints=_JACOBIAN_HINTS, compare=_compare_jacobian,
    success="Each layer's Jacobian carries a factor σ'(z) ≤ 1/4 per row; backpropagation "
            "multiplies one such Jacobian per layer.",
    slips=[
        Slip("forgets the slope", lambda w, b, x: w,
             message="You returned W alone: the sigmoid's slope is missing.",
             hint="The chain rule goes through σ too."),
        Slip("σ instead of σ'", lambda w, b, x: _sigmoid(w @ x + b)[:, None] * w,
             message="You scaled W by σ(z) instead of its slope σ'(z).",
             hint="The chain rule needs σ's derivative, not its value."),
        Slip("transposed", lambda w, b, x: (_slope(w @ x + b)[:, None] * w).T,
             message="The Jacobian is transposed: one row per output h_i, one column per "
                     "input x_j.", hint="Row i belongs to output h_i, column j to input x_j."),
        Slip("only the slopes", lambda w, b, x: _slope(w @ x + b), message=_MISSING_W,
             hint="What is ∂z_i/∂x_j for z = Wx + b?"),
        Slip("diag of the slopes without W", lambda w, b, x: np.diag(_slope(w @ x + b)),
             message=_MISSING_W, hint="What is ∂z_i/∂x_j for z = Wx + b?"),
        Slip("the largest slope for every unit", lambda w, b, x: 0.25 * w,
             message="You used the largest slope 1/4 for every unit; the slope depends on "
                     "each unit's input z_i = (Wx + b)_i.",
             hint="Each unit has its own input, so its own slope."),
        Slip("no bias inside σ'", lambda w, b, x: _slope(w @ x)[:, None] * w,
             message="The bias is missing inside σ': z = Wx + b.",
             hint="What is the unit's input?"),
        Slip("a list of rows", lambda w, b, x: (_slope(w @ x + b)[:, None] * w).tolist(),
             message="The Jacobian of a layer 1 → 1 (weight of shape (1, 1)) is a Python list; "
                     "return a NumPy array.",
             compared=False),
    ],
)

# --- 3.3 · Find the layer where learning stops -------------------------------------------

#: One layer, as a name or a number: "hidden5", "Hidden 5", "layer 5", "5", "hidden5.linear".
_ONE_LAYER = re.compile(r"^(?:hidden|layer|hidden layer)?[\s_]*(\d+)"
                        r"(?:\.(?:linear|activation))?$")
_STUCK_HINTS = [
    "In flow.table(), look for a hidden layer whose units are mostly saturated (the "
    "'sat %' column).",
    "The stuck layer has a high 'sat %' and a weight gradient |dL/dW| far smaller than its "
    "neighbours' — its own weights barely move.",
]


def _layer_number(stuck_layer: object) -> int:
    """The hidden layer the answer names (an int), or Wrong if it does not name exactly one."""
    example = "Give one layer, as its name in quotes, e.g. 'hidden2', or its number, e.g. 2."
    if isinstance(stuck_layer, numbers.Integral) and not isinstance(stuck_layer, bool):
        return int(stuck_layer)
    if isinstance(stuck_layer, (np.ndarray, np.generic)) and np.ndim(stuck_layer) == 0 and (
            np.issubdtype(np.asarray(stuck_layer).dtype, np.integer)):
        return int(stuck_layer)
    if not isinstance(stuck_layer, str):
        raise Unreadable(f"stuck_layer should be one layer's name such as 'hidden2' (or its "
                    f"number), got a value of type {type(stuck_layer).__name__}.", hint=example)
    text = stuck_layer.strip().lower()
    if text.startswith("output"):
        raise Wrong("The output layer is not the one: the stuck layer is a hidden layer.")
    match = _ONE_LAYER.match(text)
    if not match:
        raise Unreadable(f"Could not read {stuck_layer!r} as the name of one layer.", hint=example)
    return int(match.group(1))


def _check_stuck_layer(stuck_layer: object) -> str:
    """The praise if ``stuck_layer`` names the patient's stuck layer; Wrong otherwise."""
    number = _layer_number(stuck_layer)
    if not 1 <= number <= patients.DEPTH_OF_STUCK_PATIENT:
        raise Wrong(f"There is no hidden layer {number}: the patient has hidden1 to "
                    f"hidden{patients.DEPTH_OF_STUCK_PATIENT}.", got=repr(stuck_layer)[:80])
    if number == patients.STUCK_LAYER:
        return (f"Right: hidden{patients.STUCK_LAYER} is saturated (most of its tanh outputs are "
                "near ±1), so its own weights get a gradient tens of times smaller than their "
                "neighbours' — that layer has stopped learning, while the gradient still "
                "passes through it to the layers below.")
    raise Wrong(f"hidden{number} is not the layer that stopped learning: its units are not "
                "saturated and its weights still get a gradient like their neighbours'.",
                got=repr(stuck_layer)[:80])


def _context_of_3_3() -> dict[str, object]:
    """What the notebook has defined when the skeleton and solution of 3.3 run."""
    import torch.nn.functional as F  # noqa: N812

    from utils.data import digits_split
    from utils.gradflow import GradFlow

    split = digits_split()
    return {"GradFlow": GradFlow, "F": F, "device": torch.device("cpu"),
            "network_with_a_stuck_layer": patients.network_with_a_stuck_layer,
            "patient": patients.network_with_a_stuck_layer(),
            "batch_x": torch.as_tensor(split.x_train[:512]),
            "batch_y": torch.as_tensor(split.y_train[:512])}


register(Exercise(
    id="3.3",
    title="Find the layer where learning stops",
    answer_name="stuck_layer",
    checker=_check_stuck_layer,
    hints=_STUCK_HINTS,
    wrong_answers=[
        Slip("the first layer", "hidden1",
             message="hidden1 is not the layer that stopped learning: its units are not "
                     "saturated and its weights still get a gradient like their neighbours'.",
             compared=False),
        Slip("the output layer", "output",
             message="The output layer is not the one: the stuck layer is a hidden layer.",
             compared=False),
        Slip("a neighbour", 6,
             message="hidden6 is not the layer that stopped learning: its units are not "
                     "saturated and its weights still get a gradient like their neighbours'.",
             compared=False),
        Slip("a neighbour as a NumPy integer", np.int64(4),
             message="hidden4 is not the layer that stopped learning: its units are not "
                     "saturated and its weights still get a gradient like their neighbours'.",
             compared=False),
        Slip("a list", ["hidden5"],
             message="stuck_layer should be one layer's name such as 'hidden2' (or its number), "
                     "got a value of type list.",
             compared=False),
        Slip("two layers", "hidden5 or hidden6",
             message="Could not read 'hidden5 or hidden6' as the name of one layer.",
             compared=False),
        Slip("a range of layers", "layers 5-8",
             message="Could not read 'layers 5-8' as the name of one layer.",
             compared=False),
        Slip("a negation", "not 5",
             message="Could not read 'not 5' as the name of one layer.",
             compared=False),
        Slip("a layer that does not exist", "hidden9",
             message="There is no hidden layer 9: the patient has hidden1 to hidden8.",
             compared=False),
    ],
    solution_context=_context_of_3_3,
))
