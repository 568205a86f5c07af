"""Explorers: each a pure function that computes and draws, wrapped by an ipywidgets UI.

The pure function does the work and can be called (and tested) without any
widget; the UI only turns slider values into its arguments and shows its
figure. Only widget APIs common to ipywidgets 7.7 (Colab) and 8 are used.

- ``gradient_descent_explorer(lr, x0, y0, steps, function, momentum, ax, rule)``:
  run gradient descent (or, with ``rule=``, any update rule of
  ``utils.optimizers``: the same functions that ``RuleOptimizer`` applies to a
  network) on a 2-D test function and draw the path over its contours;
  ``gradient_descent_widget()`` is its UI (notebook 01).
- ``optimizer_race(function, rules, lr_scale, beta, x0, y0, steps, tol, ax)``:
  several update rules from one start on one test function, each at its own
  tuned learning rate (``RACE_LRS``) times ``lr_scale``, drawn over the
  contours, with who gets within ``tol`` first; ``optimizer_race_widget()``
  is its UI (notebook 07).
- ``gradient_norm_explorer(depth, activation, init, width, seed, ax)``: the
  per-layer gradient norms of a fresh MLP on the digits, seeded by the course
  seed unless ``seed`` is given; ``init`` takes the init names of
  ``utils.nets.make_mlp`` (the menu shows labels); ``gradient_norm_widget()``
  is its UI (notebook 03).

``explorer_digits(precision)`` is the batch of 512 training digits that the explorers
measure on.

Invalid arguments raise ``ValueError`` naming the argument (``utils.checks``).

The explorers of 08 onwards each live in a submodule named after their topic
(``utils.widgets.residual``, ``utils.widgets.recurrent``), with the same shape:
a pure function that computes and draws, and a ``…_widget()`` UI around it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from utils import checks
from utils.initializers import INIT_LABELS
from utils.optimizers import RULES, _check_momentum, _check_steps, get_function, optimize
from utils.optimizers import gradient_descent as _gradient_descent
from utils.optimizers import steps_to_tolerance as _steps_to_tolerance

#: A run is called diverged when its loss ends this many times above where it started
#: (or not finite), or when gradient descent stopped it early.
DIVERGENCE_GROWTH = 10.0

#: Colours of the course style (Okabe–Ito): the path and the minimum's marker.
PATH_COLOUR = "#D55E00"
MINIMUM_COLOUR = "#009E73"


@dataclass
class ExplorerResult:
    """What one run of the gradient-descent explorer computed.

    ``trajectory`` holds the visited points, shape ``(k + 1, 2)``; ``k`` is
    ``steps`` unless the run diverged and was stopped early. ``losses`` holds
    the function's value at each point. ``steps_to_tolerance`` is the first
    step within ``tol`` of the minimum, or ``None``.
    """

    function: str
    lr: float
    momentum: float
    steps: int
    tol: float
    trajectory: np.ndarray
    losses: np.ndarray
    diverged: bool
    steps_to_tolerance: int | None
    minimum: tuple[float, float]
    rule: str | None = None  # None: gradient descent (with momentum if momentum > 0)

    @property
    def final_point(self) -> np.ndarray:
        """The last point of the path."""
        return self.trajectory[-1]

    @property
    def final_loss(self) -> float:
        """The function's value at the last point."""
        return float(self.losses[-1])

    @property
    def distance_to_minimum(self) -> float:
        """How far the last point is from the minimum."""
        return float(np.linalg.norm(self.final_point - np.asarray(self.minimum)))

    def finding(self) -> str:
        """One line that says how the run went, e.g. for a figure's title."""
        if self.diverged and len(self.trajectory) - 1 < self.steps:
            return f"diverged: stopped after {len(self.trajectory) - 1} steps"
        if self.diverged:
            return (f"diverged: the loss grew from {self.losses[0]:.3g} to {self.final_loss:.3g} "
                    f"in {self.steps} steps")
        if self.steps_to_tolerance is not None:
            return f"within {self.tol:g} of the minimum after {self.steps_to_tolerance} steps"
        return (f"after {self.steps} steps still {self.distance_to_minimum:.3g} "
                "from the minimum")

    def __repr__(self) -> str:
        setting = f"lr={self.lr:.4g}" + (f", momentum={self.momentum:g}" if self.momentum else "")
        if self.rule is not None:
            setting = f"{self.rule}, {setting}"
        return (f"ExplorerResult({self.function}, {setting}: {self.finding()}; "
                f"final loss {self.final_loss:.4g})")


