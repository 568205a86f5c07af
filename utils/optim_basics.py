"""Gradient descent from scratch: the update rule, test functions and linear regression.

A few dozen lines of NumPy that notebook 01 builds on and later notebooks reuse:

- ``gradient_descent(grad_fn, x0, lr, steps, momentum=0.0)``: the trajectory of
  plain gradient descent (or heavy-ball momentum), stopped early if it diverges;
- ``steps_to_tolerance(trajectory, minimum, tol)``: when a run first came close;
- two 2-D test functions, an ill-conditioned quadratic bowl and Rosenbrock's
  banana valley, each with its gradient, minimum and a box to draw it in
  (``FUNCTIONS`` maps their names to ``TestFunction`` records), and
  Rosenbrock's Hessian, whose curvature changes from place to place;
- ``linear_mse`` and ``mse_gradient``: the loss of linear regression and its
  gradient, written out by hand;
- ``minibatch_sgd``: linear regression trained by minibatch SGD, with a record
  of every step for plotting.
"""

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from utils import checks

#: A run whose iterate grows to this many times the size of its start (or, from a
#: start inside the unit ball, beyond this norm) is called diverged and stopped.
DIVERGENCE_NORM = 1e6
#: The most steps (and epochs) a run accepts: 10⁵ steps of a 2-D run take a few
#: seconds, while a slip such as ``steps=10**9`` would run for hours.
MAX_STEPS = 100_000


def _check_steps(steps, name="steps"):
    return checks.whole_number(name, steps, maximum=MAX_STEPS)


def _check_momentum(momentum):
    if (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)
            or not 0 <= momentum < 1):
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}.")


def gradient_descent(grad_fn, x0, lr, steps, momentum=0.0, max_norm=DIVERGENCE_NORM):
    """Run ``steps`` steps of gradient descent from ``x0``; return the visited points.

    The update is ``x ← x − lr · grad_fn(x)``. With ``momentum`` β > 0 it is
    Polyak's heavy ball: ``v ← β·v + grad_fn(x)``, ``x ← x − lr · v``.

    Returns a float64 array of the points ``x_0, x_1, …``: of shape ``(k + 1,)``
    when ``x0`` is a number, ``(k + 1, d)`` when it is a vector of ``d`` numbers.
    Normally ``k = steps``; a run that diverges (a point that is not finite or
    whose norm exceeds ``max_norm`` × max(1, ‖x0‖): divergence is judged
    relative to the start, so a converging run from far away is not stopped)
    stops there, so ``k < steps`` and the last row is the first point past the
    limit. ``steps`` is at most ``MAX_STEPS``.
    """
    checks.function("grad_fn", grad_fn)
    checks.positive_number("lr", lr)
    steps = _check_steps(steps)
    _check_momentum(momentum)
    if not (isinstance(max_norm, numbers.Real) and not isinstance(max_norm, bool)
            and max_norm > 0):
        raise ValueError(f"max_norm must be a positive number (math.inf: never stop), got "
                         f"{max_norm!r}.")
    scalar = np.ndim(x0) == 0
    try:
        x = np.atleast_1d(np.asarray(x0, dtype=np.float64)).copy()
    except (TypeError, ValueError):
        x = None
    if x is None or x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"x0 must be a finite number or a 1-D vector of them, got {x0!r}.")
    limit = max_norm * max(1.0, float(np.linalg.norm(x)))
    velocity = np.zeros_like(x)
    points = [x.copy()]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            gradient = np.asarray(grad_fn(x[0] if scalar else x.copy()), dtype=np.float64)
            velocity = momentum * velocity + np.reshape(gradient, x.shape)
            x = x - lr * velocity
            points.append(x.copy())
            if not np.isfinite(x).all() or np.linalg.norm(x) > limit:
                break
    trajectory = np.array(points)
    return trajectory[:, 0] if scalar else trajectory


