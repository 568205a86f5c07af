"""Exercises of 06_batch_normalization: the forward pass, the running statistics, the
backward pass (with a check that fits the learner's gradient onto the three paths and names
the one that is missing or scaled wrongly), and predicting with a trained batch-norm network
(the eval-mode bug)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from utils import normalization
from utils.exercises.core import (
    Case,
    Convention,
    Exercise,
    LearnerError,
    Slip,
    Wrong,
    as_array,
    call_learner,
    describe,
    expect_close,
    function_exercise,
    register,
    result_parts,
    same_values,
)

#: Batch norm in training mode needs two examples or more (PyTorch raises for one), so these
#: checks use batches of 2, 3, 5 and 17 examples.
BN_BATCH_SIZES = (2, 3, 5, 17)


def _bn_case(n: int, rng: np.random.Generator, eps: float = 1e-5,
             features: int = 4) -> tuple:
    """A batch far from mean 0 and std 1, with γ and β far from 1 and 0."""
    x = rng.normal(0, 1, (n, features)) * rng.uniform(0.5, 3.0, features) \
        + rng.uniform(-3, 3, features)
    gamma = rng.uniform(0.5, 2.5, features) * rng.choice([-1.0, 1.0], features)
    beta = rng.uniform(-2, 2, features)
    return x, gamma, beta, eps


def _forward_cases() -> list[Case]:
    rng = np.random.default_rng(60)
    cases = [Case(_bn_case(n, rng), f"x of shape ({n}, 4), eps=1e-05") for n in BN_BATCH_SIZES]
    # a large ε tells where ε sits; a tiny spread makes ε matter even at its default
    cases.append(Case(_bn_case(6, rng, eps=0.5, features=3), "x of shape (6, 3), eps=0.5"))
    x, gamma, beta, eps = _bn_case(5, rng, features=2)
    x[:, 1] = 1.0 + 1e-3 * rng.normal(size=5)
    cases.append(Case((x, gamma, beta, eps), "x of shape (5, 2) with a nearly constant feature"))
    return cases


# --- 6.1 · The forward pass --------------------------------------------------------------


def _forward(x, gamma, beta, eps=1e-5):
    return normalization.batch_norm_forward(x, gamma, beta, eps)[0]


_FORWARD_HINTS = [
    "Batch norm works on each feature (each column) separately: which axis holds the "
    "examples of the batch? Compute one mean and one variance per feature over that axis.",
    "μ = the mean over the batch, σ² = the mean of (x − μ)² over the batch (divide by N), "
    "x̂ = (x − μ) / √(σ² + ε), y = γ·x̂ + β.",
]

UNBIASED_VARIANCE = Convention(
    "unbiased variance", lambda x, gamma, beta, eps=1e-5: gamma * (x - x.mean(0))
    / np.sqrt(x.var(0, ddof=1) + eps) + beta,
    "You normalised with the unbiased variance (divided by N − 1, as `np.var(x, ddof=1)` "
    "and `torch.var` do by default). That is a real convention, but not PyTorch's: "
    "`nn.BatchNorm1d` (and this exercise) normalise with the biased variance (÷ N); the "
    "unbiased one is only what PyTorch stores in `running_var`.",
    hint="Divide the sum of squared deviations by N, the number of examples.")
EPS_OUTSIDE = Convention(
    "ε outside the square root", lambda x, gamma, beta, eps=1e-5: gamma * (x - x.mean(0))
    / (x.std(0) + eps) + beta,
    "You added ε to the standard deviation, (x − μ)/(σ + ε): some libraries do that, but "
    "PyTorch, Keras and the paper put ε inside the square root, (x − μ)/√(σ² + ε). The two "
    "differ where a feature barely varies over the batch (and for a large ε).",
    hint="Add ε to the variance, before the square root.")

function_exercise(
    "6.1", "Batch norm, forward", "batch_norm_forward", _forward,
    _forward_cases(), hints=_FORWARD_HINTS, conventions=[UNBIASED_VARIANCE, EPS_OUTSIDE],
    success="Every feature of your output has mean β and standard deviation |γ| over the "
            "batch (up to ε), whatever the input's scale.",
    slips=[
        Slip("over the features (layer norm)",
             lambda x, gamma, beta, eps=1e-5: gamma * (x - x.mean(1, keepdims=True))
             / np.sqrt(x.var(1, keepdims=True) + eps) + beta,
             message="You normalised each example over its features (axis 1): that is layer "
                     "norm. Batch norm normalises each feature over the examples of the "
                     "batch.", hint="Which axis holds the examples?"),
        Slip("no γ and β", lambda x, gamma, beta, eps=1e-5: (x - x.mean(0))
             / np.sqrt(x.var(0) + eps),
             message="Your output is x̂, the normalised batch, but the scale γ and shift β "
                     "are not applied: without them the layer could never undo the "
                     "normalisation if that were better.",
             hint="What do `gamma` and `beta` do to x̂?"),
        Slip("divided by the variance", lambda x, gamma, beta, eps=1e-5: gamma
             * (x - x.mean(0)) / (x.var(0) + eps) + beta,
             message="You divided by the variance, not by the standard deviation: the "
                     "result's spread then depends on the input's scale.",
             hint="What do you divide by to get standard deviation 1?"),
        Slip("no ε", lambda x, gamma, beta, eps=1e-5: gamma * (x - x.mean(0)) / x.std(0)
             + beta,
             message="Your function ignores `eps`: ε keeps the division safe when a feature "
                     "barely varies over the batch (the check passes eps=0.5 once, so its "
                     "place shows).", hint="Where does `eps` go?"),
        Slip("β inside the scaling", lambda x, gamma, beta, eps=1e-5: gamma
             * ((x - x.mean(0)) / np.sqrt(x.var(0) + eps) + beta),
             message="You scaled β by γ, γ·(x̂ + β): the shift is added after the scaling, "
                     "so each feature's output has mean β.", hint="Which comes first?"),
        Slip("not centred", lambda x, gamma, beta, eps=1e-5: gamma * x / np.sqrt(x.var(0) + eps)
             + beta, message="You divided by the standard deviation but did not subtract "
                             "the batch mean first.",
             hint="What makes each feature's mean 0?"),
    ],
)

# --- 6.2 · Running statistics ------------------------------------------------------------


def _running(running_mean, running_var, x, momentum=0.1):
    return normalization.update_running(running_mean, running_var, x.mean(0), x.var(0),
                                        x.shape[0], momentum)


def _running_cases() -> list[Case]:
    rng = np.random.default_rng(62)
    cases = []
    for n in BN_BATCH_SIZES:
        x = _bn_case(n, rng)[0]
        cases.append(Case((rng.normal(0, 1, 4), rng.uniform(0.5, 2, 4), x, 0.1),
                          f"x of shape ({n}, 4), momentum=0.1"))
    x = _bn_case(6, rng, features=3)[0]
    cases.append(Case((rng.normal(0, 1, 3), rng.uniform(0.5, 2, 3), x, 0.3),
                      "x of shape (6, 3), momentum=0.3"))
    return cases


def _compare_running(got: object, expected: tuple, case: Case) -> None:
    """A pair (new_mean, new_var), each compared with the reference's."""
    parts = result_parts(got, ("new_mean", "new_var"), "update_running")
    for part, right, name in zip(parts, expected, ("new_mean", "new_var")):
        expect_close(part, right, what=f"{name} on {case.label}")


