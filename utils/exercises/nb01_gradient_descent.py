"""Exercises of 01_gradient_descent: one step, the stable learning rate, the MSE gradient, SGD."""

import numbers

import numpy as np

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

# --- 1.1 One gradient-descent step ------------------------------------------------------

_STEP_HINT = "Step against the gradient: new x = x − lr · grad_fn(x)."


def _bowl_grad(x):
    """Gradient of the bowl ½·Σ cᵢ·xᵢ² with curvatures cᵢ = 1, 2, 3, …: cᵢ·xᵢ."""
    x = np.asarray(x, dtype=np.float64)
    return np.arange(1, x.size + 1).reshape(x.shape) * x


def _check_gradient_step(gradient_step):
    """Check x − lr·∇f(x) on a number and on a vector; name the usual slips."""
    got_scalar = call_learner(gradient_step, lambda x: 4.0 * x, 1.5, 0.1, name="gradient_step")
    got_array = as_array(got_scalar, "gradient_step(grad_fn, 1.5, 0.1)")
    if got_array.size != 1:
        raise Wrong("For a single number x, gradient_step should return a single number.",
                    expected="0.9", got=f"an array of shape {got_array.shape}", hint=_STEP_HINT)
    value = float(got_array.ravel()[0])
    # x = 1.5, gradient 6, lr 0.1: the slips give these values.
    slips = [
        (2.1, "You stepped *up* the slope (x + lr·gradient): that is gradient ascent.",
         "The gradient points uphill; subtract it: x − lr · grad_fn(x)."),
        (-4.5, "You subtracted the whole gradient, without the learning rate.",
         "Scale the gradient by lr before subtracting it: x − lr · grad_fn(x)."),
        (-0.6, "You returned the step −lr·gradient, not the new point.",
         "Add the step to x: x − lr · grad_fn(x)."),
        (0.6, "You returned lr·gradient, not the new point.",
         "The new point is x minus that: x − lr · grad_fn(x)."),
        (1.5, "You returned x unchanged.", _STEP_HINT),
        (6.0, "You returned the gradient, not the new point.", _STEP_HINT),
        (-58.5, "You divided the gradient by the learning rate instead of multiplying.",
         "The step is lr times the gradient: x − lr · grad_fn(x)."),
    ]
    for slip, message, hint in slips:
        if np.isclose(value, slip):
            raise Wrong(message, expected="gradient_step(lambda x: 4 * x, 1.5, 0.1) = 0.9",
                        got=f"{value:.6g}", hint=hint)
    # rtol 1e-6: a correct answer in 32-bit floats (NumPy float32, torch) is accepted.
    expect_number(value, 0.9, what="gradient_step(lambda x: 4 * x, 1.5, 0.1)", rtol=1e-6,
                  hint=_STEP_HINT)
    x = np.array([1.0, -2.0, 0.5])
    try:
        got = call_learner(gradient_step, _bowl_grad, x, 0.25, name="gradient_step")
    except LearnerError as error:
        raise Wrong("gradient_step works on a number but fails on a NumPy vector "
                    f"({type(error.original).__name__}: {error.original}).",
                    hint="Use operations that work on whole arrays (x - lr * g), "
                         "with no `if` or `math` function on x.") from None
    expect_close(got, x - 0.25 * _bowl_grad(x), what="gradient_step on the vector [1, -2, 0.5]",
                 rtol=1e-6, hint=_STEP_HINT)
    return ("One step is all gradient descent is; the whole notebook repeats it. The sign "
            "matters: + instead of − climbs uphill.")


