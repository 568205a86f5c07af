"""The course's figures in one consistent style.

Colours are the Okabe–Ito palette, which stays distinguishable for the common
forms of colour blindness. One colour and line style per activation
(``ACTIVATION_STYLES``, names of ``utils.nets.ACTIVATIONS``) and per initializer
(``INIT_STYLES``, names of ``utils.nets.INIT_NAMES``), the same in every
notebook: ``ax.plot(x, y, label=activation_label("elu"), **activation_style("elu"))``.
The gradient-health figures (``plot_gradient_norms``, ``plot_update_ratios``,
``plot_histograms``) draw what a ``utils.gradflow.GradFlow`` recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import matplotlib as mpl

from utils import checks, initializers

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure

    from utils.gradflow import GradFlow

#: Okabe & Ito (2008), "Color Universal Design", without black and yellow
#: (too light on white) at the front of the cycle.
OKABE_ITO = [
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]

COURSE_STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.0,
    "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
    "image.cmap": "viridis",
}


#: One colour and line style per activation (the names of ``utils.nets.ACTIVATIONS``).
ACTIVATION_STYLES = {
    "identity": {"color": "#999999", "linestyle": ":"},
    "sigmoid": {"color": "#E69F00", "linestyle": "-"},
    "tanh": {"color": "#56B4E9", "linestyle": "-"},
    "relu": {"color": "#000000", "linestyle": "-"},
    "leaky_relu": {"color": "#0072B2", "linestyle": "--"},
    "elu": {"color": "#D55E00", "linestyle": "-"},
    "gelu": {"color": "#CC79A7", "linestyle": "-."},
    "selu": {"color": "#009E73", "linestyle": "-"},
}
#: How the figures name each activation.
ACTIVATION_LABELS = {
    "identity": "identity", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU",
    "leaky_relu": "leaky ReLU", "elu": "ELU", "gelu": "GELU", "selu": "SELU",
}
#: One colour and line style per initializer (the names of ``utils.nets.INIT_NAMES``):
#: one colour per family (Xavier, He, ...), the line style tells its variants apart.
INIT_STYLES = {
    "default": {"color": "#CC79A7", "linestyle": "-"},
    "normal": {"color": "#D55E00", "linestyle": "-"},
    "glorot_standard": {"color": "#0072B2", "linestyle": "-."},
    "xavier_uniform": {"color": "#E69F00", "linestyle": "-"},
    "xavier_normal": {"color": "#E69F00", "linestyle": "--"},
    "he_uniform": {"color": "#009E73", "linestyle": "--"},
    "he_normal": {"color": "#009E73", "linestyle": "-"},
    "lecun_normal": {"color": "#000000", "linestyle": "-."},
    "orthogonal": {"color": "#56B4E9", "linestyle": "--"},
}
#: How the figures name each initializer: the labels of the one initializer table.
INIT_LABELS = initializers.INIT_LABELS


def activation_style(activation: str) -> dict[str, str]:
    """The ``color`` and ``linestyle`` of an activation (a key of ``ACTIVATION_STYLES``), as
    keyword arguments for ``ax.plot``; a fresh dict the caller may change."""
    return dict(ACTIVATION_STYLES[checks.one_of("activation", activation, ACTIVATION_STYLES)])


def activation_label(activation: str) -> str:
    """How figures name an activation, e.g. ``"leaky ReLU"`` for ``"leaky_relu"``."""
    return ACTIVATION_LABELS[checks.one_of("activation", activation, ACTIVATION_LABELS)]


def init_style(init: str) -> dict[str, str]:
    """The ``color`` and ``linestyle`` of an initializer (a key of ``INIT_STYLES``, or an
    alias such as ``"kaiming_normal"``), as keyword arguments for ``ax.plot``; a fresh
    dict the caller may change."""
    from utils.nets import canonical_init

    return dict(INIT_STYLES[checks.one_of("init", canonical_init(init), INIT_STYLES)])


def init_label(init: str) -> str:
    """How figures name an initializer, e.g. ``"He"`` for ``"he_normal"`` (aliases too)."""
    from utils.nets import canonical_init

    return INIT_LABELS[checks.one_of("init", canonical_init(init), INIT_LABELS)]


def use_course_style() -> None:
    """Apply the course style to every figure drawn from now on."""
    mpl.rcParams.update(COURSE_STYLE)


def plot_decision_boundary(ax: matplotlib.axes.Axes, predict: Callable[[Any], Any], x: Any,
                           y: Any, title: str = "", resolution: int = 200,
                           margin: float = 0.15) -> None:
    """Colour the plane by the class ``predict`` gives, and draw the points on top.

    ``predict`` maps an (n, 2) NumPy array of points to n integer classes; ``x`` is
    an (n, 2) array-like of points and ``y`` holds their classes (whole numbers from
    0 to 7); ``resolution`` (2 to 2000) points per side of the grid, ``margin`` the
    share of the data's range added around it.
    """
    import numpy as np
    from matplotlib.colors import ListedColormap

    checks.axes("ax", ax)
    checks.function("predict", predict)
    x = checks.array("x", x)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"plot_decision_boundary needs 2-D points x of shape (n, 2), got "
                         f"{x.shape}.")
    y = checks.array("y", y)
    if y.shape != (len(x),) or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= 8:
        raise ValueError(f"y must hold one class (0 to 7) per point of x, shape ({len(x)},); "
                         f"got shape {y.shape}.")
    checks.text("title", title)
    resolution = checks.whole_number("resolution", resolution, minimum=2, maximum=2000)
    margin = checks.finite_number("margin", margin, minimum=0, maximum=10)
    low, high = x.min(axis=0), x.max(axis=0)
    pad = margin * (high - low)
    grid_x, grid_y = np.meshgrid(np.linspace(low[0] - pad[0], high[0] + pad[0], resolution),
                                 np.linspace(low[1] - pad[1], high[1] + pad[1], resolution))
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    classes = np.asarray(predict(grid)).reshape(grid_x.shape)
    n_classes = int(max(classes.max(), np.max(y))) + 1
    colours = OKABE_ITO[:n_classes]
    ax.contourf(grid_x, grid_y, classes, levels=np.arange(n_classes + 1) - 0.5,
                cmap=ListedColormap(colours), alpha=0.25)
    for cls in range(n_classes):
        members = np.asarray(y) == cls
        ax.scatter(x[members, 0], x[members, 1], s=10, color=colours[cls], label=f"class {cls}")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    ax.set_aspect("equal")
    ax.grid(False)


def draw_graph(ax: matplotlib.axes.Axes, nodes: dict[str, tuple[float, float, str]],
               edges: Iterable[tuple[str, str]], title: str = "") -> None:
    """Draw a small computational graph.

    ``nodes`` maps a name to ``(x, y, text)``: its position and the text in its
    box (several lines allowed). ``edges`` lists ``(from, to)`` pairs; arrows
    point in the direction of the forward pass, from the right edge of one box
    to the left edge of the next, so lay the graph out from left to right.
    """
    checks.axes("ax", ax)
    if not isinstance(nodes, dict) or not all(
            isinstance(value, tuple) and len(value) == 3 for value in nodes.values()):
        raise ValueError(f"nodes must be a dict {{name: (x, y, text)}}, got {nodes!r:.60}.")
    if isinstance(edges, (str, bytes)) or not hasattr(edges, "__iter__") or not all(
            isinstance(edge, (tuple, list)) and len(edge) == 2 for edge in edges):
        raise ValueError(f"edges must be a list of (from, to) pairs of node names, got "
                         f"{edges!r:.60}.")
    checks.text("title", title)
    boxes = {}
    for name, (x, y, text) in nodes.items():
        boxes[name] = ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=3,
                              bbox={"boxstyle": "round,pad=0.4", "facecolor": "white",
                                    "edgecolor": OKABE_ITO[0], "lw": 1.5})
    for start, end in edges:
        if start not in nodes or end not in nodes:
            missing = start if start not in nodes else end
            raise ValueError(f"draw_graph: edge ({start!r}, {end!r}) names an unknown node "
                             f"{missing!r}; nodes are {sorted(nodes)}.")
        # From the right edge of one box to the left edge of the next (graphs run left to right).
        ax.annotate("", xy=(0, 0.5), xycoords=boxes[end], xytext=(1, 0.5),
                    textcoords=boxes[start],
                    arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 1.5,
                                "mutation_scale": 18, "shrinkA": 4, "shrinkB": 4})
    ax.set_title(title)
    ax.axis("off")


# --- gradient health: what a GradFlow recorded ------------------------------------------


def _short(name: str) -> str:
    return name.replace(".linear", "").replace(".layer", "")


def _spread(items: list, limit: int) -> list:
    """At most ``limit`` items, evenly spread from the first to the last."""
    if len(items) <= limit:
        return items
    import torch

    picks = torch.linspace(0, len(items) - 1, limit).round().long().tolist()
    return [items[i] for i in picks]


def plot_gradient_norms(flow: GradFlow, ax: matplotlib.axes.Axes | None = None,
                        label: str | None = None, step: int | None = None
                        ) -> matplotlib.axes.Axes:
    """Per-layer ‖∂L/∂W‖ of one step (default: the last with gradients) on a log scale,
    input layer on the left, on ``ax`` (default: the current axes)."""
    import matplotlib.pyplot as plt

    from utils.gradflow import check_flow

    check_flow(flow, "plot_gradient_norms")
    checks.axes("ax", ax, optional=True)
    checks.text("label", label, optional=True)
    norms = flow.weight_grad_norms(step)
    ax = ax or plt.gca()
    ax.semilogy(range(1, len(norms) + 1), list(norms.values()), marker="o", label=label)
    ax.set(xlabel="layer (1 = next to the input)", ylabel="‖∂L/∂W‖ (log scale)")
    return ax


def plot_histograms(flow: GradFlow, step: int | None = None,
                    max_layers: int = 8) -> matplotlib.figure.Figure:
    """A grid: one column per activation layer, activations on top and gradients below.

    Each row shares its x axis, so a distribution that narrows from layer to layer
    is seen narrowing. Needs ``GradFlow(..., keep_samples=True)`` (samples of the
    latest steps) or ``keep_samples="all"``; ``max_layers`` columns at most, spread
    from the first layer to the last.
    """
    import matplotlib.pyplot as plt

    from utils.gradflow import check_flow

    check_flow(flow, "plot_histograms")
    checks.whole_number("max_layers", max_layers)
    layers = [r for r in flow.layers(step, "activations") if r.activation_sample is not None]
    if not layers:
        raise ValueError("No activation samples for this step: create GradFlow(..., "
                         "keep_samples=True) and use activation modules (nn.Tanh, nn.ReLU, ...); "
                         "samples of older steps are dropped unless keep_samples='all'.")
    layers = _spread(layers, max_layers)
    fig, axes = plt.subplots(2, len(layers), figsize=(2.2 * len(layers), 4.4), squeeze=False,
                             sharex="row")
    for column, record in enumerate(layers):
        axes[0, column].hist(record.activation_sample.numpy(), bins=40, color=OKABE_ITO[0])
        axes[0, column].set_title(_short(record.name), fontsize=10)
        if record.gradient_sample is not None:
            axes[1, column].hist(record.gradient_sample.numpy(), bins=40, color=OKABE_ITO[1])
        for row in (0, 1):
            axes[row, column].tick_params(labelsize=8)
            axes[row, column].set_yticks([])
    axes[1, 0].ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    axes[0, 0].set_ylabel("activations")
    axes[1, 0].set_ylabel("gradients ∂L/∂a")
    fig.tight_layout()
    return fig


def plot_update_ratios(flow: GradFlow, ax: matplotlib.axes.Axes | None = None,
                       max_layers: int = 6) -> matplotlib.axes.Axes:
    """log10 of ‖Δw‖/‖w‖ over the optimizer steps for up to ``max_layers`` layers with
    weights spread over the depth, one Okabe–Ito colour each (in order from the input),
    each line labelled at its end, with a grey line drawn on top at the rule of thumb
    ‖Δw‖/‖w‖ ≈ 1e-3 (Karpathy's CS231n notes and *Neural Networks: Zero to Hero*; see
    ``utils.gradflow.UPDATE_RATIO_RULE_OF_THUMB``). The lines are the layers', in order,
    then the rule's. Needs ``GradFlow(model, optimizer=...)``; ``ax``: matplotlib axes
    or None (the current axes); ``max_layers``: a whole number ≥ 1."""
    import matplotlib.pyplot as plt
    import numpy as np

    from utils.gradflow import UPDATE_RATIO_RULE_OF_THUMB, check_flow

    check_flow(flow, "plot_update_ratios")
    checks.axes("ax", ax, optional=True)
    checks.whole_number("max_layers", max_layers)
    ratios = flow.update_ratios(kind="weights")
    if not ratios:
        raise ValueError("No update ratios recorded: pass optimizer= to GradFlow and call "
                         "optimizer.step() inside the `with` block.")
    ax = ax or plt.gca()
    names = _spread(list(ratios), max_layers)
    steps = 1
    for index, name in enumerate(names):
        colour = OKABE_ITO[index % len(OKABE_ITO)]
        values = np.log10(np.maximum(np.asarray(ratios[name], dtype=np.float64), 1e-300))
        ax.plot(values, color=colour, linewidth=1.2, label=_short(name))
        ax.annotate(_short(name), (len(values) - 1, values[-1]), xytext=(4, 0),
                    textcoords="offset points", color=colour, fontsize=8, va="center")
        steps = max(steps, len(values))
    ax.axhline(math.log10(UPDATE_RATIO_RULE_OF_THUMB), color="gray", linestyle=":",
               linewidth=2, zorder=5, label="rule of thumb ≈ 1e-3 (Karpathy)")
    ax.set_xlim(right=steps * 1.15)  # room for the labels at the ends
    ax.set(xlabel="optimizer step", ylabel="log10 ‖Δw‖ / ‖w‖")
    return ax