KERAS_MOMENTUM = Convention(
    "Keras's momentum", lambda running_mean, running_var, x, momentum=0.1: (
        momentum * running_mean + (1 - momentum) * x.mean(0),
        momentum * running_var + (1 - momentum) * x.var(0, ddof=1)),
    "You read `momentum` the Keras way, as the weight of the OLD running value (Keras's "
    "default 0.99). In PyTorch `momentum` is the weight of the NEW batch (default 0.1), so "
    "PyTorch's 0.1 is Keras's 0.9.", hint="Which of the two does `momentum` weight here?")
BIASED_STORED = Convention(
    "biased variance stored", lambda running_mean, running_var, x, momentum=0.1: (
        (1 - momentum) * running_mean + momentum * x.mean(0),
        (1 - momentum) * running_var + momentum * x.var(0)),
    "You averaged the biased batch variance (÷ N), the one the forward pass normalises "
    "with. That is a consistent choice, but PyTorch's `running_var` stores the unbiased "
    "one (÷ (N − 1)), an estimate of the population variance.",
    hint="Which variance estimates the population's?")

_RUNNING_HINTS = [
    "Each running value is a weighted average of its old value and this batch's statistic. "
    "Which of the two does PyTorch's `momentum` weight, and which variance does it store?",
    "new = (1 − momentum)·running + momentum·(batch statistic), with the batch's unbiased "
    "variance, Σ(x − μ)² / (N − 1).",
]

