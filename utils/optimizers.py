"""Optimizers from scratch: one pure update rule per optimizer, and the 2-D playground.

One home for every optimizer of the course (notebooks 01 and 07). Each
**update rule** is a pure function of the maths' names::

    new_param, new_state = adam_rule(param, grad, state, lr=1e-3)

It takes the parameter, its gradient and the optimizer's state for that
parameter (a dict, empty at the first step), returns the new parameter and the
new state, and changes none of its inputs. The rules use only ``+ − × ÷`` and
``** 0.5``, so the same function runs on NumPy arrays (the 2-D explorer of
notebook 01) and on torch tensors (inside ``RuleOptimizer``):

- ``sgd_rule``, ``momentum_rule`` (heavy ball in PyTorch's convention, optionally
  Nesterov), ``textbook_momentum_rule`` (the learning rate inside the velocity),
  ``adagrad_rule``, ``rmsprop_rule``, ``adam_rule`` and ``adamw_rule`` (decoupled
  weight decay); ``RULES`` maps their names to them, and ``torch_twin(name,
  params, **hyper)`` builds the ``torch.optim`` optimizer each one matches step
  for step;
- ``RuleOptimizer(params, rule, **hyper)``: a ``torch.optim.Optimizer`` whose
  ``step`` calls a rule for every parameter. It is the pattern for an
  optimizer written from scratch: write a rule, wrap it, and ``train`` and
  ``GradFlow(model, optimizer)`` (update ratios) work with it unchanged;
- ``optimize(grad_fn, x0, rule, steps, **hyper)`` and ``gradient_descent(grad_fn,
  x0, lr, steps, momentum=0.0)``: the path of a rule on a small function,
  stopped early if it diverges; ``steps_to_tolerance(trajectory, minimum, tol)``;
- two 2-D test functions, an ill-conditioned quadratic bowl and Rosenbrock's
  banana valley, each with its gradient, minimum and a box to draw it in
  (``FUNCTIONS`` maps their names to ``TestFunction`` records), and
  Rosenbrock's Hessian, whose curvature changes from place to place;
- ``linear_mse`` and ``mse_gradient``: the loss of linear regression and its
  gradient, written out by hand; ``minibatch_sgd``: linear regression trained
  by minibatch SGD, with a record of every step for plotting.

Invalid arguments raise ``ValueError`` naming the argument (``utils.checks``).
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from utils import checks

#: A run whose iterate grows to this many times the size of its start (or, from a
#: start inside the unit ball, beyond this norm) is called diverged and stopped.
DIVERGENCE_NORM = 1e6
#: The most steps (and epochs) a run accepts: 10⁵ steps of a 2-D run take a few
#: seconds, while a slip such as ``steps=10**9`` would run for hours.
MAX_STEPS = 100_000


def _check_steps(steps: Any, name: str = "steps") -> int:
    return checks.whole_number(name, steps, maximum=MAX_STEPS)


def _check_momentum(momentum: Any) -> None:
    if (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)
            or not 0 <= momentum < 1):
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}.")


# --- update rules: pure functions of (param, grad, state, hyper-parameters) ----------------
# Each returns (new_param, new_state) and leaves its inputs alone. The formulas follow
# torch.optim's, operation for operation, so that a wrapped rule matches it step for step.


def _with_weight_decay(grad: Any, param: Any, weight_decay: float) -> Any:
    """The gradient of the loss plus ½·weight_decay·‖param‖² (L2 regularisation)."""
    return grad + weight_decay * param if weight_decay else grad


def sgd_rule(param: Any, grad: Any, state: dict, lr: float = 0.01,
             weight_decay: float = 0.0) -> tuple[Any, dict]:
    """Plain gradient descent: ``param ← param − lr · grad``.

    ``param`` and ``grad`` are NumPy arrays or torch tensors of one shape;
    ``state`` is unused (SGD remembers nothing) and returned as it came.
    ``weight_decay`` ≥ 0 adds ``weight_decay · param`` to the gradient.
    """
    grad = _with_weight_decay(grad, param, weight_decay)
    return param - lr * grad, state


def momentum_rule(param: Any, grad: Any, state: dict, lr: float = 0.01, momentum: float = 0.9,
                  nesterov: bool = False, weight_decay: float = 0.0) -> tuple[Any, dict]:
    """Heavy-ball momentum: ``v ← momentum · v + grad``, ``param ← param − lr · v``.

    The velocity ``v`` (``state["velocity"]``) starts at zero, so the first
    step is a plain gradient step, as in ``torch.optim.SGD(..., momentum=β)``.
    With ``nesterov=True`` the step looks ahead: ``param ← param − lr · (grad
    + momentum · v)``. ``momentum`` is in [0, 1); 0 is plain gradient descent.
    """
    grad = _with_weight_decay(grad, param, weight_decay)
    velocity = state.get("velocity")
    velocity = grad if velocity is None else momentum * velocity + grad
    step = grad + momentum * velocity if nesterov else velocity
    return param - lr * step, {**state, "velocity": velocity}


def rmsprop_rule(param: Any, grad: Any, state: dict, lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> tuple[Any, dict]:
    """RMSProp: divide the step by a running root-mean-square of the gradient.

    ``s ← alpha · s + (1 − alpha) · grad²`` (``state["square_avg"]``, from 0),
    ``param ← param − lr · grad / (√s + eps)``: every coordinate takes a step
    of about ``lr``, whatever the size of its gradient. ``alpha`` in [0, 1),
    ``eps`` > 0 (outside the square root, as in ``torch.optim.RMSprop``).
    """
    grad = _with_weight_decay(grad, param, weight_decay)
    square_avg = alpha * state.get("square_avg", 0 * grad) + (1 - alpha) * grad * grad
    step = grad / (square_avg ** 0.5 + eps)
    return param - lr * step, {**state, "square_avg": square_avg}


def adam_rule(param: Any, grad: Any, state: dict, lr: float = 0.001, beta1: float = 0.9,
              beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0) -> tuple[Any, dict]:
    """Adam (Kingma & Ba 2014): momentum and RMSProp with bias-corrected averages.

    ``m ← beta1 · m + (1 − beta1) · grad`` and ``v ← beta2 · v + (1 − beta2) · grad²``
    (both from 0, in ``state``, with the step count ``t``); then
    ``param ← param − lr · m̂ / (√v̂ + eps)`` with ``m̂ = m / (1 − beta1^t)`` and
    ``v̂ = v / (1 − beta2^t)``. ``beta1``, ``beta2`` in [0, 1); ``eps`` > 0.
    """
    grad = _with_weight_decay(grad, param, weight_decay)
    t = state.get("t", 0) + 1
    m = beta1 * state.get("m", 0 * grad) + (1 - beta1) * grad
    v = beta2 * state.get("v", 0 * grad) + (1 - beta2) * grad * grad
    m_hat_scale = lr / (1 - beta1 ** t)
    denominator = v ** 0.5 / (1 - beta2 ** t) ** 0.5 + eps
    return param - m_hat_scale * (m / denominator), {**state, "t": t, "m": m, "v": v}


def textbook_momentum_rule(param: Any, grad: Any, state: dict, lr: float = 0.01,
                           momentum: float = 0.9) -> tuple[Any, dict]:
    """Momentum with the learning rate inside the velocity: ``v ← momentum·v + lr·grad``,
    ``param ← param − v`` (the convention of many textbooks and of Sutskever et al. 2013).

    With a constant ``lr`` its velocity is exactly ``lr`` times the velocity of
    ``momentum_rule`` (PyTorch's ``v ← momentum·v + grad``, ``param ← param − lr·v``),
    so the two take the same steps. They differ when ``lr`` changes during
    training: here the velocity keeps the old rate's steps and the new rate only
    scales new gradients, while PyTorch's convention rescales the whole velocity
    at once. ``state["velocity"]`` starts at zero.
    """
    velocity = state.get("velocity")
    velocity = lr * grad if velocity is None else momentum * velocity + lr * grad
    return param - velocity, {**state, "velocity": velocity}


def adagrad_rule(param: Any, grad: Any, state: dict, lr: float = 0.01, eps: float = 1e-10,
                 weight_decay: float = 0.0) -> tuple[Any, dict]:
    """AdaGrad (Duchi et al. 2011): divide by the root of the *sum* of all squared gradients.

    ``s ← s + grad²`` (``state["sum"]``, from 0; ``state["t"]`` counts the steps),
    ``param ← param − lr · grad / (√s + eps)``. The sum only grows, so every
    coordinate's step shrinks like 1/√t: fine for a convex problem, too
    cautious for a long non-convex run (RMSProp replaces the sum by a running
    average). ``eps`` > 0 is outside the root, as in ``torch.optim.Adagrad``.
    """
    grad = _with_weight_decay(grad, param, weight_decay)
    square_sum = state.get("sum", 0 * grad) + grad * grad
    step = grad / (square_sum ** 0.5 + eps)
    return param - lr * step, {**state, "t": state.get("t", 0) + 1, "sum": square_sum}


def adamw_rule(param: Any, grad: Any, state: dict, lr: float = 0.001, beta1: float = 0.9,
               beta2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.01) -> tuple[Any, dict]:
    """AdamW (Loshchilov & Hutter 2019): Adam with *decoupled* weight decay.

    First ``param ← param · (1 − lr · weight_decay)``, then an ``adam_rule`` step
    on the loss gradient alone. Adam's ``weight_decay`` instead adds
    ``weight_decay · param`` to the gradient, where the division by √v̂ then
    shrinks it for parameters with large gradients: the decay is no longer
    the same for every weight. ``weight_decay`` ≥ 0 (default 0.01, as in
    ``torch.optim.AdamW``).
    """
    decayed = param * (1 - lr * weight_decay) if weight_decay else param
    return adam_rule(decayed, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


#: The update rules by name.
RULES: dict[str, Callable[..., tuple[Any, dict]]] = {
    "sgd": sgd_rule,
    "momentum": momentum_rule,
    "textbook_momentum": textbook_momentum_rule,
    "adagrad": adagrad_rule,
    "rmsprop": rmsprop_rule,
    "adam": adam_rule,
    "adamw": adamw_rule,
}

_FRACTIONS = ("momentum", "alpha", "beta1", "beta2")  # hyper-parameters in [0, 1)


def torch_twin(name: str, params: Iterable[torch.Tensor] | Iterable[dict],
               **hyper: Any) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer that rule ``name`` matches, with the same settings.

    ``torch_twin("adam", model.parameters(), lr=0.01, beta1=0.8)`` is
    ``torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.999))``: the
    rule's hyper-parameters (defaults filled in, ``hyper`` checked as by
    ``RuleOptimizer``) translated to torch's names. ``"textbook_momentum"`` has
    no twin of its own: it is ``torch.optim.SGD`` with momentum (the same steps
    while ``lr`` is constant).
    """
    checks.one_of("name", name, tuple(RULES))
    h = rule_hyperparameters(RULES[name], hyper)
    if name == "sgd":
        return torch.optim.SGD(params, lr=h["lr"], weight_decay=h["weight_decay"])
    if name in ("momentum", "textbook_momentum"):
        return torch.optim.SGD(params, lr=h["lr"], momentum=h["momentum"],
                               nesterov=h.get("nesterov", False),
                               weight_decay=h.get("weight_decay", 0.0))
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=h["lr"], eps=h["eps"],
                                   weight_decay=h["weight_decay"])
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=h["lr"], alpha=h["alpha"], eps=h["eps"],
                                   weight_decay=h["weight_decay"])
    kind = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return kind(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                weight_decay=h["weight_decay"])


