"""Exercises of 03_vanishing_gradients: predict the decay, the Jacobian of a
sigmoid layer, and finding the layer where learning stops."""

import math
import re

import numpy as np
import torch

from utils.exercises import (
    Exercise,
    Wrong,
    as_array,
    call_learner,
    expect_close,
    register,
)

# --- 3.1 · Predict, then measure ------------------------------------------------------

PREDICTION_DEPTH = 8


def measured_gradient_ratio(depth=PREDICTION_DEPTH, seed=0):
    """‖∂L/∂z₁‖ / ‖∂L/∂z_depth‖ of a sigmoid MLP (width 64, standard init) on 512 digits:
    the measurement of notebook 03's explorer."""
    from utils.widgets import gradient_norm_explorer

    return gradient_norm_explorer(depth, "sigmoid", seed=seed).ratio


def _check_prediction(predicted_ratio):
    if hasattr(predicted_ratio, "item") and getattr(predicted_ratio, "ndim", 0) == 0:
        predicted_ratio = predicted_ratio.item()  # a 0-d tensor or NumPy number
    if isinstance(predicted_ratio, bool) or not isinstance(predicted_ratio, (int, float)):
        raise Wrong(f"predicted_ratio should be one number, got a value of type "
                    f"{type(predicted_ratio).__name__}.",
                    hint="Compute it from the per-layer factor, e.g. with theory_factor.")
    if not predicted_ratio > 0:
        raise Wrong("A ratio of two gradient norms is positive.", got=f"{predicted_ratio}",
                    hint="Multiply the per-layer factor by itself once per step between layers.")
    measured = measured_gradient_ratio()
    off = math.log10(predicted_ratio / measured)
    per_layer = 1 / math.sqrt(48)
    if abs(off) <= 0.5:
        return (f"Measured ratio {measured:.2e}; your prediction {predicted_ratio:.2e} is "
                f"within a factor {10 ** abs(off):.1f}. Seven factors of about 0.14: the "
                "decay is exponential in depth.")
    if math.isclose(predicted_ratio, per_layer ** PREDICTION_DEPTH, rel_tol=0.05):
        message = "You used 8 factors; between layer 1 and layer 8 there are only 7 steps."
        hint = "Count the steps between layers, not the layers: factor ** 7."
    elif math.isclose(predicted_ratio, (1 / 48) ** 7, rel_tol=0.05):
        message = "1/48 is the factor for the gradient's variance, not for its size (norm)."
        hint = "The norm shrinks by the square root of the variance factor: √(1/48) per step."
    elif predicted_ratio > 1:
        message = "The gradient shrinks on its way to the input, so the ratio is below 1."
        hint = "Multiply the per-layer factor (below 1) once per step, don't divide."
    elif math.isclose(predicted_ratio, 0.25 ** 7, rel_tol=0.05) or math.isclose(
            predicted_ratio, 0.25 ** 8, rel_tol=0.05):
        message = ("You used only the sigmoid's largest slope 1/4; the weights also scale "
                   "the gradient at each layer.")
        hint = ("Per layer the gradient's size is multiplied by about σ'·√(n·Var w) = "
                "(1/4)·√(1/3) ≈ 0.144.")
    else:
        message = f"Your prediction is off by a factor {10 ** abs(off):.0f}."
        hint = "Use the per-layer factor measured in section 2 (about 0.14), once per step."
    raise Wrong(message, expected=f"about {measured:.1e} (measured)",
                got=f"{predicted_ratio:.2e}", hint=hint)


register(Exercise(
    id="3.1",
    title="Predict, then measure",
    answer_name="predicted_ratio",
    checker=_check_prediction,
    wrong_answers=[
        ("eight factors instead of seven", (1 / math.sqrt(48)) ** 8),
        ("only the sigmoid's slope", 0.25 ** 7),
        ("no decay at all", 1.0),
        ("a negative number", -1e-6),
        ("text", "1e-6"),
        ("the variance factor", (1 / 48) ** 7),
        ("upside down", 48 ** 3.5),
    ],
))

# --- 3.2 · The Jacobian of a sigmoid layer ----------------------------------------------


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _slope(z):
    return _sigmoid(z) * (1 - _sigmoid(z))