register(Exercise(
    id="1.1",
    title="One gradient-descent step",
    answer_name="gradient_step",
    checker=_check_gradient_step,
    wrong_answers=[
        ("gradient ascent (a plus sign)", lambda grad_fn, x, lr: x + lr * grad_fn(x)),
        ("forgets the learning rate", lambda grad_fn, x, lr: x - grad_fn(x)),
        ("returns the step, not the new point", lambda grad_fn, x, lr: -lr * grad_fn(x)),
        ("divides by the learning rate", lambda grad_fn, x, lr: x - grad_fn(x) / lr),
        ("returns x unchanged", lambda grad_fn, x, lr: x),
        ("a gradient at the wrong point", lambda grad_fn, x, lr: x - lr * grad_fn(x - lr)),
        ("returns the gradient itself", lambda grad_fn, x, lr: grad_fn(x)),
        ("returns a list of both", lambda grad_fn, x, lr: [x, x - lr * grad_fn(x)]),
    ],
))

# --- 1.2 The largest stable learning rate -------------------------------------------------

_LIMIT_HINT = ("Each direction i is stable only if |1 − lr·cᵢ| < 1, that is lr < 2/cᵢ; all "
               "directions must be stable at once, so the stiffest one (largest cᵢ) sets the "
               "limit: 2 / max(c).")
# The largest curvature sits in the middle, first and last, so that an answer that assumes
# sorted input is caught; in the second case the mean and the median differ.
_LIMIT_CASES = [np.array([4.0]), np.array([3.0, 12.0, 0.5, 2.0]), np.array([100.0, 1.0]),
                np.array([1.0, 100.0])]


def _check_max_stable_lr(max_stable_lr):
    """Compare with 2 / max(curvatures) on three quadratics; name the usual slips."""
    for curvatures in _LIMIT_CASES:
        shown = f"max_stable_lr([{', '.join(f'{c:g}' for c in curvatures)}])"
        got = as_array(call_learner(max_stable_lr, curvatures, name="max_stable_lr"), shown)
        expected = 2.0 / curvatures.max()
        if got.size != 1:
            if got.shape == curvatures.shape and np.allclose(got, 2.0 / curvatures):
                raise Wrong(f"{shown} returned one learning rate per direction, 2/cᵢ.",
                            expected=f"one number, {expected:.6g}",
                            got=f"[{', '.join(f'{g:.4g}' for g in got.ravel())}]",
                            hint="One learning rate serves all directions, so it must be "
                                 "below every 2/cᵢ: take the smallest of them.")
            raise Wrong(f"{shown} should be a single number.", expected=f"{expected:.6g}",
                        got=f"an array of shape {got.shape}", hint=_LIMIT_HINT)
        value = float(got.ravel()[0])
        if curvatures.size > 1:
            slips = [
                (2.0 / curvatures.min(), "You used the flattest direction (the smallest "
                 "curvature); the steepest one diverges first.", _LIMIT_HINT),
                (2.0 / curvatures.mean(), "You used an average curvature (the mean); the "
                 "stiffest direction decides, not a typical one.", _LIMIT_HINT),
                (2.0 / np.median(curvatures), "You used an average curvature (the median); "
                 "the stiffest direction decides, not a typical one.", _LIMIT_HINT),
                (2.0 / curvatures.sum(), "You used the sum of the curvatures; that is too "
                 "cautious. Only the largest one decides.", _LIMIT_HINT),
            ]
            slips += [(2.0 / c, f"You used the curvature at position {i} of the array "
                       f"({c:g}), not the largest one; the largest can be anywhere in the array.",
                       "Take the largest curvature wherever it is: 2 / np.max(curvatures).")
                      for i, c in enumerate(curvatures)]
        else:
            slips = []
        slips += [
            (1.0 / curvatures.max(), "1 / max(c) is the learning rate that is *fastest* "
             "along the stiffest direction (it lands on the minimum in one step), not the "
             "largest stable one.", "Solve |1 − lr·c| < 1 for lr: the limit is twice that."),
            (2.0 * curvatures.max(), "You multiplied by the curvature instead of dividing.",
             "A stiffer (more curved) direction allows a *smaller* learning rate: 2 / c."),
            (curvatures.max() / 2.0, "You computed c / 2; the limit is its reciprocal, 2 / c.",
             _LIMIT_HINT),
        ]
        for slip, message, hint in slips:
            if np.isclose(value, slip, rtol=1e-6) and not np.isclose(value, expected, rtol=1e-6):
                raise Wrong(message, expected=f"{shown} = {expected:.6g}",
                            got=f"{value:.6g}", hint=hint)
        expect_number(value, expected, what=shown, rtol=1e-6, hint=_LIMIT_HINT)
    return ("The stiffest direction sets the learning rate and the flattest sets the pace: "
            "the larger their ratio, the more steps gradient descent needs.")