def _diverged(trajectory: np.ndarray, losses: np.ndarray, steps: int) -> bool:
    """Stopped early, or a loss that ended non-finite or ``DIVERGENCE_GROWTH`` × above its start.

    Judged relative to the start, not by absolute size: a run from far away
    (x0 = 1e7) that converges is not called diverged.
    """
    start, end = losses[0], losses[-1]
    return (len(trajectory) < steps + 1 or not np.isfinite(end)
            or end > DIVERGENCE_GROWTH * start + 1e-12)


def _check_axes(ax: Any) -> None:
    checks.axes("ax", ax, optional=True)


def _view_box(function: Any, start: tuple[float, float]
              ) -> tuple[tuple[float, float], tuple[float, float]]:
    """The function's drawing box, widened to show the starting point with a margin."""
    (x_low, x_high), (y_low, y_high) = function.xlim, function.ylim
    x_margin, y_margin = 0.05 * (x_high - x_low), 0.05 * (y_high - y_low)
    return ((min(x_low, start[0] - x_margin), max(x_high, start[0] + x_margin)),
            (min(y_low, start[1] - y_margin), max(y_high, start[1] + y_margin)))


def draw_contours(ax: Any, f: Callable, xlim: tuple[float, float], ylim: tuple[float, float],
                  minimum: tuple[float, float] | None = None, levels: int = 14,
                  decades: float = 4) -> None:
    """Draw contour lines of ``f(x, y)`` over a box, log-spaced, and mark ``minimum``.

    ``f`` must accept NumPy arrays (it is evaluated on a grid). The levels
    span ``decades`` powers of ten below the largest value in the box, so the
    valley floor shows as well as the steep walls.
    """
    import matplotlib.pyplot as plt

    checks.axes("ax", ax)
    checks.function("f", f)
    xlim, ylim = checks.interval("xlim", xlim), checks.interval("ylim", ylim)
    if minimum is not None and checks.array("minimum", minimum).shape != (2,):
        raise ValueError(f"minimum must be a point (x, y) or None, got {minimum!r}.")
    levels = checks.whole_number("levels", levels, minimum=2, maximum=1000)
    decades = checks.positive_number("decades", decades, maximum=300)
    grid_x, grid_y = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300))
    values = f(grid_x, grid_y)
    top = float(np.max(values))
    level_values = np.logspace(math.log10(top) - decades, math.log10(top), levels)
    greys = plt.get_cmap("Greys")(np.linspace(0.8, 0.35, levels))  # darker towards the minimum
    ax.contour(grid_x, grid_y, values, levels=level_values, colors=greys, linewidths=0.8)
    if minimum is not None:
        ax.plot(*minimum, marker="*", markersize=14, color=MINIMUM_COLOUR,
                markeredgecolor="black", linestyle="none", label="minimum", zorder=5)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def draw_path(ax: Any, trajectory: Any, label: str | None = None, color: str = PATH_COLOUR,
              markers: bool = True, linewidth: float = 1.2, alpha: float = 1.0,
              zorder: float = 3, start_label: str | None = "start") -> None:
    """Draw a gradient-descent path (its points joined in order) and mark its start.

    The start is a black dot, labelled ``start_label`` in the legend (``None``:
    not in the legend, e.g. when a second path shares the start). A larger
    ``zorder`` draws the path on top of others.
    """
    checks.axes("ax", ax)
    trajectory = checks.array("trajectory", trajectory, finite=False)
    if trajectory.ndim != 2 or trajectory.shape[1] != 2 or len(trajectory) == 0:
        raise ValueError(f"trajectory must be points of shape (k, 2), got {trajectory.shape}.")
    checks.text("label", label, optional=True)
    checks.text("start_label", start_label, optional=True)
    markers = checks.boolean("markers", markers)
    linewidth = checks.positive_number("linewidth", linewidth, maximum=100)
    alpha = checks.finite_number("alpha", alpha, minimum=0, maximum=1)
    zorder = checks.finite_number("zorder", zorder)
    style = {"marker": "o", "markersize": 2.5} if markers else {}
    ax.plot(trajectory[:, 0], trajectory[:, 1], color=color, linewidth=linewidth, label=label,
            alpha=alpha, zorder=zorder, **style)
    ax.plot(*trajectory[0], marker="o", markersize=8, color="black", linestyle="none",
            zorder=max(zorder, 4) + 1, label=start_label)


