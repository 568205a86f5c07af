"""The course's figures in one consistent style.

Colours are the Okabe–Ito palette, which stays distinguishable for the common
forms of colour blindness.
"""

import matplotlib as mpl

from utils import checks

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


def use_course_style() -> None:
    """Apply the course style to every figure drawn from now on."""
    mpl.rcParams.update(COURSE_STYLE)


def plot_decision_boundary(ax, predict, x, y, title="", resolution=200, margin=0.15):
    """Colour the plane by the class ``predict`` gives, and draw the points on top.

    ``predict`` maps an (n, 2) NumPy array of points to n integer classes;
    ``y`` holds the n points' classes (whole numbers from 0 to 7).
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


def draw_graph(ax, nodes, edges, title=""):
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