register(Exercise(
    id="1.2",
    title="The largest stable learning rate",
    answer_name="max_stable_lr",
    checker=_check_max_stable_lr,
    wrong_answers=[
        ("uses the smallest curvature", lambda c: 2 / np.min(c)),
        ("the optimal step 1/c, not the limit", lambda c: 1 / np.max(c)),
        ("one rate per direction", lambda c: 2 / np.asarray(c)),
        ("the mean curvature", lambda c: 2 / np.mean(c)),
        ("multiplies instead of dividing", lambda c: 2 * np.max(c)),
        ("c / 2", lambda c: np.max(c) / 2),
        ("a fixed number", lambda c: 0.5),
        ("the sum of the curvatures", lambda c: 2 / np.sum(c)),
        ("the median curvature", lambda c: 2 / np.median(c)),
        ("assumes the largest curvature comes last", lambda c: 2 / c[-1]),
        ("assumes the largest curvature comes first", lambda c: 2 / c[0]),
    ],
))

# --- 1.3 The gradient of the mean squared error -----------------------------------------

_MSE_HINT = ("With the residual r = X @ w + b − y and n = len(y): dw = (2/n)·Xᵀr (X.T @ r) "
             "and db = (2/n)·Σr.")


def _mse_case():
    """A small fixed regression problem: X (7, 3), y (7,), w (3,), b."""
    rng = np.random.default_rng(2024)
    X = rng.normal(size=(7, 3))
    y = rng.normal(size=7)
    w = np.array([0.5, -1.0, 2.0])
    return X, y, w, 0.3


def _reference_mse_gradient(X, y, w, b):
    residual = X @ w + b - y
    return 2 / len(y) * X.T @ residual, 2 / len(y) * residual.sum()


def _is_number(value):
    """A single number: a Python or NumPy number, or a one-element array or tensor."""
    if isinstance(value, (bool, str, bytes)):
        return False
    if isinstance(value, numbers.Real):
        return True
    size = getattr(value, "size", None)
    size = value.numel() if callable(getattr(value, "numel", None)) else size
    return size == 1 and not isinstance(value, (tuple, list))