def gradient_descent_explorer(lr: float, x0: float, y0: float, steps: int,
                              function: str = "quadratic", momentum: float = 0.0,
                              tol: float = 1e-3, ax: Any = None,
                              rule: str | None = None) -> ExplorerResult:
    """Run gradient descent on a 2-D test function from ``(x0, y0)``; draw it on ``ax``.

    Parameters
    ----------
    lr : float
        The learning rate (finite, > 0).
    x0, y0 : float
        The starting point.
    steps : int
        How many steps to take (1 to ``utils.optimizers.MAX_STEPS``); a diverging run stops early.
    function : str
        ``"quadratic"`` (the bowl ½(x² + 100·y²)) or ``"rosenbrock"``.
    momentum : float
        Heavy-ball momentum β in [0, 1); 0 is plain gradient descent.
    tol : float
        A run has converged when it is within ``tol`` of the minimum.
    ax : matplotlib axes, optional
        Where to draw the contours and the path; ``None`` only computes.
    rule : str, optional
        Another optimizer: a name of ``utils.optimizers.RULES`` ("sgd",
        "momentum", "rmsprop", "adam"), run with ``lr`` (and ``momentum`` as β
        for "momentum") and its other hyper-parameters at their defaults: the
        same update rule that ``utils.optimizers.RuleOptimizer`` applies to a
        network. ``None`` (default): gradient descent with ``momentum``.

    Returns an ``ExplorerResult``; its ``diverged`` is judged by the loss
    relative to the start (see ``_diverged``). Invalid arguments raise ``ValueError``.
    """
    if not isinstance(function, str):
        raise ValueError(f"function must be a name such as 'quadratic', got {function!r}.")
    test_function = get_function(function)
    checks.finite_number("lr", lr)
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr!r}.")
    checks.finite_number("x0", x0)
    checks.finite_number("y0", y0)
    steps = _check_steps(steps)
    _check_momentum(momentum)
    checks.finite_number("tol", tol, minimum=0)
    _check_axes(ax)
    trajectory = _explorer_path(test_function.grad, np.array([x0, y0], dtype=np.float64), lr,
                                steps, momentum, rule)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.asarray(test_function.f(trajectory[:, 0], trajectory[:, 1]), dtype=np.float64)
    diverged = _diverged(trajectory, losses, steps)
    result = ExplorerResult(
        function=function, lr=float(lr), momentum=float(momentum), steps=int(steps),
        tol=float(tol), trajectory=trajectory, losses=losses,
        diverged=diverged,
        steps_to_tolerance=_steps_to_tolerance(trajectory, test_function.minimum, tol),
        minimum=test_function.minimum, rule=rule)
    if ax is not None:
        xlim, ylim = _view_box(test_function, (x0, y0))
        draw_contours(ax, test_function.f, xlim, ylim, minimum=test_function.minimum)
        label = "gradient descent" if not momentum else f"momentum β = {momentum:g}"
        draw_path(ax, trajectory, label=label if rule is None else rule,
                  markers=len(trajectory) <= 2000)
        setting = f"lr = {lr:.4g}" + (f", β = {momentum:g}" if momentum else "")
        setting = setting if rule is None else f"{rule}, {setting}"
        ax.set_title(f"{function}, {setting}:\n{result.finding()}")
        ax.legend(loc="lower right", fontsize=9)
    return result