def steps_to_tolerance(trajectory, minimum, tol):
    """The first step ``t`` with ``‖x_t − minimum‖ ≤ tol``, or ``None`` if none came that close."""
    points = checks.array("trajectory", trajectory, finite=False)
    target = checks.array("minimum", minimum)
    checks.finite_number("tol", tol, minimum=0)
    if points.ndim not in (1, 2) or len(points) == 0 or (
            target.shape != (points.shape[1:] if points.ndim == 2 else ())):
        raise ValueError(f"trajectory (shape {points.shape}) and minimum (shape {target.shape}) "
                         "do not fit: give points of shape (k,) and a number, or (k, d) and d "
                         "numbers.")
    distance = np.abs(points - target) if points.ndim == 1 else np.linalg.norm(
        points - target, axis=1)
    close = np.flatnonzero(distance <= tol)
    return int(close[0]) if close.size else None


# --- two test functions in 2-D ---------------------------------------------------------

#: The quadratic bowl f(x, y) = ½(x² + κ·y²): curvature 1 along x, κ along y.
QUADRATIC_CONDITION = 100.0


def _coordinates(x, y):
    """x and y as float arrays (numbers or grids; inf and NaN pass, as in a diverged run)."""
    return checks.array("x", x, finite=False), checks.array("y", y, finite=False)


def _point(point):
    """``point`` as two finite numbers (x, y)."""
    point = checks.array("point", point)
    if point.shape != (2,):
        raise ValueError(f"point must be two numbers (x, y), got shape {point.shape}.")
    return point[0], point[1]


def quadratic(x, y, condition=QUADRATIC_CONDITION):
    """The ill-conditioned bowl ``½(x² + condition·y²)``; x and y may be arrays."""
    x, y = _coordinates(x, y)
    condition = checks.positive_number("condition", condition)
    return 0.5 * (x ** 2 + condition * y ** 2)


def quadratic_grad(point, condition=QUADRATIC_CONDITION):
    """The gradient ``(x, condition·y)`` of ``quadratic`` at ``point = (x, y)``."""
    x, y = _point(point)
    condition = checks.positive_number("condition", condition)
    return np.array([x, condition * y], dtype=np.float64)


def _check_ab(a, b):
    return checks.finite_number("a", a), checks.positive_number("b", b)


def rosenbrock(x, y, a=1.0, b=100.0):
    """Rosenbrock's banana ``(a − x)² + b·(y − x²)²``, minimum 0 at ``(a, a²)``."""
    x, y = _coordinates(x, y)
    a, b = _check_ab(a, b)
    return (a - x) ** 2 + b * (y - x**2) ** 2


def rosenbrock_grad(point, a=1.0, b=100.0):
    """The gradient of ``rosenbrock`` at ``point = (x, y)``."""
    x, y = _point(point)
    a, b = _check_ab(a, b)
    return np.array([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)],
                    dtype=np.float64)


def rosenbrock_hessian(point, a=1.0, b=100.0):
    """The matrix of second derivatives of ``rosenbrock`` at ``point = (x, y)``.

    Its largest eigenvalue is the curvature across the valley: near ``point``,
    gradient descent is stable only for ``lr < 2 / (that eigenvalue)``.
    """
    x, y = _point(point)
    a, b = _check_ab(a, b)
    return np.array([[2 - 4 * b * (y - x**2) + 8 * b * x**2, -4 * b * x],
                     [-4 * b * x, 2 * b]], dtype=np.float64)


@dataclass(frozen=True)
class TestFunction:
    """A 2-D function to minimise, with what it takes to run and draw gradient descent on it.

    ``max_curvature`` is the largest eigenvalue of the Hessian at the minimum:
    near the minimum, gradient descent is stable only for ``lr < 2 / max_curvature``.
    """

    __test__ = False  # not a pytest test class, despite its name

    name: str
    f: Callable
    grad: Callable
    minimum: tuple
    max_curvature: float
    xlim: tuple
    ylim: tuple