function_exercise(
    "6.2", "Running statistics", "update_running", _running, _running_cases(),
    hints=_RUNNING_HINTS, conventions=[KERAS_MOMENTUM, BIASED_STORED],
    compare=_compare_running,
    success="These are exactly the `running_mean` and `running_var` that `nn.BatchNorm1d` "
            "keeps, and eval mode normalises with.",
    slips=[
        Slip("batch statistics only", lambda running_mean, running_var, x, momentum=0.1: (
            x.mean(0), x.var(0, ddof=1)),
             message="You returned this batch's statistics: the running values should "
                     "average over many batches, so the old values keep most of their weight.",
             hint="What should happen to the old running values?"),
        Slip("variance not updated", lambda running_mean, running_var, x, momentum=0.1: (
            (1 - momentum) * running_mean + momentum * x.mean(0), running_var),
             message="Your running mean is right, but the running variance did not change.",
             hint="The variance is averaged like the mean."),
        Slip("standard deviation averaged", lambda running_mean, running_var, x, momentum=0.1: (
            (1 - momentum) * running_mean + momentum * x.mean(0),
            (1 - momentum) * running_var + momentum * x.std(0, ddof=1)),
             message="Your running mean is right, but you averaged the batch's standard "
                     "deviation into `running_var`, which holds a variance.",
             hint="Which quantity does `running_var` hold?"),
    ],
)

# --- 6.3 · The backward pass: which path is missing? ----------------------------------------

#: The three paths of ∂L/∂x through batch norm, in the order of the fit's coefficients.
TERMS = ("direct", "via_mean", "via_var")
TERM_NAMES = {"direct": "the direct path through x̂",
              "via_mean": "the path through the batch mean",
              "via_var": "the path through the batch variance"}


def _backward(dout, x, gamma, eps=1e-5):
    _, cache = normalization.batch_norm_forward(x, gamma, np.zeros_like(gamma), eps)
    return normalization.batch_norm_backward(dout, cache)[0]


def _terms(dout, x, gamma, eps=1e-5) -> dict[str, np.ndarray]:
    _, cache = normalization.batch_norm_forward(x, gamma, np.zeros_like(gamma), eps)
    return normalization.batch_norm_backward_terms(dout, cache)


def _backward_cases() -> list[Case]:
    rng = np.random.default_rng(61)
    cases = []
    for n in BN_BATCH_SIZES:
        x, gamma, _, eps = _bn_case(n, rng)
        dout = rng.normal(0, 1, x.shape) + rng.uniform(-1, 1, x.shape[1])
        cases.append(Case((dout, x, gamma, eps), f"dout and x of shape ({n}, 4)"))
    x, gamma, _, eps = _bn_case(4, rng, features=3)
    # L = sum of the outputs: the direct and mean paths cancel, the variance path is 0
    cases.append(Case((np.ones_like(x), x, gamma, eps), "dout = 1 everywhere, x of shape (4, 3)"))
    return cases


_BACKWARD_CASES = _backward_cases()


def fit_terms(dx: np.ndarray, terms: list[dict[str, np.ndarray]]) -> dict[str, float] | None:
    """Least-squares coefficients a, b, c with dx ≈ a·direct + b·via_mean + c·via_var over all
    the cases stacked; None if no such combination fits (relative residual above 1e-6).
    Terms that are zero in every case (by algebra, for these inputs) get no coefficient."""
    columns = {name: np.concatenate([t[name].ravel() for t in terms]) for name in TERMS}
    target = np.concatenate([np.ravel(d) for d in dx])
    scale = max(np.abs(c).max() for c in columns.values())
    used = [name for name in TERMS if np.abs(columns[name]).max() > 1e-9 * scale]
    matrix = np.stack([columns[name] for name in used], axis=1)
    coefficients, *_ = np.linalg.lstsq(matrix, target, rcond=None)
    residual = np.linalg.norm(matrix @ coefficients - target)
    if residual > 1e-6 * max(np.linalg.norm(target), 1e-12):
        return None
    return dict(zip(used, coefficients.tolist()))


def describe_fit(coefficients: dict[str, float]) -> str:
    """The message for a gradient that is a combination of the three paths."""
    rounded = {name: round(value, 2) for name, value in coefficients.items()}
    missing = [name for name, value in rounded.items() if value == 0]
    off = [name for name, value in rounded.items() if value not in (0, 1)]
    if rounded.get("direct") == 1 and set(missing) >= {"via_mean", "via_var"} and not off:
        return ("You treated the batch mean and variance as constants: your dx is "
                "dout·γ/σ, the direct path only. But every example moves the batch's mean "
                "and variance, so the gradient has two more paths.")
    parts = []
    for name in missing:
        parts.append(f"{TERM_NAMES[name]} is missing")
    for name in off:
        parts.append(f"{TERM_NAMES[name]} is multiplied by {rounded[name]:g} (it should "
                     "count once)")
    right = [TERM_NAMES[name] for name, value in rounded.items() if value == 1]
    has = f"Your dx has {' and '.join(right)}, but " if right else "In your dx, "
    return has + "; ".join(parts) + "."