def _check_mse_gradient(mse_gradient):
    """Compare (dw, db) with the formula on a fixed problem; name the usual slips."""
    X, y, w, b = _mse_case()
    loss = float(np.mean((X @ w + b - y) ** 2))
    got = call_learner(mse_gradient, X, y, w, b, name="mse_gradient")
    if _is_number(got):
        value = float(as_array(got, "mse_gradient(X, y, w, b)").ravel()[0])
        if np.isclose(value, loss):
            raise Wrong("You returned the loss L itself; the exercise asks for its gradient, "
                        "the pair (dw, db).", expected="(dw, db)", got=f"{value:.6g} (the loss)",
                        hint=_MSE_HINT)
        raise Wrong("mse_gradient returned a single number; it should return a pair (dw, db).",
                    expected="(dw, db): dw of shape (3,) for 3 features, db a single number",
                    got=f"{value:.6g}", hint="End with `return dw, db`.")
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        shape = f"one object of type {type(got).__name__}"
        if isinstance(got, (tuple, list)):
            shape = f"a {type(got).__name__} of length {len(got)}"
        raise Wrong("mse_gradient should return a pair (dw, db).", expected="(dw, db): dw of "
                    "shape (3,) for 3 features, db a single number", got=shape,
                    hint="End with `return dw, db`.")
    for part, name in zip(got, ("dw", "db")):
        if part is None or part is Ellipsis:
            raise Wrong(f"{name} is {part!r}: did you forget to compute it?",
                        expected=f"{name} computed from the residual r = X @ w + b − y",
                        got=f"{name} = {part!r}", hint=_MSE_HINT)
        if _is_number(part) and np.isclose(float(as_array(part, name).ravel()[0]), loss):
            raise Wrong(f"{name} is the loss L itself, not its derivative.",
                        expected=f"{name} = ∂L/∂{name[1]}", got=f"{name} = the loss, {loss:.6g}",
                        hint=_MSE_HINT)
    dw = as_array(got[0], "dw")
    db = as_array(got[1], "db")
    dw_ref, db_ref = _reference_mse_gradient(X, y, w, b)
    if db.size != 1:
        raise Wrong("db should be a single number (the bias is one number).",
                    expected="a single number", got=f"an array of shape {db.shape}",
                    hint="Sum the residuals over the examples: db = (2/n)·Σr.")
    if dw.shape != dw_ref.shape:
        raise Wrong("dw should have one entry per feature (the shape of w).",
                    expected=f"shape {dw_ref.shape}", got=f"shape {dw.shape}",
                    hint="Xᵀr (X.T @ r) sums over the examples and leaves one number per "
                         "feature.")
    db = float(db.ravel()[0])
    n = len(y)
    slips = [
        (0.5, "Both are half the right size: the factor 2 from differentiating the square is "
              "missing."),
        (float(n), "Both are n times too large: you summed over the examples instead of "
                   "averaging (divide by n)."),
        (n / 2, "Both are n/2 times too large: you dropped the 1/n of the mean and the 2 of "
                "the square."),
        (-1.0, "Both have the wrong sign: the residual is prediction − target, X @ w + b − y."),
    ]
    for factor, message in slips:
        if np.allclose(dw, factor * dw_ref) and np.isclose(db, factor * db_ref):
            raise Wrong(message, expected=f"db = {db_ref:.6g}", got=f"db = {db:.6g}",
                        hint=_MSE_HINT)
    no_bias = X @ w - y
    if np.allclose(dw, 2 / n * X.T @ no_bias) and np.isclose(db, 2 / n * no_bias.sum()):
        raise Wrong("The bias b is missing from your residual.", expected=f"db = {db_ref:.6g}",
                    got=f"db = {db:.6g}", hint="The prediction is X @ w + b.")
    expect_close(dw, dw_ref, what="dw", rtol=1e-6, atol=1e-9, hint=_MSE_HINT)
    expect_number(db, db_ref, what="db", rtol=1e-6, hint=_MSE_HINT)
    return ("This is the gradient that every step of linear regression uses; below, PyTorch's "
            "autograd computes the same numbers without the formula.")


register(Exercise(
    id="1.3",
    title="The gradient of the mean squared error",
    answer_name="mse_gradient",
    checker=_check_mse_gradient,
    wrong_answers=[
        ("forgets the factor 2",
         lambda X, y, w, b: (X.T @ (X @ w + b - y) / len(y), np.mean(X @ w + b - y))),
        ("sums instead of averaging",
         lambda X, y, w, b: (2 * X.T @ (X @ w + b - y), 2 * np.sum(X @ w + b - y))),
        ("residual with the wrong sign",
         lambda X, y, w, b: (2 / len(y) * X.T @ (y - X @ w - b), 2 * np.mean(y - X @ w - b))),
        ("forgets the bias in the residual",
         lambda X, y, w, b: (2 / len(y) * X.T @ (X @ w - y), 2 * np.mean(X @ w - y))),
        ("returns only dw", lambda X, y, w, b: 2 / len(y) * X.T @ (X @ w + b - y)),
        ("one gradient per example for dw",
         lambda X, y, w, b: (2 / len(y) * X * (X @ w + b - y)[:, None],
                             2 * np.mean(X @ w + b - y))),
        ("db per example",
         lambda X, y, w, b: (2 / len(y) * X.T @ (X @ w + b - y), 2 / len(y) * (X @ w + b - y))),
        ("the loss instead of its gradient",
         lambda X, y, w, b: (np.mean((X @ w + b - y) ** 2), np.mean((X @ w + b - y) ** 2))),
        ("returns the loss, a single number", lambda X, y, w, b: np.mean((X @ w + b - y) ** 2)),
        ("returns a single number that is not the loss", lambda X, y, w, b: 0.0),
        ("nothing computed yet: (None, None)", lambda X, y, w, b: (None, None)),
        ("dw left as None",
         lambda X, y, w, b: (None, 2 * np.mean(X @ w + b - y))),
    ],
))