def _explorer_path(grad: Callable, start: np.ndarray, lr: float, steps: int, momentum: float,
                   rule: str | None) -> np.ndarray:
    """The explorer's path: gradient descent (``rule=None``) or the update rule ``rule``."""
    if rule is None:
        return _gradient_descent(grad, start, lr, steps, momentum=momentum)
    checks.one_of("rule", rule, tuple(RULES))
    if momentum and rule not in ("momentum", "textbook_momentum"):
        raise ValueError(f"momentum is a setting of rule='momentum' or of plain gradient descent "
                         f"(rule=None), not of rule={rule!r}; leave momentum at 0.")
    hyper = {"momentum": momentum} if rule in ("momentum", "textbook_momentum") else {}
    return optimize(grad, start, rule, steps, lr=lr, **hyper)


#: Starting settings of the widget for each function.
WIDGET_DEFAULTS = {
    "quadratic": {"lr": 0.018, "x0": -4.0, "y0": 1.0, "steps": 500},
    "rosenbrock": {"lr": 0.001, "x0": -1.5, "y0": 2.0, "steps": 2000},
}

#: The most steps the widget's slider allows: enough for plain gradient descent to
#: reach Rosenbrock's minimum from the default start (about 17,700 steps at lr 0.001).
WIDGET_MAX_STEPS = 30_000


def gradient_descent_widget(function: str = "quadratic", momentum: float = 0.0) -> Any:
    """The explorer's UI: sliders for the learning rate, start and steps; returns ``interactive``.

    The controls, in order (``widget.children``): log₁₀ of the learning
    rate, x0, y0, steps, the function, momentum, then the output. Setting a
    control's ``value`` redraws; ``widget.result`` is the latest
    ``ExplorerResult``. Choosing another function resets the learning rate,
    the start and the number of steps to that function's defaults
    (``WIDGET_DEFAULTS``).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    defaults = WIDGET_DEFAULTS[get_function(function).name]
    _check_momentum(momentum)
    if momentum > 0.95:
        raise ValueError(f"momentum must be a number in [0, 0.95] (the slider's range), got "
                         f"{momentum!r}.")

    def show(log10_lr: float, x0: float, y0: float, steps: int, function: str,
             momentum: float) -> ExplorerResult:
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        result = gradient_descent_explorer(10.0**log10_lr, x0, y0, steps, function=function,
                                           momentum=momentum, ax=ax)
        plt.show()
        plt.close(fig)
        return result

    slider = {"continuous_update": False}
    controls = {
        "log10_lr": widgets.FloatSlider(value=math.log10(defaults["lr"]), min=-4.0, max=0.0,
                                        step=0.05, description="log₁₀ lr",
                                        readout_format=".2f", **slider),
        "x0": widgets.FloatSlider(value=defaults["x0"], min=-4.5, max=4.5, step=0.1,
                                  description="x0", **slider),
        "y0": widgets.FloatSlider(value=defaults["y0"], min=-1.5, max=3.0, step=0.1,
                                  description="y0", **slider),
        "steps": widgets.IntSlider(value=defaults["steps"], min=1, max=WIDGET_MAX_STEPS, step=1,
                                   description="steps", **slider),
        "function": widgets.Dropdown(options=sorted(WIDGET_DEFAULTS), value=function,
                                     description="function"),
        "momentum": widgets.FloatSlider(value=momentum, min=0.0, max=0.95, step=0.05,
                                        description="momentum β", **slider),
    }

    def reset_for_function(change: dict) -> None:
        """A new function starts from its own sensible learning rate, start and steps."""
        settings = WIDGET_DEFAULTS[change["new"]]
        controls["log10_lr"].value = math.log10(settings["lr"])
        for name in ("x0", "y0", "steps"):
            controls[name].value = settings[name]

    # Registered before `interactive` adds its own observers, so it runs first.
    controls["function"].observe(reset_for_function, names="value")
    return widgets.interactive(show, **controls)


# --- Notebook 07: the optimizer race -------------------------------------------------------

#: The racers: the name shown, the update rule of ``utils.optimizers`` and its fixed settings.
RACERS = {
    "sgd": ("sgd", {}),
    "momentum": ("momentum", {}),
    "nesterov": ("momentum", {"nesterov": True}),
    "adagrad": ("adagrad", {}),
    "rmsprop": ("rmsprop", {}),
    "adam": ("adam", {}),
}
#: Each racer's learning rate on each function (tuned by hand so that every racer is
#: stable from the default start; ``lr_scale`` multiplies them all).
RACE_LRS = {
    "quadratic": {"sgd": 0.018, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.5,
                  "rmsprop": 0.03, "adam": 0.1},
    "rosenbrock": {"sgd": 0.001, "momentum": 0.001, "nesterov": 0.001, "adagrad": 0.5,
                   "rmsprop": 0.003, "adam": 0.02},
}
#: The race's start and length on each function.
RACE_DEFAULTS = {
    "quadratic": {"x0": -4.0, "y0": 1.0, "steps": 300},
    "rosenbrock": {"x0": -1.5, "y0": 2.0, "steps": 3000},
}
#: One colour per racer (Okabe–Ito, colour-blind safe).
RACE_COLOURS = {"sgd": "#000000", "momentum": "#E69F00", "nesterov": "#56B4E9",
                "adagrad": "#009E73", "rmsprop": "#CC79A7", "adam": "#D55E00"}


@dataclass
class RaceResult:
    """What one race computed: an ``ExplorerResult`` per racer (``runs``), in race order."""

    function: str
    beta: float
    steps: int
    tol: float
    runs: dict[str, ExplorerResult]

    def finish_steps(self) -> dict[str, int | None]:
        """Each racer's first step within ``tol`` of the minimum (None: it never got there)."""
        return {name: run.steps_to_tolerance for name, run in self.runs.items()}

    def ranking(self) -> list[str]:
        """The racers that finished, fastest first (ties in race order)."""
        finished = [(steps, i, name) for i, (name, steps) in
                    enumerate(self.finish_steps().items()) if steps is not None]
        return [name for _, _, name in sorted(finished)]

    def finding(self) -> str:
        """Who got within ``tol`` first, and how many did, e.g. for a figure's title."""
        ranking = self.ranking()
        if not ranking:
            return f"no racer within {self.tol:g} of the minimum in {self.steps} steps"
        winner = ranking[0]
        return (f"{winner} first within {self.tol:g} ({self.runs[winner].steps_to_tolerance} "
                f"steps); {len(ranking)} of {len(self.runs)} finished")

    def __repr__(self) -> str:
        return f"RaceResult({self.function}: {self.finding()})"