def get_rule(rule: str | Callable) -> Callable[..., tuple[Any, dict]]:
    """``rule`` itself if it is a function, else the rule of that name in ``RULES``."""
    if isinstance(rule, str) and rule in RULES:
        return RULES[rule]
    if callable(rule) and not isinstance(rule, str):
        return rule
    raise ValueError(f"rule must be an update rule (a function of (param, grad, state, ...)) or "
                     f"one of the names {sorted(RULES)}, got {checks.show(rule)}.")


def _check_hyperparameter(name: str, value: Any) -> Any:
    """``value`` checked by what ``name`` means (a rate, a fraction in [0, 1), ...)."""
    if name == "lr":
        return checks.positive_number("lr", value)
    if name in _FRACTIONS:
        value = checks.finite_number(name, value, minimum=0)
        if value >= 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
        return value
    if name == "eps":
        return checks.positive_number("eps", value)
    if name == "weight_decay":
        return checks.finite_number("weight_decay", value, minimum=0)
    if name == "nesterov":
        return checks.boolean("nesterov", value)
    return value


def rule_hyperparameters(rule: Callable, hyper: dict[str, Any]) -> dict[str, Any]:
    """Every hyper-parameter of ``rule``: its defaults updated with ``hyper``, each checked.

    A rule's hyper-parameters are its keyword arguments after ``(param, grad,
    state)``. An unknown name, or a missing one without a default, raises
    ``ValueError`` listing the accepted names.
    """
    checks.function("rule", rule)
    parameters = list(inspect.signature(rule).parameters.values())
    if len(parameters) < 3:
        raise ValueError(f"rule must take (param, grad, state, **hyper-parameters), got "
                         f"{getattr(rule, '__name__', rule)} with {len(parameters)} arguments.")
    accepted = {p.name: p.default for p in parameters[3:]}
    unknown = sorted(set(hyper) - set(accepted))
    name = getattr(rule, "__name__", "the rule")
    if unknown:
        raise ValueError(f"Unknown hyper-parameter {unknown[0]!r} for {name}; accepted: "
                         f"{', '.join(accepted) or 'none'}.")
    values = {key: hyper.get(key, default) for key, default in accepted.items()}
    missing = [key for key, value in values.items() if value is inspect.Parameter.empty]
    if missing:
        raise ValueError(f"{name} needs a value for {missing[0]!r}, e.g. {missing[0]}=0.1.")
    return {key: _check_hyperparameter(key, value) for key, value in values.items()}


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose ``step`` applies a pure update rule to every parameter.

    ``RuleOptimizer(model.parameters(), adam_rule, lr=1e-3)`` behaves like
    ``torch.optim.Adam(model.parameters(), lr=1e-3)``; a rule written from
    scratch (a function of ``(param, grad, state, **hyper)`` returning ``(new_param,
    new_state)``) is wrapped the same way. ``rule`` is a function or a name of
    ``RULES``; its hyper-parameters (``lr`` and the rest) become the defaults of
    every parameter group, so ``param_groups``, learning-rate schedulers,
    ``utils.train.train`` and ``GradFlow(model, optimizer)`` work as with torch's own.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], rule: str | Callable,
                 **hyper: Any) -> None:
        rule = get_rule(rule)
        defaults = rule_hyperparameters(rule, hyper)
        if torch.is_tensor(params) or isinstance(params, (str, bytes)) or not isinstance(
                params, Iterable):
            raise ValueError(f"params must be the parameters to train, e.g. model.parameters(), "
                             f"got {checks.show(params)}.")
        try:
            super().__init__(params, defaults)
        except TypeError as error:
            raise ValueError(f"params must be the parameters to train, e.g. "
                             f"model.parameters(): {error}") from None
        self.rule = rule

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Update every parameter that has a gradient; return ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            hyper = {name: group[name] for name in self.defaults}
            for param in group["params"]:
                if param.grad is None:
                    continue
                new_param, new_state = self.rule(param, param.grad, dict(self.state[param]),
                                                 **hyper)
                param.copy_(new_param)
                self.state[param] = new_state
        return loss

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in self.defaults.items())
        return f"RuleOptimizer({self.rule.__name__}, {settings})"


