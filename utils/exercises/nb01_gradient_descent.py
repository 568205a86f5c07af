"""Exercises of 01_gradient_descent: one step, the stable learning rate, the MSE gradient, SGD."""

import copy
import numbers

import numpy as np

from utils import checks
from utils.exercises.core import (
    BATCH_SIZES,
    Case,
    Convention,
    Slip,
    Wrong,
    as_array,
    expect_close,
    expect_number,
    function_exercise,
    result_parts,
)

# --- 1.1 One gradient-descent step ------------------------------------------------------

_STEP_HINTS = [
    "The gradient points uphill. One step moves x a short way the other way, and the "
    "learning rate says how far.",
    "new x = x − lr · ∇f(x), with ∇f(x) the gradient that grad_fn gives at x.",
]


def _bowl_grad(x):
    """Gradient of the bowl ½·Σ cᵢ·xᵢ² with curvatures cᵢ = 1, 2, 3, …: cᵢ·xᵢ."""
    x = np.asarray(x, dtype=np.float64)
    return np.arange(1, x.size + 1).reshape(x.shape) * x


def _gradient_step(grad_fn, x, lr):
    return x - lr * grad_fn(x)


def _steep(x):
    """The gradient 4·x of the parabola 2·x²."""
    return 4.0 * x


_RNG = np.random.default_rng(11)
#: A number (the task's example), then vectors of 1, 2, 3 and 17 entries and a 3 × 2 array.
_STEP_CASES = [Case((_steep, 1.5, 0.1), "grad_fn(x) = 4·x, x = 1.5, lr = 0.1")]
_STEP_CASES += [Case((_bowl_grad, _RNG.normal(0, 2, shape), 0.25),
                     f"the bowl's gradient, x of shape {shape}, lr = 0.25")
                for shape in [(1,), (2,), (3,), (17,), (3, 2)]]
_NEW_POINT = "The function returns where you land, not how far you move."


def _in_place_step(grad_fn, x, lr):
    x -= lr * grad_fn(x)  # overwrites the caller's array
    return x


function_exercise(
    "1.1", "One gradient-descent step", "gradient_step", _gradient_step, _STEP_CASES,
    hints=_STEP_HINTS,
    success="One step is all gradient descent is; the whole notebook repeats it. The sign "
            "matters: + instead of − climbs uphill.",
    slips=[
        Slip("gradient ascent (a plus sign)", lambda grad_fn, x, lr: x + lr * grad_fn(x),
             message="You stepped *up* the slope (x + lr·gradient): that is gradient ascent.",
             hint="Which way does the gradient point, and which way is the minimum?"),
        Slip("forgets the learning rate", lambda grad_fn, x, lr: x - grad_fn(x),
             message="You subtracted the whole gradient, without the learning rate.",
             hint="How long should one step be? That is what the learning rate is for."),
        Slip("returns the step, not the new point", lambda grad_fn, x, lr: -lr * grad_fn(x),
             message="You returned the step −lr·gradient, not the new point.", hint=_NEW_POINT),
        Slip("returns lr·gradient", lambda grad_fn, x, lr: lr * grad_fn(x),
             message="You returned lr·gradient, not the new point.", hint=_NEW_POINT),
        Slip("divides by the learning rate", lambda grad_fn, x, lr: x - grad_fn(x) / lr,
             message="You divided the gradient by the learning rate instead of multiplying.",
             hint="A larger learning rate should give a larger step."),
        Slip("returns x unchanged", lambda grad_fn, x, lr: x,
             message="You returned x unchanged.", hint="Did the step get applied to x?"),
        Slip("returns the gradient itself", lambda grad_fn, x, lr: grad_fn(x),
             message="You returned the gradient, not the new point.",
             hint="The function returns where you land after the step."),
        Slip("a gradient at the wrong point",
             lambda grad_fn, x, lr: x - lr * grad_fn(x - lr),
             message="gradient_step on grad_fn(x) = 4·x, x = 1.5, lr = 0.1 differs from the "
                     "expected value.",
             compared=False),
        Slip("returns a list of both", lambda grad_fn, x, lr: [x, x - lr * grad_fn(x)],
             message="gradient_step on grad_fn(x) = 4·x, x = 1.5, lr = 0.1 should be a single "
                     "number, but it is an array of shape (2,).",
             compared=False),
        Slip("overwrites the caller's x", _in_place_step,
             message="`gradient_step` changed its input `x` in place (as `x -= ...`, `x *= ...` "
                     "or `x[...] = ...` do): the caller's `x` is overwritten, and code that "
                     "uses it again gets wrong numbers.",
             compared=False),
        Slip("a list for a vector",
             lambda grad_fn, x, lr: (x - lr * grad_fn(x)).tolist() if np.ndim(x) else
             x - lr * grad_fn(x),
             message="gradient_step on the bowl's gradient, x of shape (1,), lr = 0.25 is a "
                     "Python list; return a NumPy array. (It is right on grad_fn(x) = 4·x, x = "
                     "1.5, lr = 0.1.)",
             compared=False),
    ],
)