def _race_rules(rules: Any) -> tuple[str, ...]:
    if rules is None:
        return tuple(RACERS)
    if isinstance(rules, str) or not isinstance(rules, (list, tuple)) or not rules:
        raise ValueError(f"rules must be a non-empty list of racer names from {list(RACERS)}, "
                         f"got {rules!r}.")
    for name in rules:
        checks.one_of("rules", name, tuple(RACERS))
    if len(set(rules)) != len(rules):
        raise ValueError(f"rules must name each racer once, got {rules!r}.")
    return tuple(rules)


def optimizer_race(function: str = "quadratic", rules: Any = None, lr_scale: float = 1.0,
                   beta: float = 0.9, x0: float | None = None, y0: float | None = None,
                   steps: int | None = None, tol: float = 1e-3, ax: Any = None) -> RaceResult:
    """Race several update rules from one start on a 2-D test function; draw them on ``ax``.

    Parameters
    ----------
    function : str
        ``"quadratic"`` (the bowl ½(x² + 100·y²)) or ``"rosenbrock"``.
    rules : list of str, optional
        Racers, names of ``RACERS`` ("sgd", "momentum", "nesterov", "adagrad",
        "rmsprop", "adam"); ``None``: all of them.
    lr_scale : float
        Multiplies every racer's tuned learning rate (``RACE_LRS[function]``); > 0.
    beta : float
        The momentum β of "momentum" and "nesterov" and Adam's β1, in [0, 1).
    x0, y0 : float, optional
        The start; ``None``: ``RACE_DEFAULTS[function]``.
    steps : int, optional
        The steps each racer takes (a diverging racer stops early); ``None``: the default.
    tol : float
        A racer finishes when it is within ``tol`` of the minimum.
    ax : matplotlib axes, optional
        Where to draw the contours and the paths; ``None`` only computes.

    Every racer uses the same pure rule that ``utils.optimizers.RuleOptimizer`` applies
    to a network. Invalid arguments raise ``ValueError`` naming the argument.
    """
    if not isinstance(function, str):
        raise ValueError(f"function must be a name such as 'quadratic', got {function!r}.")
    test_function = get_function(function)
    rules = _race_rules(rules)
    lr_scale = checks.positive_number("lr_scale", lr_scale, maximum=1e3)
    beta = checks.finite_number("beta", beta, minimum=0)
    if beta >= 1:
        raise ValueError(f"beta must be a number in [0, 1), got {beta!r}.")
    defaults = RACE_DEFAULTS[function]
    x0 = defaults["x0"] if x0 is None else checks.finite_number("x0", x0)
    y0 = defaults["y0"] if y0 is None else checks.finite_number("y0", y0)
    steps = defaults["steps"] if steps is None else _check_steps(steps)
    tol = checks.finite_number("tol", tol, minimum=0)
    _check_axes(ax)
    start = np.array([x0, y0], dtype=np.float64)
    runs = {}
    for name in rules:
        rule, fixed = RACERS[name]
        hyper = dict(fixed)
        if rule == "momentum":
            hyper["momentum"] = beta
        if rule == "adam":
            hyper["beta1"] = beta
        lr = RACE_LRS[function][name] * lr_scale
        trajectory = optimize(test_function.grad, start, rule, steps, lr=lr, **hyper)
        with np.errstate(over="ignore", invalid="ignore"):
            losses = np.asarray(test_function.f(trajectory[:, 0], trajectory[:, 1]),
                                dtype=np.float64)
        runs[name] = ExplorerResult(
            function=function, lr=float(lr), momentum=float(hyper.get("momentum", 0.0)),
            steps=int(steps), tol=float(tol), trajectory=trajectory, losses=losses,
            diverged=_diverged(trajectory, losses, steps),
            steps_to_tolerance=_steps_to_tolerance(trajectory, test_function.minimum, tol),
            minimum=test_function.minimum, rule=name)
    result = RaceResult(function=function, beta=float(beta), steps=int(steps), tol=float(tol),
                        runs=runs)
    if ax is not None:
        xlim, ylim = _view_box(test_function, (x0, y0))
        draw_contours(ax, test_function.f, xlim, ylim, minimum=test_function.minimum)
        for i, (name, run) in enumerate(runs.items()):
            finish = run.steps_to_tolerance
            note = ("diverged" if run.diverged else
                    f"{finish} steps" if finish is not None else "not within tol")
            draw_path(ax, run.trajectory, label=f"{name} (lr {run.lr:.3g}): {note}",
                      color=RACE_COLOURS[name], markers=False, linewidth=1.6,
                      zorder=3 + i / 10, start_label="start" if i == 0 else None)
        ax.set_title(f"{function}, β = {beta:g}, lr × {lr_scale:g}:\n{result.finding()}")
        # Rosenbrock's paths run through the left and the bottom: its legend goes upper right.
        ax.legend(loc="upper right" if function == "rosenbrock" else "lower right", fontsize=8)
    return result


