"""utils.plots: the course style and the figure helpers."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import plots


def test_course_style_uses_colour_blind_safe_colours():
    plots.use_course_style()
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [c.upper() for c in cycle[:3]] == ["#0072B2", "#D55E00", "#009E73"]


def test_decision_boundary_colours_the_plane():
    fig, ax = plt.subplots()
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    plots.plot_decision_boundary(ax, lambda points: (points[:, 0] > 0.5).astype(int), x,
                                 np.array([0, 1, 0]), title="t", resolution=20)
    assert ax.get_title() == "t" and len(ax.collections) >= 3
    plt.close(fig)


def test_decision_boundary_needs_2d_points():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plots.plot_decision_boundary(ax, lambda p: p[:, 0], np.zeros((3, 3)), np.zeros(3))
    plt.close(fig)


def test_draw_graph_draws_boxes_and_arrows():
    fig, ax = plt.subplots()
    plots.draw_graph(ax, {"a": (0, 0, "a"), "b": (1, 0, "b")}, [("a", "b")], title="g")
    assert len(ax.texts) == 3  # two boxes, one annotation
    plt.close(fig)


def test_draw_graph_names_an_unknown_node():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="unknown node 'c'"):
        plots.draw_graph(ax, {"a": (0, 0, "a")}, [("a", "c")])
    plt.close(fig)