def make_optimizer(name: str, params: Iterable[torch.Tensor] | Iterable[dict],
                   **hyper: Any) -> RuleOptimizer:
    """The from-scratch optimizer called ``name`` (a key of ``RULES``) over ``params``."""
    checks.one_of("name", name, tuple(RULES))
    return RuleOptimizer(params, RULES[name], **hyper)


# --- the path of a rule on a small function (NumPy) ----------------------------------------


def _start_point(x0: Any) -> np.ndarray:
    """``x0`` as a float64 vector (a copy), or a ValueError."""
    try:
        x = np.atleast_1d(np.asarray(x0, dtype=np.float64)).copy()
    except (TypeError, ValueError):
        x = None
    if x is None or x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"x0 must be a finite number or a 1-D vector of them, got {x0!r}.")
    return x


def _check_max_norm(max_norm: Any) -> float:
    if not (isinstance(max_norm, numbers.Real) and not isinstance(max_norm, bool)
            and max_norm > 0):
        raise ValueError(f"max_norm must be a positive number (math.inf: never stop), got "
                         f"{max_norm!r}.")
    return float(max_norm)


def optimize(grad_fn: Callable, x0: Any, rule: str | Callable, steps: int,
             max_norm: float = DIVERGENCE_NORM, **hyper: Any) -> np.ndarray:
    """Run ``steps`` steps of an update rule from ``x0``; return the visited points.

    ``rule`` is a name of ``RULES`` or a rule function; ``hyper`` are its
    hyper-parameters (``lr=...``). The same rule that ``RuleOptimizer`` applies
    to a network's weights here moves a point on a small function whose
    gradient is ``grad_fn(x)``.

    Returns a float64 array of the points ``x_0, x_1, …``: of shape ``(k + 1,)``
    when ``x0`` is a number, ``(k + 1, d)`` when it is a vector of ``d`` numbers.
    Normally ``k = steps``; a run that diverges (a point that is not finite or
    whose norm exceeds ``max_norm`` × max(1, ‖x0‖): divergence is judged
    relative to the start, so a converging run from far away is not stopped)
    stops there, so ``k < steps`` and the last row is the first point past the
    limit. ``steps`` is at most ``MAX_STEPS``.
    """
    checks.function("grad_fn", grad_fn)
    rule = get_rule(rule)
    hyper = rule_hyperparameters(rule, hyper)
    steps = _check_steps(steps)
    max_norm = _check_max_norm(max_norm)
    scalar = np.ndim(x0) == 0
    x = _start_point(x0)
    limit = max_norm * max(1.0, float(np.linalg.norm(x)))
    state: dict = {}
    points = [x.copy()]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(steps):
            gradient = np.asarray(grad_fn(x[0] if scalar else x.copy()), dtype=np.float64)
            x, state = rule(x, np.reshape(gradient, x.shape), state, **hyper)
            points.append(np.array(x, dtype=np.float64))
            if not np.isfinite(x).all() or np.linalg.norm(x) > limit:
                break
    trajectory = np.array(points)
    return trajectory[:, 0] if scalar else trajectory