def optimizer_race_widget(function: str = "quadratic") -> Any:
    """The race's UI; returns ``interactive``. Controls (``widget.children``): log₁₀ of the
    learning-rate scale, β, x0, y0, steps, the function, then the output. Setting a
    control's ``value`` redraws; ``widget.result`` is the latest ``RaceResult``. Choosing
    another function resets the start and steps (``RACE_DEFAULTS``)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    defaults = RACE_DEFAULTS[get_function(function).name]

    def show(log10_lr_scale: float, beta: float, x0: float, y0: float, steps: int,
             function: str) -> RaceResult:
        fig, ax = plt.subplots(figsize=(8, 5.2))
        result = optimizer_race(function, lr_scale=10.0**log10_lr_scale, beta=beta, x0=x0,
                                y0=y0, steps=steps, ax=ax)
        plt.show()
        plt.close(fig)
        return result

    slider = {"continuous_update": False}
    controls = {
        "log10_lr_scale": widgets.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.05,
                                              description="log₁₀ lr ×", **slider),
        "beta": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                    description="β", **slider),
        "x0": widgets.FloatSlider(value=defaults["x0"], min=-4.5, max=4.5, step=0.1,
                                  description="x0", **slider),
        "y0": widgets.FloatSlider(value=defaults["y0"], min=-1.5, max=3.0, step=0.1,
                                  description="y0", **slider),
        "steps": widgets.IntSlider(value=defaults["steps"], min=1, max=WIDGET_MAX_STEPS,
                                   description="steps", **slider),
        "function": widgets.Dropdown(options=sorted(RACE_DEFAULTS), value=function,
                                     description="function"),
    }

    def reset_for_function(change: dict) -> None:
        """A new function starts from its own start and number of steps."""
        for name in ("x0", "y0", "steps"):
            controls[name].value = RACE_DEFAULTS[change["new"]][name]

    controls["function"].observe(reset_for_function, names="value")
    return widgets.interactive(show, **controls)


# --- Notebook 03: per-layer gradient norms ------------------------------------------------

#: The choices of the gradient-norm explorer (notebook 03).
EXPLORER_ACTIVATIONS = ("sigmoid", "tanh", "relu")
#: The standard deviation of ``init="normal"`` in the explorer (the "large" init).
LARGE_INIT_STD = 1.0
STANDARD_INIT = "glorot_standard"
MAX_EXPLORER_DEPTH = 100


def _menu_label(init: str) -> str:
    """The explorer's menu label of an init name: its label in ``utils.initializers``'
    table (``INIT_LABELS``), the ``"normal"`` init called "large" with its σ."""
    if init == "normal":
        return f"large: {INIT_LABELS[init]}, σ = {LARGE_INIT_STD:g}"
    return INIT_LABELS[init]


#: The inits in the explorer's menu: the name (as in ``utils.nets.make_mlp``) → its label,
#: taken from the initializer table. The explorer accepts every name of
#: ``utils.nets.INIT_NAMES``; labels are for display.
EXPLORER_INITS = {name: _menu_label(name)
                  for name in ("glorot_standard", "xavier_uniform", "he_normal", "normal")}


def explorer_init_name(init: str) -> str:
    """The init name (a key of ``utils.nets.INIT_NAMES``) for ``init``: a name, an alias,
    or one of the menu's labels (``EXPLORER_INITS``), which older cells pass."""
    from utils.nets import canonical_init

    for name, label in EXPLORER_INITS.items():
        if isinstance(init, str) and init == label:
            return name
    return canonical_init(init)