def _gamma_missing(function, cases) -> bool:
    """Whether the learner's dx is the right one computed without γ (dx̂ = dout)."""
    for case in cases:
        dout, x, gamma, eps = case.args
        try:
            got = as_array(call_learner(function, *case.args), array=True)
        except Exception:
            return False
        if not same_values(got, _backward(dout, x, np.ones_like(gamma), eps)):
            return False
    return True


GAMMA_MISSING = ("Your dx leaves out γ: the gradient reaching x̂ is dout·γ, because the "
                 "output is γ·x̂ + β. (Apart from that, your three paths are right.)")


def _explain_backward(function, case, name) -> Wrong | None:
    """Fit the learner's dx on every case onto the three paths and name what is off."""
    learner, terms = [], []
    for each in _BACKWARD_CASES:
        try:
            got = as_array(call_learner(function, *each.args), array=True)
        except Exception:
            return None
        if got.shape != each.args[1].shape:
            return None
        learner.append(got)
        terms.append(_terms(*each.args))
    coefficients = fit_terms(learner, terms)
    if coefficients is not None:
        return Wrong(describe_fit(coefficients))
    if _gamma_missing(function, _BACKWARD_CASES):
        return Wrong(GAMMA_MISSING, hint="What is ∂y/∂x̂?")
    return None


def _as_written(direct=1.0, via_mean=1.0, via_var=1.0):
    """A learner's backward pass written out, with each path's weight (0: left out)."""
    def batch_norm_backward(dout, x, gamma, eps=1e-5):
        mu = x.mean(0)
        sigma = np.sqrt(x.var(0) + eps)
        x_hat = (x - mu) / sigma
        dx_hat = dout * gamma
        return (direct * dx_hat - via_mean * dx_hat.mean(0)
                - via_var * x_hat * (dx_hat * x_hat).mean(0)) / sigma
    return batch_norm_backward


def _without_gamma(dout, x, gamma, eps=1e-5):
    return _as_written()(dout, x, np.ones_like(gamma), eps)


_BACKWARD_HINTS = [
    "x reaches the output by three roads: through x̂ directly, and through μ and σ², which "
    "every example of the batch moves. Add up one term per road.",
    "With dx̂ = dout·γ and σ = √(σ² + ε), the three terms are dx̂/σ, −mean(dx̂)/σ and "
    "−x̂·mean(dx̂·x̂)/σ (means over the batch).",
]

function_exercise(
    "6.3", "Batch norm, backward", "batch_norm_backward", _backward, _BACKWARD_CASES,
    hints=_BACKWARD_HINTS, explain_failure=_explain_backward,
    success="All three paths are there, each counted once: your dx matches the finite "
            "differences and PyTorch's autograd.",
    slips=[
        Slip("mean and variance held constant", _as_written(via_mean=0, via_var=0),
             message=describe_fit({"direct": 1.0, "via_mean": 0.0, "via_var": 0.0}),
             hint="Does the batch mean depend on x?"),
        Slip("variance path missing", _as_written(via_var=0),
             message=describe_fit({"direct": 1.0, "via_mean": 1.0, "via_var": 0.0}),
             hint="Does the batch variance depend on x?"),
        Slip("mean path missing", _as_written(via_mean=0),
             message=describe_fit({"direct": 1.0, "via_mean": 0.0, "via_var": 1.0}),
             hint="Does the batch mean depend on x?"),
        Slip("variance path doubled (the ½ of the square root lost)", _as_written(via_var=2),
             message=describe_fit({"direct": 1.0, "via_mean": 1.0, "via_var": 2.0}),
             hint="What is the derivative of (σ² + ε)^(−1/2) with respect to σ²?"),
        Slip("variance path with the wrong sign", _as_written(via_var=-1),
             message=describe_fit({"direct": 1.0, "via_mean": 1.0, "via_var": -1.0}),
             hint="A larger variance makes x̂ smaller: which sign does that give?"),
        Slip("γ left out", _without_gamma, message=GAMMA_MISSING, hint="What is ∂y/∂x̂?"),
    ],
)