def _check_jacobian(sigmoid_layer_jacobian):
    """J = diag(σ'(Wx + b)) W for h = σ(Wx + b)."""
    rng = np.random.default_rng(32)
    weight = rng.standard_normal((3, 4))
    bias = rng.standard_normal(3)
    x = rng.standard_normal(4)
    got = as_array(call_learner(sigmoid_layer_jacobian, weight, bias, x,
                                name="sigmoid_layer_jacobian"), "the Jacobian")
    expected = _slope(weight @ x + bias)[:, None] * weight
    hint = "J[i, j] = ∂h_i/∂x_j = σ'(z_i) · W[i, j]: scale row i of W by σ'(z_i)."
    if got.shape == (4, 3):
        raise Wrong("The Jacobian is transposed: one row per output h_i, one column per "
                    "input x_j.", expected="shape (3, 4)", got="shape (4, 3)", hint=hint)
    if got.shape == (3, 4):
        slips = [(weight, "You returned W alone: the sigmoid's slope is missing."),
                 (_sigmoid(weight @ x + bias)[:, None] * weight,
                  "You scaled W by σ(z) instead of its slope σ'(z)."),
                 (0.25 * weight, "You used the largest slope 1/4 for every unit; the slope "
                  "depends on each unit's input z_i = (Wx + b)_i."),
                 (_slope(weight @ x)[:, None] * weight, "The bias is missing inside σ': "
                  "z = Wx + b.")]
        for values, message in slips:
            if np.allclose(got, values):
                raise Wrong(message, hint=hint)
    expect_close(got, expected, what="the Jacobian", hint=hint)
    return ("Each layer's Jacobian carries a factor σ'(z) ≤ 1/4 per row; backpropagation "
            "multiplies one such Jacobian per layer.")


register(Exercise(
    id="3.2",
    title="The Jacobian of a sigmoid layer",
    answer_name="sigmoid_layer_jacobian",
    checker=_check_jacobian,
    wrong_answers=[
        ("forgets the slope", lambda w, b, x: w),
        ("σ instead of σ'", lambda w, b, x: _sigmoid(w @ x + b)[:, None] * w),
        ("transposed", lambda w, b, x: (_slope(w @ x + b)[:, None] * w).T),
        ("only the slopes", lambda w, b, x: _slope(w @ x + b)),
    ],
))

# --- 3.3 · Find the layer where learning stops -------------------------------------------

STUCK_LAYER = 5


def network_with_a_stuck_layer(seed=0):
    """An 8-layer tanh MLP (64 → 10, width 64) in which one layer has stopped learning."""
    from utils.nets import make_mlp

    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's
        torch.manual_seed(seed)
        model = make_mlp(64, 10, depth=8, width=64, activation="tanh", init="xavier_uniform")
    with torch.no_grad():
        getattr(model, f"hidden{STUCK_LAYER}").linear.weight.mul_(25.0)
    return model


def _check_stuck_layer(stuck_layer):
    if isinstance(stuck_layer, bool) or not isinstance(stuck_layer, (str, int)):
        raise Wrong(f"stuck_layer should be a layer name such as 'hidden2' (or its number), "
                    f"got a value of type {type(stuck_layer).__name__}.",
                    hint="Copy the name from the table, in quotes.")
    if isinstance(stuck_layer, str):
        stuck_layer = stuck_layer.strip().lower()
        number = re.search(r"\d+", stuck_layer)
        if number and "output" not in stuck_layer:  # "5", "hidden 5", "layer 5", "hidden_5"
            stuck_layer = int(number.group())
    accepted = {f"hidden{STUCK_LAYER}", f"hidden{STUCK_LAYER}.linear",
                f"hidden{STUCK_LAYER}.activation", STUCK_LAYER}
    if stuck_layer in accepted:
        return (f"Right: hidden{STUCK_LAYER} is saturated (most of its tanh outputs are near "
                "±1), so its own weights get a gradient tens of times smaller than their "
                "neighbours' — that layer has stopped learning, while the gradient still "
                "passes through it to the layers below.")
    raise Wrong(f"{stuck_layer!r} is not the layer that stopped learning.",
                hint="In flow.table(), look for a layer whose 'sat %' is high and whose "
                     "|dL/dW| is far smaller than its neighbours'.")


def _context_of_3_3():
    """What the notebook has defined when the skeleton and solution of 3.3 run."""
    import torch.nn.functional as F  # noqa: N812

    from utils.data import digits_split
    from utils.gradflow import GradFlow

    split = digits_split()
    return {"GradFlow": GradFlow, "F": F, "device": torch.device("cpu"),
            "network_with_a_stuck_layer": network_with_a_stuck_layer,
            "patient": network_with_a_stuck_layer(),
            "batch_x": torch.as_tensor(split.x_train[:512]),
            "batch_y": torch.as_tensor(split.y_train[:512])}


register(Exercise(
    id="3.3",
    title="Find the layer where learning stops",
    answer_name="stuck_layer",
    checker=_check_stuck_layer,
    wrong_answers=[
        ("the first layer", "hidden1"),
        ("the output layer", "output"),
        ("a neighbour", 6),
        ("a list", ["hidden5"]),
    ],
    solution_context=_context_of_3_3,
))