def _title_label(init: str, init_std: float | None) -> str:
    """How the explorer's title names an init: its label, with σ for ``"normal"``."""
    if init == "normal" and init_std is not None:
        return f"{INIT_LABELS[init]}, σ = {init_std:g}"
    return INIT_LABELS[init]


@dataclass
class GradientNormResult:
    """What one run of the gradient-norm explorer measured."""

    depth: int
    activation: str
    init: str  # the init's name, as in utils.nets.make_mlp
    norms: np.ndarray  # ‖∂L/∂z‖ at the output of hidden layers 1 … depth
    ratio: float  # first hidden layer / last hidden layer

    def finding(self) -> str:
        """One sentence on what the plot shows."""
        if not np.isfinite(self.ratio) or self.ratio == 0:
            return "The gradient underflowed or overflowed: nothing useful reaches layer 1."
        if self.ratio < 1e-3:
            return f"Vanishing: layer 1 gets {self.ratio:.1e} of the last layer's gradient."
        if self.ratio > 1e3:
            return f"Exploding: layer 1 gets {self.ratio:.1e} times the last layer's gradient."
        if self.ratio < 0.1:
            return f"Shrinking: layer 1 gets {self.ratio:.1e} of the last layer's gradient."
        if self.ratio > 10:
            return f"Growing: layer 1 gets {self.ratio:.2g} times the last layer's gradient."
        return f"Steady: layer 1 gets {self.ratio:.2g} times the last layer's gradient."