# --- 6.4 · Predicting with a trained batch-norm network ------------------------------------

def _predict_model(seed: int = 63) -> nn.Module:
    """A small batch-norm net with trained-looking running statistics (not those of any
    one batch), in training mode."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Sigmoid(), nn.Linear(8, 3))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        model[1].running_mean.copy_(torch.randn(8, generator=generator))
        model[1].running_var.copy_(torch.rand(8, generator=generator) + 0.5)
    return model.train()


_PREDICT_MODEL = _predict_model()


def _predict_batches() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(64)
    return [torch.randn(n, 5, generator=generator) * 2 + 1 for n in (1, 2, 3, 17)]


def _reference_predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was_training)
    return out


NO_EVAL = ("Your predictions depend on which other examples share the batch: the model was "
           "still in training mode, so each BatchNorm1d normalised x with the statistics of "
           "this very batch instead of the running ones learned in training (and a batch of "
           "one example raised an error). `torch.no_grad()` does not change that.")
LEFT_IN_EVAL = ("Your outputs are right, but `predict` leaves the model in evaluation mode: "
                "training that goes on afterwards would normalise with the frozen running "
                "statistics and stop updating them. Put the model back in the mode it was "
                "in.")
STATS_CHANGED = ("Your outputs are right, but the call changed the running statistics: the "
                 "model ran a forward pass in training mode, which updates them.")
LABELS = ("`predict` should return the network's outputs (the 10 logits per example here, 3 "
          "in the check), not class labels.")


def _check_predict(function: object) -> str:
    """Run the learner's predict on batches of 1, 2, 3 and 17 examples, each time from the
    model in training mode, and compare with the eval-mode outputs."""
    left_in_eval = False
    for x in _predict_batches():
        model = copy.deepcopy(_PREDICT_MODEL)
        expected = _reference_predict(model, x)
        before = model[1].running_mean.clone()
        shown = f"{describe(expected)} on a batch of {len(x)}"
        try:
            got = call_learner(function, model, x.clone(), name="predict")
        except LearnerError as error:
            if len(x) == 1 and isinstance(error.original, ValueError):
                raise Wrong(NO_EVAL, expected=shown, hint="Which mode does the model have "
                            "to be in when it predicts?") from None
            raise
        got_array = as_array(got, "predict's result", array=True)
        if got_array.shape == (len(x),):
            raise Wrong(LABELS, expected=shown, got=describe(got))
        stats_changed = not torch.equal(before, model[1].running_mean)
        if not same_values(got_array, expected.numpy(), rtol=1e-5, atol=1e-6):
            with torch.no_grad():
                in_train_mode = copy.deepcopy(_PREDICT_MODEL).train()(x).numpy()
            if same_values(got_array, in_train_mode, rtol=1e-5, atol=1e-6):
                message = NO_EVAL
            elif stats_changed:
                message = STATS_CHANGED
            else:
                message = ("Your outputs differ from the trained network's on a batch of "
                           f"{len(x)} examples.")
            raise Wrong(message, expected=shown, got=describe(got),
                        hint="Which mode does the model have to be in when it predicts?")
        if stats_changed:
            raise Wrong(STATS_CHANGED, expected="running statistics unchanged",
                        got="running statistics updated")
        left_in_eval = left_in_eval or not model.training
    if left_in_eval:
        raise Wrong(LEFT_IN_EVAL, expected="the model back in training mode",
                    got="the model in evaluation mode", hint="What does `model.train()` do?")
    return ("Right: each example's output is now the same whatever batch it comes in, and the "
            "model is back in training mode for the next step.")


def _no_eval(model, x):
    with torch.no_grad():
        return model(x)


def _left_in_eval(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def _labels(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x).argmax(1)
    model.train()
    return out


_PREDICT_HINTS = [
    "In which mode does batch norm use the running statistics instead of the batch's? How "
    "do you switch a model into it, and back?",
    "Switch the model into evaluation mode with its eval() method before the forward pass "
    "(inside torch.no_grad()), and back with its train(...) method afterwards if it was "
    "training: read its `training` attribute first.",
]

register(Exercise(
    id="6.4", title="Predict with a batch-norm network", answer_name="predict",
    checker=_check_predict, hints=_PREDICT_HINTS,
    wrong_answers=[
        Slip("no eval mode", _no_eval, NO_EVAL, compared=False),
        Slip("left in eval mode", _left_in_eval, LEFT_IN_EVAL, compared=False),
        Slip("class labels", _labels, LABELS, compared=False),
    ],
))