# --- 1.4 A minibatch SGD training loop ---------------------------------------------------

_SGD_HINT = ("Start from w = zeros(d), b = 0. For each epoch: order = rng.permutation(n); for "
             "each start in range(0, n, batch_size): batch = order[start:start + batch_size], "
             "dw, db = mse_gradient(X[batch], y[batch], w, b), then w, b = w − lr·dw, b − lr·db. "
             "Return w, b.")
_SGD_SETTINGS = {"lr": 0.1, "epochs": 5, "batch_size": 20}
#: How far from the least-squares solution a correct loop may end: the largest distance
#: over 300 shuffling seeds was 0.022 (the noise of SGD at this learning rate).
_SGD_TOLERANCE = 0.08


def _sgd_case():
    """A regression problem of the check's own: 400 examples, 2 features, little noise."""
    rng = np.random.default_rng(1234)
    X = rng.normal(size=(400, 2))
    y = X @ np.array([1.5, -0.7]) + 0.3 + rng.normal(0, 0.1, size=400)
    return X, y


def _learner_pair(got, what):
    """Read the learner's (w, b) as (array of shape (2,), float), or raise Wrong."""
    if _is_number(got) or not isinstance(got, (tuple, list)) or len(got) != 2:
        shape = (f"a {type(got).__name__} of length {len(got)}"
                 if isinstance(got, (tuple, list)) else f"one object of type {type(got).__name__}")
        raise Wrong(f"{what} should return the pair (w, b).", expected="(w, b): w of shape (2,) "
                    "for 2 features, b a single number", got=shape, hint="End with `return w, b`.")
    for part, name in zip(got, ("w", "b")):
        if part is None or part is Ellipsis:
            raise Wrong(f"{name} is {part!r}: did you forget to compute it?",
                        expected=f"the trained {name}", got=f"{name} = {part!r}", hint=_SGD_HINT)
    w, b = as_array(got[0], "w"), as_array(got[1], "b")
    if w.shape != (2,):
        raise Wrong("w should have one entry per feature.", expected="shape (2,)",
                    got=f"shape {w.shape}", hint="Start from w = np.zeros(X.shape[1]).")
    if b.size != 1:
        raise Wrong("b should be a single number.", expected="a single number",
                    got=f"an array of shape {b.shape}",
                    hint="db is a single number, so b − lr·db stays one.")
    return w, float(b.ravel()[0])