def gradient_descent(grad_fn: Callable, x0: Any, lr: float, steps: int, momentum: float = 0.0,
                     max_norm: float = DIVERGENCE_NORM) -> np.ndarray:
    """Run ``steps`` steps of gradient descent from ``x0``; return the visited points.

    The update is ``x ← x − lr · grad_fn(x)`` (``sgd_rule``). With ``momentum``
    β > 0 it is Polyak's heavy ball (``momentum_rule``): ``v ← β·v + grad_fn(x)``,
    ``x ← x − lr · v``. ``momentum`` is in [0, 1). What comes back, and when a
    run stops early, is as in ``optimize``.
    """
    checks.function("grad_fn", grad_fn)
    checks.positive_number("lr", lr)
    _check_steps(steps)
    _check_momentum(momentum)
    if momentum:
        return optimize(grad_fn, x0, momentum_rule, steps, max_norm, lr=lr, momentum=momentum)
    return optimize(grad_fn, x0, sgd_rule, steps, max_norm, lr=lr)


def steps_to_tolerance(trajectory: Any, minimum: Any, tol: float) -> int | None:
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


def _coordinates(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """x and y as float arrays (numbers or grids; inf and NaN pass, as in a diverged run)."""
    return checks.array("x", x, finite=False), checks.array("y", y, finite=False)


def _point(point: Any) -> tuple[float, float]:
    """``point`` as two finite numbers (x, y)."""
    point = checks.array("point", point)
    if point.shape != (2,):
        raise ValueError(f"point must be two numbers (x, y), got shape {point.shape}.")
    return point[0], point[1]


def quadratic(x: Any, y: Any, condition: float = QUADRATIC_CONDITION) -> np.ndarray:
    """The ill-conditioned bowl ``½(x² + condition·y²)``; x and y may be arrays."""
    x, y = _coordinates(x, y)
    condition = checks.positive_number("condition", condition)
    return 0.5 * (x ** 2 + condition * y ** 2)


def quadratic_grad(point: Any,
                   condition: float = QUADRATIC_CONDITION) -> np.ndarray:
    """The gradient ``(x, condition·y)`` of ``quadratic`` at ``point = (x, y)``."""
    x, y = _point(point)
    condition = checks.positive_number("condition", condition)
    return np.array([x, condition * y], dtype=np.float64)


def _check_ab(a: Any, b: Any) -> tuple[float, float]:
    return checks.finite_number("a", a), checks.positive_number("b", b)


def rosenbrock(x: Any, y: Any, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """Rosenbrock's banana ``(a − x)² + b·(y − x²)²``, minimum 0 at ``(a, a²)``."""
    x, y = _coordinates(x, y)
    a, b = _check_ab(a, b)
    return (a - x) ** 2 + b * (y - x**2) ** 2


def rosenbrock_grad(point: Any, a: float = 1.0, b: float = 100.0) -> np.ndarray:
    """The gradient of ``rosenbrock`` at ``point = (x, y)``."""
    x, y = _point(point)
    a, b = _check_ab(a, b)
    return np.array([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)],
                    dtype=np.float64)


def rosenbrock_hessian(point: Any, a: float = 1.0, b: float = 100.0) -> np.ndarray:
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
    f: Callable[..., np.ndarray]
    grad: Callable[..., np.ndarray]
    minimum: tuple[float, float]
    max_curvature: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]