# --- 1.2 The largest stable learning rate -------------------------------------------------

_LIMIT_HINTS = [
    "Take one direction at a time: for which learning rates does a step shrink the "
    "distance to the minimum along direction i? All directions must converge at once.",
    "Direction i converges when |1 − lr·cᵢ| < 1, that is lr < 2/cᵢ; all must hold at once, "
    "so the largest curvature sets the limit: 2 / max(c).",
]


def _curvatures(n, rng):
    """n curvatures whose largest sits in the middle (not first, not last)."""
    c = rng.uniform(0.5, 5.0, n)
    c[n // 2] = 12.0
    return c


# The largest curvature sits in the middle, first and last, so that an answer that assumes
# sorted input is caught; the mean and the median differ.
_LIMIT_CASES = [Case((np.array([4.0]),), "c = [4]"),
                Case((np.array([3.0, 12.0, 0.5, 2.0]),), "c = [3, 12, 0.5, 2]"),
                Case((np.array([100.0, 1.0]),), "c = [100, 1]"),
                Case((np.array([1.0, 100.0]),), "c = [1, 100]"),
                Case((_curvatures(3, np.random.default_rng(12)),), "3 curvatures"),
                Case((_curvatures(17, np.random.default_rng(13)),), "17 curvatures")]
_AVERAGE_NUDGE = "Which direction is the first to diverge as the learning rate grows?"
_STIFFER = "A stiffer (more curved) direction allows a *smaller* learning rate."
_ANYWHERE = "Find the largest curvature wherever it is in the array."

function_exercise(
    "1.2", "The largest stable learning rate", "max_stable_lr", lambda c: 2.0 / np.max(c),
    _LIMIT_CASES, hints=_LIMIT_HINTS,
    success="The stiffest direction sets the learning rate and the flattest sets the pace: "
            "the larger their ratio, the more steps gradient descent needs.",
    slips=[
        Slip("uses the smallest curvature", lambda c: 2 / np.min(c),
             message="You used the flattest direction (the smallest curvature); the steepest "
                     "one diverges first.", hint=_AVERAGE_NUDGE),
        Slip("the optimal step 1/c, not the limit", lambda c: 1 / np.max(c),
             message="1 / max(c) is the learning rate that is *fastest* along the stiffest "
                     "direction (it lands on the minimum in one step), not the largest "
                     "stable one.", hint="Up to which learning rate does |1 − lr·c| stay "
                                         "below 1?"),
        Slip("one rate per direction", lambda c: 2 / np.asarray(c),
             message="You returned one learning rate per direction, 2/cᵢ.",
             hint="One learning rate serves all directions, so it must be safe for every "
                  "one of them."),
        Slip("the mean curvature", lambda c: 2 / np.mean(c),
             message="You used an average curvature (the mean): is a typical direction the "
                     "one that diverges first?", hint=_AVERAGE_NUDGE),
        Slip("the median curvature", lambda c: 2 / np.median(c),
             message="You used an average curvature (the median): is a typical direction "
                     "the one that diverges first?", hint=_AVERAGE_NUDGE),
        Slip("the sum of the curvatures", lambda c: 2 / np.sum(c),
             message="You used the sum of the curvatures; that is too cautious. Only the "
                     "largest one decides.", hint=_AVERAGE_NUDGE),
        Slip("multiplies instead of dividing", lambda c: 2 * np.max(c),
             message="You multiplied by the curvature instead of dividing.", hint=_STIFFER),
        Slip("c / 2", lambda c: np.max(c) / 2,
             message="You computed c / 2: your limit grows with the curvature. Should a "
                     "stiffer direction allow a larger step?", hint=_STIFFER),
        Slip("assumes the largest curvature comes last", lambda c: 2 / c[-1],
             message="You used the curvature at the last position of the array, not the "
                     "largest one; the largest can be anywhere in the array.", hint=_ANYWHERE),
        Slip("assumes the largest curvature comes first", lambda c: 2 / c[0],
             message="You used the curvature at the first position of the array, not the "
                     "largest one; the largest can be anywhere in the array.", hint=_ANYWHERE),
        Slip("a fixed number", lambda c: 0.5,
             message="max_stable_lr on c = [100, 1] differs from the expected value. (It is "
                     "right on c = [4].)",
             compared=False),
        Slip("a huge integer", lambda c: 10 ** 400,
             message="max_stable_lr on c = [4] is an integer too large for a floating-point "
                     "number.",
             compared=False),
    ],
)

# --- 1.3 The gradient of the mean squared error -----------------------------------------

_MSE_HINTS = [
    "Start from the residuals r = X @ w + b − y, one per example. Each derivative is an "
    "average over the examples of what the chain rule gives for one example; a matrix "
    "product can do the sums for all the weights at once.",
    "With n = len(y): dw = (2/n)·Xᵀr, one number per feature, and db = (2/n)·Σr.",
]


def _mse_case(n, n_features, rng):
    """A regression problem of n examples: X (n, features), y (n,), w (features,), b."""
    X, y = rng.normal(size=(n, n_features)), rng.normal(size=n)
    return Case((X, y, rng.normal(size=n_features), 0.3),
                f"n = {n} examples of {n_features} features")


_RNG_MSE = np.random.default_rng(2024)
#: Batches of 1, 2, 3 and 17 examples of 3 features, and 7 examples of 2 features.
_MSE_CASES = [_mse_case(n, 3, _RNG_MSE) for n in BATCH_SIZES] + [_mse_case(7, 2, _RNG_MSE)]


def _reference_mse_gradient(X, y, w, b):
    residual = X @ w + b - y
    return 2 / len(y) * X.T @ residual, 2 / len(y) * residual.sum()


def _is_number(value: object) -> bool:
    """A single number: a Python or NumPy number, or a one-element array or tensor (what
    ``checks.one_number`` reads; a huge integer counts too, to be refused as too large)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return True
    try:
        checks.one_number(value)
    except checks.NotOneNumber:
        return False
    return True


def _compare_mse(got, expected, case):
    """A pair (dw, db): dw of the shape of w, db one number, both the expected values."""
    X, y, w, b = case.args
    loss = float(np.mean((X @ w + b - y) ** 2))
    shapes = f"(dw, db): dw of shape {w.shape} for {w.size} features, db a single number"
    if _is_number(got):
        value = float(as_array(got, "mse_gradient(X, y, w, b)").ravel()[0])
        if np.isclose(value, loss):
            raise Wrong("You returned the loss L itself; the exercise asks for its gradient, "
                        "the pair (dw, db).", expected="(dw, db)", got=f"{value:.6g} (the loss)")
        raise Wrong("mse_gradient returned a single number; it should return a pair (dw, db).",
                    expected=shapes, got=f"{value:.6g}", hint="End with `return dw, db`.")
    for part, name in zip(result_parts(got, ("dw", "db"), "mse_gradient", shapes), ("dw", "db")):
        if _is_number(part) and np.isclose(float(as_array(part, name).ravel()[0]), loss):
            raise Wrong(f"{name} is the loss L itself, not its derivative.",
                        expected=f"{name} = ∂L/∂{name[1]}", got=f"{name} = the loss, {loss:.6g}")
    dw = as_array(got[0], "dw", array=True)
    db = as_array(got[1], "db")
    if db.size != 1:
        raise Wrong("db should be a single number (the bias is one number).",
                    expected="a single number", got=f"an array of shape {db.shape}",
                    hint="The bias is shared by all examples: sum their contributions.")
    if dw.shape != w.shape:
        raise Wrong("dw should have one entry per feature (the shape of w).",
                    expected=f"shape {w.shape}", got=f"shape {dw.shape}",
                    hint="Each weight's derivative sums over the examples, leaving one number "
                         "per feature.")
    expect_close(dw, expected[0], what=f"dw for {case.label}", rtol=1e-6, atol=1e-9)
    expect_number(db, expected[1], what=f"db for {case.label}", rtol=1e-6)


def _scaled(factor):
    """The reference gradient times ``factor`` (a number or a function of n)."""
    def mse_gradient(X, y, w, b):
        scale = factor(len(y)) if callable(factor) else factor
        dw, db = _reference_mse_gradient(X, y, w, b)
        return scale * dw, scale * db

    return mse_gradient


#: Half the gradient is right for the loss ½·mean(r²), which many texts use.
HALF_MSE = Convention(
    "½·MSE", _scaled(0.5),
    "Both are half this exercise's gradient: that is the gradient of ½·mean(r²), a convention "
    "many texts use so that the 2 of the square cancels. Here the loss is the plain mean "
    "mean(r²), so its gradient keeps that 2.",
    hint="Differentiate the loss exactly as the task defines it.")

function_exercise(
    "1.3", "The gradient of the mean squared error", "mse_gradient", _reference_mse_gradient,
    _MSE_CASES, hints=_MSE_HINTS, compare=_compare_mse, conventions=[HALF_MSE],
    success="This is the gradient that every step of linear regression uses; below, "
            "PyTorch's autograd computes the same numbers without the formula.",
    slips=[
        Slip("sums instead of averaging", _scaled(float),
             message="Both are n times too large: you summed over the examples instead of "
                     "averaging (divide by n).", hint="The loss is a mean, not a sum."),
        Slip("drops both the 1/n and the 2", _scaled(lambda n: n / 2),
             message="Both are n/2 times too large: you dropped the 1/n of the mean and the 2 "
                     "of the square.", hint="The loss is a mean of squares: both give a factor."),
        Slip("residual with the wrong sign", _scaled(-1.0),
             message="Both have the wrong sign: the residual is prediction − target, "
                     "X @ w + b − y.", hint="Which way round is the residual in the task?"),
        Slip("forgets the bias in the residual",
             lambda X, y, w, b: (2 / len(y) * X.T @ (X @ w - y), 2 * np.mean(X @ w - y)),
             message="The bias b is missing from your residual.",
             hint="What does the model predict?"),
        Slip("returns only dw", lambda X, y, w, b: 2 / len(y) * X.T @ (X @ w + b - y),
             message="On n = 1 examples of 3 features: mse_gradient should return a pair (dw, "
                     "db).",
             compared=False),
        Slip("one gradient per example for dw",
             lambda X, y, w, b: (2 / len(y) * X * (X @ w + b - y)[:, None],
                                 2 * np.mean(X @ w + b - y)),
             message="On n = 1 examples of 3 features: dw should have one entry per feature "
                     "(the shape of w).",
             compared=False),
        Slip("db per example",
             lambda X, y, w, b: (2 / len(y) * X.T @ (X @ w + b - y),
                                 2 / len(y) * (X @ w + b - y)),
             message="On n = 2 examples of 3 features: db should be a single number (the bias "
                     "is one number). (It is right on n = 1 examples of 3 features.)",
             compared=False),
        Slip("the loss instead of its gradient",
             lambda X, y, w, b: (np.mean((X @ w + b - y) ** 2), np.mean((X @ w + b - y) ** 2)),
             message="On n = 1 examples of 3 features: dw is the loss L itself, not its "
                     "derivative.",
             compared=False),
        Slip("returns the loss, a single number",
             lambda X, y, w, b: np.mean((X @ w + b - y) ** 2),
             message="On n = 1 examples of 3 features: You returned the loss L itself; the "
                     "exercise asks for its gradient, the pair (dw, db).",
             compared=False),
        Slip("returns a single number that is not the loss", lambda X, y, w, b: 0.0,
             message="On n = 1 examples of 3 features: mse_gradient returned a single number; "
                     "it should return a pair (dw, db).",
             compared=False),
        Slip("nothing computed yet: (None, None)", lambda X, y, w, b: (None, None),
             message="On n = 1 examples of 3 features: dw is None: did you forget to compute it?",
             compared=False),
        Slip("dw left as None", lambda X, y, w, b: (None, 2 * np.mean(X @ w + b - y)),
             message="On n = 1 examples of 3 features: dw is None: did you forget to compute it?",
             compared=False),
        Slip("dw as a list",
             lambda X, y, w, b: (list(2 / len(y) * X.T @ (X @ w + b - y)),
                                 2 * np.mean(X @ w + b - y)),
             message="On n = 1 examples of 3 features: dw is a Python list; return a NumPy "
                     "array.",
             compared=False),
    ],
)

# --- 1.4 A minibatch SGD training loop ---------------------------------------------------

_SGD_HINTS = [
    "Go through your loop with the task beside it: where is the order shuffled, and by "
    "which generator? How many steps does one epoch take, and how many examples does each "
    "step see?",
    "Start from w = 0, b = 0. Each epoch: a new order of all n indices from rng.permutation; "
    "cut it into n / batch_size consecutive slices of batch_size indices; per slice one "
    "step w − lr·dw, b − lr·db with mse_gradient on those examples only.",
]
#: The check's problem: 300 examples in minibatches of 12, so 25 minibatches per epoch
#: (batch size and batch count differ, so a loop that confuses them is caught).
_SGD_SETTINGS = {"lr": 0.05, "epochs": 4, "batch_size": 12}
_SGD_EXAMPLES = 300
_SGD_BATCHES = _SGD_EXAMPLES // _SGD_SETTINGS["batch_size"]
_SGD_SEED = 2024
#: Further cases, (examples, batch_size): 1, 2, 3 and 17 examples of 3 features, so a loop
#: written for the notebook's sizes, or for 2 features, fails (each batch_size divides n).
_SGD_OTHER_CASES = ((1, 1), (2, 1), (3, 3), (17, 1))
_SGD_OTHER_SETTINGS = {"lr": 0.1, "epochs": 3}
#: A correct loop matches the reference loop on the same generator to float32 precision;
#: every slip below ends at least 1e-3 away (measured).
_SGD_RTOL, _SGD_ATOL = 1e-4, 1e-5


def _sgd_case():
    """A regression problem of the check's own: 300 examples, 2 features, little noise."""
    rng = np.random.default_rng(1234)
    X = rng.normal(size=(_SGD_EXAMPLES, 2))
    y = X @ np.array([1.5, -0.7]) + 0.3 + rng.normal(0, 0.1, size=_SGD_EXAMPLES)
    return X, y


_SGD_CALL = "train_sgd(X, y, {}, rng)".format(
    ", ".join(f"{key}={value}" for key, value in _SGD_SETTINGS.items()))


def _sgd_cases() -> list[Case]:
    """The task's case (300 examples, 2 features, batch_size 12), then the further cases of
    3 features; each with a generator of the same seed."""
    X, y = _sgd_case()
    cases = [Case((X, y, *_SGD_SETTINGS.values(), np.random.default_rng(_SGD_SEED)), _SGD_CALL)]
    data = np.random.default_rng(4321)
    lr, epochs = _SGD_OTHER_SETTINGS.values()
    for n, batch_size in _SGD_OTHER_CASES:
        X = data.normal(size=(n, 3))
        y = X @ np.array([0.8, -1.2, 0.5]) - 0.4 + data.normal(0, 0.1, size=n)
        cases.append(Case((X, y, lr, epochs, batch_size, np.random.default_rng(_SGD_SEED)),
                          f"train_sgd(X, y, lr={lr}, epochs={epochs}, batch_size={batch_size}, "
                          f"rng) on {n} example{'s' if n > 1 else ''} of 3 features"))
    return cases


_SGD_CASES = _sgd_cases()


def _learner_pair(got, n_features):
    """Read the learner's (w, b) as one array [w..., b], or raise Wrong (the same message
    on every case: it names the task's call)."""
    w, b = result_parts(got, ("w", "b"), _SGD_CALL,
                        f"(w, b): w of shape ({n_features},) for {n_features} features, b a "
                        "single number")
    w, b = as_array(w, "w", array=True), as_array(b, "b")
    if w.shape != (n_features,):
        raise Wrong("w should have one entry per feature.", expected=f"shape ({n_features},)",
                    got=f"shape {w.shape}", hint="Start from one zero per feature.")
    if b.size != 1:
        raise Wrong("b should be a single number.", expected="a single number",
                    got=f"an array of shape {b.shape}", hint="db is a single number.")
    return np.append(w, float(b.ravel()[0]))


def _shown(params):
    return f"w = {np.array2string(params[:-1], precision=5)}, b = {params[-1]:.5g}"


def _compare_sgd(got, expected, case):
    """The learner's (w, b) against the reference loop's on one case."""
    n_features = case.args[0].shape[1]
    params = _learner_pair(got, n_features)
    right = np.append(expected[0], expected[1])
    if not np.all(np.isfinite(params)):
        raise Wrong("Your parameters are not finite numbers (inf or NaN): the loop diverged.",
                    expected=_shown(right), got=_shown(params))
    if not np.allclose(params, right, rtol=_SGD_RTOL, atol=_SGD_ATOL):
        raise Wrong("Your loop's steps differ from the reference loop on a generator of the "
                    "same seed (a new rng.permutation(n) each epoch, consecutive slices of "
                    "batch_size indices, one mse_gradient step per slice).",
                    expected=_shown(right), got=_shown(params))


def _sgd_loop(X, y, lr, epochs, batch_size, rng, order="permutation", cut=0, step="batch"):
    """Minibatch SGD from w = 0, b = 0, with one of the usual slips; returns (w, b).

    ``order``: how each epoch's order is drawn ("permutation", "shuffle in place" of the
    previous order, "choice" without replacement, "once" before the first epoch, "none",
    "with replacement" by rng.integers, "per step with replacement"); ``cut``: examples
    dropped from the end of every slice; ``step``: "batch", "first batch", "whole data",
    "batch count" (splits into batch_size slices), "no bias", "ascent".
    """
    from utils.optimizers import mse_gradient

    n = len(y)
    w, b = np.zeros(X.shape[1]), 0.0
    kept = np.arange(n)
    once = rng.permutation(n) if order == "once" else None
    for _ in range(epochs):
        if order == "shuffle in place":
            rng.shuffle(kept)
        indices = {"permutation": lambda: rng.permutation(n), "once": lambda: once,
                   "choice": lambda: rng.choice(n, n, replace=False),
                   "none": lambda: np.arange(n), "shuffle in place": lambda: kept,
                   "with replacement": lambda: rng.integers(0, n, n),
                   "per step with replacement": lambda: np.arange(n)}[order]()
        slices = [indices[start:start + batch_size - cut] for start in range(0, n, batch_size)]
        if step == "batch count":
            slices = np.array_split(indices, batch_size)
        for batch in slices[:1] if step == "first batch" else slices:
            if order == "per step with replacement":
                batch = rng.integers(0, n, batch_size)
            if step == "whole data":
                batch = slice(None)
            dw, db = mse_gradient(X[batch], y[batch], w, b)
            sign = -1.0 if step == "ascent" else 1.0
            w = w - sign * lr * dw
            b = b if step == "no bias" else b - sign * lr * db
    return w, b


def _sgd_variant(**change):
    """The reference loop with one change, as a learner's train_sgd: ``lr`` scales the
    learning rate, ``epochs`` shifts the count, ``batch_size`` replaces it ("all": the whole
    data set), anything else goes to ``_sgd_loop``."""

    def train_sgd(X, y, lr, epochs, batch_size, rng):
        lr = lr * change.get("lr", 1.0)
        epochs = epochs + change.get("epochs", 0)
        batch_size = change.get("batch_size", batch_size)
        batch_size = len(y) if batch_size == "all" else batch_size
        options = {k: v for k, v in change.items() if k not in ("lr", "epochs", "batch_size")}
        return _sgd_loop(X, y, lr, epochs, batch_size, rng, **options)

    return train_sgd


def _sgd_with(draw):
    """A correct loop whose order comes from ``draw(rng, n)``: np.random, own generators."""
    from utils.optimizers import mse_gradient

    def train_sgd(X, y, lr, epochs, batch_size, rng):
        w, b = np.zeros(X.shape[1]), 0.0
        for _ in range(epochs):
            order = draw(rng, len(y))
            for start in range(0, len(y), batch_size):
                batch = order[start:start + batch_size]
                dw, db = mse_gradient(X[batch], y[batch], w, b)
                w, b = w - lr * dw, b - lr * db
        return w, b

    return train_sgd


_ARGUMENT_RNG = ("Draw the order from the argument, so whoever calls your function chooses "
                 "the seed.")


def _explain_sgd_randomness(train_sgd, case, name):
    """Where the randomness of a failing loop comes from: NumPy's global generator, a
    generator of its own, or not only ``rng`` (two runs on the same seed differ). Run on
    the task's case, whatever the failing ``case``: its 300 examples leave no chance that
    two generators give the same order."""
    *data, rng = _SGD_CASES[0].args

    def run():
        generator = copy.deepcopy(rng)
        state = generator.bit_generator.state
        params = _learner_pair(train_sgd(*(np.array(a) for a in data[:2]), *data[2:],
                                         generator), data[0].shape[1])
        return params, generator.bit_generator.state != state

    global_before = np.random.get_state()[1].copy()
    try:
        (got, used_rng), (again, _) = run(), run()
    except Exception:  # the check has said what it could about a failing or odd result
        return None
    if not np.array_equal(np.random.get_state()[1], global_before):
        return Wrong("Your loop draws from NumPy's global generator (np.random...) instead of "
                     "the generator `rng` it is given, so a seed cannot reproduce it.",
                     hint=_ARGUMENT_RNG)
    if not used_rng:
        kind = ("a generator without a seed" if not np.allclose(again, got)
                else "a generator of its own with a fixed seed")
        return Wrong(f"Your loop never draws from the `rng` it is given: it uses {kind}, so the "
                     "caller's seed has no effect.", hint=_ARGUMENT_RNG)
    if not np.allclose(again, got):
        return Wrong("Two runs with generators of the same seed gave different results: part "
                     "of your loop's randomness does not come from `rng`.",
                     hint="Draw every random number from the argument `rng`.")
    return None


def _sgd_context():
    from utils.optimizers import mse_gradient

    return {"mse_gradient": mse_gradient}


#: Other correct ways to draw each epoch's order, named in the praise.
SGD_CONVENTIONS = [
    Convention(name, _sgd_variant(order=order), f"(You drew each epoch's order by {name}, "
               "which is as good as rng.permutation.)", accepted=True)
    for name, order in [("shuffle in place", "shuffle in place"),
                        ("choice without replacement", "choice")]]
_STEP_LENGTH, _STEPS_PER_EPOCH = "How long is one step?", "How many steps does one epoch take?"
_ORDER_DRAWN = "Where in your loop is the order drawn?"
_ORDERING = "An epoch is one pass over every example: draw an ordering, not a sample."
_WITH_REPLACEMENT = ("You sampled the examples with replacement (rng.integers or rng.choice "
                     "with replacement): some examples come twice in an epoch and others not at "
                     "all. An epoch visits every example once.")
_EPOCHS = "Count the epochs your loop runs."
_SGD_EPOCHS = _SGD_SETTINGS["epochs"]

function_exercise(
    "1.4", "A minibatch SGD training loop", "train_sgd", _sgd_variant(), _SGD_CASES,
    hints=_SGD_HINTS, conventions=SGD_CONVENTIONS, compare=_compare_sgd,
    explain_failure=_explain_sgd_randomness, unnamed_when_same=True, rtol=_SGD_RTOL,
    atol=_SGD_ATOL,
    solution_context=_sgd_context,
    success=f"Your loop takes the same steps as the reference loop: {_SGD_EPOCHS} epochs of "
            f"{_SGD_BATCHES} minibatches, {_SGD_EPOCHS * _SGD_BATCHES} noisy steps. Below, the "
            "course's `minibatch_sgd` is the same loop, with a record of every step.",
    slips=[
        Slip("batch slices one short", _sgd_variant(cut=1),
             message="Your minibatches are one example short: each slice stops one index early, "
                     f"so every epoch skips {_SGD_BATCHES} examples.",
             hint="How many indices does one slice hold?"),
        Slip("one epoch too few", _sgd_variant(epochs=-1),
             message="Your loop runs one epoch too few.", hint=_EPOCHS),
        Slip("one epoch too many", _sgd_variant(epochs=+1),
             message="Your loop runs one epoch too many.", hint=_EPOCHS),
        Slip("shuffles once", _sgd_variant(order="once"),
             message="You shuffled once, before the first epoch, and then reused that order: "
                     "every epoch must see a new order.", hint=_ORDER_DRAWN),
        Slip("no shuffling", _sgd_variant(order="none"),
             message="Your loop never shuffles: every epoch visits the examples in the same "
                     "order, so rng is never used.", hint=_ORDER_DRAWN),
        Slip("samples with replacement", _sgd_variant(order="with replacement"),
             message=_WITH_REPLACEMENT, hint=_ORDERING),
        Slip("draws each minibatch with replacement",
             _sgd_variant(order="per step with replacement"),
             message=_WITH_REPLACEMENT, hint=_ORDERING),
        Slip("half the learning rate", _sgd_variant(lr=0.5),
             message="Your steps are half as long as they should be (lr / 2).",
             hint=_STEP_LENGTH),
        Slip("twice the learning rate", _sgd_variant(lr=2.0),
             message="Your steps are twice as long as they should be (2·lr).",
             hint=_STEP_LENGTH),
        Slip("batch size 1", _sgd_variant(batch_size=1),
             message="You stepped on one example at a time (batch size 1): that is plain SGD, "
                     "not minibatches of batch_size.",
             hint="How many examples does each step see?"),
        Slip("batch_size minibatches instead of minibatches of batch_size",
             _sgd_variant(step="batch count"),
             message="You cut each epoch into batch_size minibatches (here "
                     f"{_SGD_SETTINGS['batch_size']} of {_SGD_BATCHES} examples) instead of "
                     f"minibatches of batch_size examples ({_SGD_BATCHES} of "
                     f"{_SGD_SETTINGS['batch_size']}).",
             hint="batch_size is the number of examples in one minibatch, not the number of "
                  "minibatches."),
        Slip("one full-batch step per epoch", _sgd_variant(step="whole data", batch_size="all"),
             message="You took one step per epoch on the whole data set: that is full-batch "
                     f"gradient descent, {_SGD_EPOCHS} steps in all.", hint=_STEPS_PER_EPOCH),
        Slip("only the first minibatch of each epoch", _sgd_variant(step="first batch"),
             message="You stepped on the first minibatch of each epoch only.",
             hint=_STEPS_PER_EPOCH),
        Slip("the whole data set in every step", _sgd_variant(step="whole data"),
             message="Every step used the whole data set, not its minibatch.",
             hint="Which examples does each step see?"),
        Slip("never updates the bias", _sgd_variant(step="no bias"),
             message="b never changes: your loop does not update the bias.",
             hint="Which parameters does each step update?"),
        Slip("steps up the slope", _sgd_variant(step="ascent"),
             message="Your steps go up the slope (+ instead of −): the loss grows.",
             hint="Which way does a gradient-descent step go?"),
        Slip("np.random instead of rng", _sgd_with(lambda rng, n: np.random.permutation(n)),
             message="Your loop draws from NumPy's global generator (np.random...) instead of "
                     "the generator `rng` it is given, so a seed cannot reproduce it.",
             compared=False),
        Slip("its own unseeded generator",
             _sgd_with(lambda rng, n: np.random.default_rng().permutation(n)),
             message="Your loop never draws from the `rng` it is given: it uses a generator "
                     "without a seed, so the caller's seed has no effect.",
             compared=False),
        Slip("its own seeded generator",
             _sgd_with(lambda rng, n: np.random.default_rng(0).permutation(n)),
             message="Your loop never draws from the `rng` it is given: it uses a generator of "
                     "its own with a fixed seed, so the caller's seed has no effect.",
             compared=False),
        Slip("returns only w", lambda X, y, lr, epochs, batch_size, rng: np.zeros(X.shape[1]),
             message="train_sgd(X, y, lr=0.05, epochs=4, batch_size=12, rng) should return a "
                     "pair (w, b).",
             compared=False),
        Slip("returns (None, None)", lambda X, y, lr, epochs, batch_size, rng: (None, None),
             message="w is None: did you forget to compute it?",
             compared=False),
    ],
)