def _check_train_sgd(train_sgd):
    """Train on the check's own data; compare with least squares and with the usual slips."""
    X, y = _sgd_case()
    settings = ", ".join(f"{key}={value}" for key, value in _SGD_SETTINGS.items())
    what = f"train_sgd(X, y, {settings}, rng)"
    w, b = _learner_pair(call_learner(train_sgd, X, y, *_SGD_SETTINGS.values(),
                                      np.random.default_rng(1), name="train_sgd"), what)
    solution = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    got_params = np.append(w, b)
    shown = f"w = [{w[0]:.4g}, {w[1]:.4g}], b = {b:.4g}"
    expected = (f"close to least squares, w = [{solution[0]:.4g}, {solution[1]:.4g}], "
                f"b = {solution[2]:.4g}")
    if not np.all(np.isfinite(got_params)) or np.linalg.norm(got_params) > 10 * np.linalg.norm(
            solution):
        raise Wrong("Your parameters blew up instead of settling: are you stepping up the slope "
                    "(+ instead of −), or forgetting the learning rate?", expected=expected,
                    got=shown, hint=_SGD_HINT)
    if b == 0.0:
        raise Wrong("b is still 0: did you forget to update the bias?", expected=expected,
                    got=shown, hint="Update both: w, b = w − lr·dw, b − lr·db.")
    distance = np.linalg.norm(got_params - solution)
    if distance > _SGD_TOLERANCE:
        full_w, full_b = np.zeros(2), 0.0
        for _ in range(_SGD_SETTINGS["epochs"]):  # one full-batch step per epoch
            full_w, full_b = _sgd_step(X, y, full_w, full_b, _SGD_SETTINGS["lr"])
        if np.allclose(got_params, np.append(full_w, full_b)):
            raise Wrong("You took one step per epoch on the whole data set: that is full-batch "
                        "gradient descent, 5 steps in all.", expected=expected, got=shown,
                        hint="SGD steps once per minibatch: 400 / 20 = 20 steps per epoch.")
        raise Wrong(f"After 5 epochs your (w, b) is {distance:.3g} from the least-squares "
                    f"solution; a correct SGD loop ends within {_SGD_TOLERANCE}.",
                    expected=expected, got=shown,
                    hint="Step on every minibatch of every epoch. " + _SGD_HINT)
    again = _learner_pair(call_learner(train_sgd, X, y, *_SGD_SETTINGS.values(),
                                       np.random.default_rng(2), name="train_sgd"), what)
    if np.array_equal(np.append(*again), got_params):
        raise Wrong("Your result is the same for two different random generators, so the "
                    "examples were not shuffled with rng (or every step used all the data).",
                    expected="a slightly different (w, b) for another rng",
                    got="exactly the same (w, b)",
                    hint="Shuffle at the start of each epoch, order = rng.permutation(n), and "
                         "step on X[batch], y[batch].")
    return (f"Your loop ends {distance:.2g} from the least-squares solution after 100 noisy "
            "steps. Below, the course's `minibatch_sgd` is the same loop, with a record of "
            "every step.")


def _sgd_context():
    from utils.optim_basics import mse_gradient

    return {"mse_gradient": mse_gradient}


def _sgd_step(X, y, w, b, lr):
    from utils.optim_basics import mse_gradient

    dw, db = mse_gradient(X, y, w, b)
    return w - lr * dw, b - lr * db


def _sgd_variant(shuffle=True, whole_data=False, first_batch_only=False, sign=1.0,
                 update_bias=True, one_step_per_epoch=False):
    """A minibatch loop with one of the usual slips, for the tests of the check."""
    from utils.optim_basics import mse_gradient

    def train_sgd(X, y, lr, epochs, batch_size, rng):
        w, b = np.zeros(X.shape[1]), 0.0
        for _ in range(epochs):
            if one_step_per_epoch:
                w, b = _sgd_step(X, y, w, b, lr)
                continue
            order = rng.permutation(len(y)) if shuffle else np.arange(len(y))
            for start in range(0, len(y), batch_size):
                batch = slice(None) if whole_data else order[start:start + batch_size]
                dw, db = mse_gradient(X[batch], y[batch], w, b)
                w = w - sign * lr * dw
                b = b - sign * lr * db if update_bias else b
                if first_batch_only:
                    break
        return w, b

    return train_sgd


register(Exercise(
    id="1.4",
    title="A minibatch SGD training loop",
    answer_name="train_sgd",
    checker=_check_train_sgd,
    solution_context=_sgd_context,
    wrong_answers=[
        ("one full-batch step per epoch", _sgd_variant(one_step_per_epoch=True)),
        ("steps up the slope", _sgd_variant(sign=-1.0)),
        ("never updates the bias", _sgd_variant(update_bias=False)),
        ("only the first minibatch of each epoch", _sgd_variant(first_batch_only=True)),
        ("no shuffling", _sgd_variant(shuffle=False)),
        ("the whole data set in every step", _sgd_variant(whole_data=True)),
        ("returns only w", lambda X, y, lr, epochs, batch_size, rng: np.zeros(X.shape[1])),
        ("returns (None, None)", lambda X, y, lr, epochs, batch_size, rng: (None, None)),
    ],
))