FUNCTIONS = {
    "quadratic": TestFunction("quadratic", quadratic, quadratic_grad, (0.0, 0.0),
                              QUADRATIC_CONDITION, (-4.5, 4.5), (-1.5, 1.5)),
    # The Hessian at (1, 1) is [[802, -400], [-400, 200]]; its largest eigenvalue:
    "rosenbrock": TestFunction("rosenbrock", rosenbrock, rosenbrock_grad, (1.0, 1.0),
                               float(np.linalg.eigvalsh(rosenbrock_hessian((1.0, 1.0)))[-1]),
                               (-2.0, 2.0), (-1.0, 3.0)),
}


def get_function(name: str) -> TestFunction:
    """The test function called ``name``; an unknown name raises ``ValueError`` listing them."""
    if not isinstance(name, str) or name not in FUNCTIONS:
        raise ValueError(f"Unknown function {name!r}; accepted names: {sorted(FUNCTIONS)}.")
    return FUNCTIONS[name]


# --- linear regression -----------------------------------------------------------------


def _check_regression(X: Any, y: Any, w: Any, b: Any
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float | None]:
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


def linear_mse(X: Any, y: Any, w: Any, b: float) -> float:
    """Mean squared error of the linear model ``X @ w + b`` against targets ``y``.

    ``X`` has shape ``(n, d)``, ``y`` shape ``(n,)``, ``w`` shape ``(d,)``, ``b`` is a number.
    A target of shape ``(n, 1)`` is refused (it would broadcast to an (n, n) residual).
    """
    X, y, w, b = _check_regression(X, y, w, b)
    residual = X @ w + b - y
    return float(np.mean(residual**2))


def mse_gradient(X: Any, y: Any, w: Any, b: float) -> tuple[np.ndarray, float]:
    """The gradient ``(dw, db)`` of ``linear_mse`` with respect to ``w`` and ``b``.

    With the residual ``r = X @ w + b − y``: ``dw = (2/n) Xᵀ r`` and ``db = (2/n) Σ r``.
    """
    X, y, w, b = _check_regression(X, y, w, b)
    residual = X @ w + b - y
    n = len(y)
    return 2.0 / n * (X.T @ residual), 2.0 / n * float(np.sum(residual))


def minibatch_sgd(X: Any, y: Any, lr: float, epochs: int, batch_size: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
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