_EXPLORER_BATCH: dict[str, Any] = {}


def explorer_digits(precision: str = "float64") -> tuple[Any, Any]:
    """512 training digits (x as ``precision``: "float64" or "float32", y as labels), the
    batch every explorer measures on; cached, since an explorer redraws often."""
    import torch

    precision = checks.one_of("precision", precision, ("float64", "float32"))
    if "y" not in _EXPLORER_BATCH:
        from utils.data import digits_split

        split = digits_split()
        _EXPLORER_BATCH["float64"] = torch.as_tensor(split.x_train[:512], dtype=torch.float64)
        _EXPLORER_BATCH["float32"] = _EXPLORER_BATCH["float64"].float()
        _EXPLORER_BATCH["y"] = torch.as_tensor(split.y_train[:512])
    return _EXPLORER_BATCH[precision], _EXPLORER_BATCH["y"]


def gradient_norm_explorer(depth: int = 10, activation: str = "sigmoid", init: str | None = None,
                           width: int = 64, seed: int | None = None, ax: Any = None,
                           init_std: float | None = None) -> GradientNormResult:
    """Per-layer gradient norms of a freshly initialized MLP on 512 digits, drawn on ``ax``.

    The norm of ∂L/∂z (the gradient reaching each hidden layer's output) is
    measured in float64, so that even tiny gradients are not rounded to zero.
    ``init`` is an init name of ``utils.nets.make_mlp`` (default:
    ``"glorot_standard"``); the menu's labels (``EXPLORER_INITS``) are accepted
    too. ``init="normal"`` uses ``init_std`` (default ``LARGE_INIT_STD``).
    ``seed`` seeds the weights (default: the course seed, ``utils.current_seed()``).
    """
    import torch
    import torch.nn.functional as F

    from utils.gradflow import GradFlow
    from utils.nets import MAX_WIDTH, make_mlp
    from utils.setup import current_seed

    depth = checks.whole_number("depth", depth, maximum=MAX_EXPLORER_DEPTH)
    checks.one_of("activation", activation, EXPLORER_ACTIVATIONS)
    init = explorer_init_name(STANDARD_INIT if init is None else init)
    if init == "normal" and init_std is None:
        init_std = LARGE_INIT_STD
    width = checks.whole_number("width", width, maximum=min(MAX_WIDTH, 4096))
    seed = current_seed() if seed is None else checks.seed("seed", seed)
    _check_axes(ax)
    x, y = explorer_digits()
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's
        torch.manual_seed(seed)
        model = make_mlp(64, 10, depth=depth, width=width, activation=activation,
                         init=init, init_std=init_std).double()
    with GradFlow(model, keep_samples=False) as flow:
        F.cross_entropy(model(x), y).backward()
    norms = np.array([r.output_grad_norm for r in flow.layers(kind="weights")][:depth])
    ratio = float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")
    result = GradientNormResult(depth, activation, init, norms, ratio)
    if ax is not None:
        ax.semilogy(range(1, depth + 1), np.maximum(norms, 1e-300), marker="o")
        ax.set(xlabel="hidden layer (1 = next to the input)",
               ylabel="‖∂L/∂z‖ (log scale)",
               title=f"{activation}, {_title_label(init, init_std)}, depth {depth}\n"
                     f"{result.finding()}")
    return result


def gradient_norm_widget() -> Any:
    """The explorer of notebook 03: depth, activation and init redraw the gradient profile."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(depth: int, activation: str, init: str) -> GradientNormResult:
        fig, ax = plt.subplots(figsize=(7, 4))
        result = gradient_norm_explorer(depth, activation, init, ax=ax)
        plt.show()
        return result

    return widgets.interactive(
        show,
        depth=widgets.IntSlider(value=10, min=2, max=30, step=1, description="depth"),
        activation=widgets.Dropdown(options=list(EXPLORER_ACTIVATIONS), value="sigmoid",
                                    description="activation"),
        init=widgets.Dropdown(options=[(label, name) for name, label in EXPLORER_INITS.items()],
                              value=STANDARD_INIT,
                              description="init", layout=widgets.Layout(width="420px")),
    )