FUNCTIONS = {
    "quadratic": TestFunction("quadratic", quadratic, quadratic_grad, (0.0, 0.0),
                              QUADRATIC_CONDITION, (-4.5, 4.5), (-1.5, 1.5)),
    # The Hessian at (1, 1) is [[802, -400], [-400, 200]]; its largest eigenvalue:
    "rosenbrock": TestFunction("rosenbrock", rosenbrock, rosenbrock_grad, (1.0, 1.0),
                               float(np.linalg.eigvalsh(rosenbrock_hessian((1.0, 1.0)))[-1]),
                               (-2.0, 2.0), (-1.0, 3.0)),
}


def get_function(name) -> TestFunction:
    """The test function called ``name``; an unknown name raises ``ValueError`` listing them."""
    if not isinstance(name, str) or name not in FUNCTIONS:
        raise ValueError(f"Unknown function {name!r}; accepted names: {sorted(FUNCTIONS)}.")
    return FUNCTIONS[name]


# --- linear regression -----------------------------------------------------------------


def _check_regression(X, y, w, b):
    """X (n, d), y (n,), w (d,) as float arrays and b as a float, or a ValueError."""
    X = checks.array("X", X, ndim=2)
    y = checks.array("y", y)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},), one target per row of X, got "
                         f"{y.shape}" + (" (use y.ravel())." if y.size == len(X) else "."))
    if w is not None:
        w = checks.array("w", w)
        if w.shape != (X.shape[1],):
            raise ValueError(f"w must have shape ({X.shape[1]},), one weight per column of X, "
                             f"got {w.shape}.")
        b = checks.finite_number("b", b)
    return X, y, w, b


def linear_mse(X, y, w, b):
    """Mean squared error of the linear model ``X @ w + b`` against targets ``y``.

    ``X`` has shape ``(n, d)``, ``y`` shape ``(n,)``, ``w`` shape ``(d,)``, ``b`` is a number.
    A target of shape ``(n, 1)`` is refused (it would broadcast to an (n, n) residual).
    """
    X, y, w, b = _check_regression(X, y, w, b)
    residual = X @ w + b - y
    return float(np.mean(residual**2))


def mse_gradient(X, y, w, b):
    """The gradient ``(dw, db)`` of ``linear_mse`` with respect to ``w`` and ``b``.

    With the residual ``r = X @ w + b − y``: ``dw = (2/n) Xᵀ r`` and ``db = (2/n) Σ r``.
    """
    X, y, w, b = _check_regression(X, y, w, b)
    residual = X @ w + b - y
    n = len(y)
    return 2.0 / n * (X.T @ residual), 2.0 / n * float(np.sum(residual))


def minibatch_sgd(X, y, lr, epochs, batch_size, rng):
    """Train ``X @ w + b`` by minibatch SGD from ``w = 0, b = 0``; return ``(w, b, record)``.

    Every epoch shuffles the examples with ``rng.permutation`` and takes one
    step ``(w, b) ← (w, b) − lr · ∇`` per minibatch of ``batch_size`` examples,
    with the gradient of that minibatch alone (the last minibatch is smaller
    when ``batch_size`` does not divide n). ``record`` holds one row per step:
    ``"batch_loss"``, the loss of the minibatch before its step (what a
    training log shows); ``"full_loss"``, the loss on all data after the step;
    ``"params"``, the parameters ``(w_1, …, w_d, b)`` after the step.
    """
    X, y, _, _ = _check_regression(X, y, None, None)
    checks.positive_number("lr", lr)
    epochs = _check_steps(epochs, "epochs")
    batch_size = checks.whole_number("batch_size", batch_size)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), "
                         f"got {rng!r}.")
    w, b = np.zeros(X.shape[1]), 0.0
    record = {"batch_loss": [], "full_loss": [], "params": []}
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            batch = order[start:start + batch_size]
            record["batch_loss"].append(linear_mse(X[batch], y[batch], w, b))
            dw, db = mse_gradient(X[batch], y[batch], w, b)
            w, b = w - lr * dw, b - lr * db
            record["full_loss"].append(linear_mse(X, y, w, b))
            record["params"].append(np.append(w, b))
    return w, b, {key: np.array(value) for key, value in record.items()}
