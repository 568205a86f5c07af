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


# --- one style per activation and per initializer ----------------------------------------


def test_every_activation_and_initializer_of_the_course_has_a_style_and_a_label():
    from utils.nets import ACTIVATIONS, INIT_NAMES

    assert set(plots.ACTIVATION_STYLES) == set(plots.ACTIVATION_LABELS) == set(ACTIVATIONS)
    assert set(plots.INIT_STYLES) == set(plots.INIT_LABELS) == set(INIT_NAMES)
    okabe_ito = set(plots.OKABE_ITO) | {"#999999"}
    for styles in (plots.ACTIVATION_STYLES, plots.INIT_STYLES):
        assert all(style["color"] in okabe_ito for style in styles.values())
        pairs = [(style["color"], style["linestyle"]) for style in styles.values()]
        assert len(set(pairs)) == len(pairs)  # no two curves look alike


def test_styles_are_looked_up_by_name_alias_and_given_as_a_fresh_dict():
    style = plots.activation_style("elu")
    assert style == {"color": "#D55E00", "linestyle": "-"}
    style["color"] = "red"
    assert plots.activation_style("elu")["color"] == "#D55E00"
    assert plots.init_style("kaiming_normal") == plots.init_style("he_normal")
    assert plots.init_label("he_normal") == "He" and plots.activation_label("leaky_relu") == \
        "leaky ReLU"
    with pytest.raises(ValueError, match="activation"):
        plots.activation_style("swish")
    with pytest.raises(ValueError, match="init"):
        plots.init_style("glorot")


def test_the_gradient_health_figures_live_here():
    import torch
    from torch import nn

    from utils.gradflow import GradFlow

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradFlow(model, optimizer=optimizer, keep_samples=True) as flow:
        for _ in range(3):
            optimizer.zero_grad()
            model(torch.randn(16, 4)).pow(2).mean().backward()
            optimizer.step()
    fig, ax = plt.subplots()
    assert plots.plot_gradient_norms(flow, ax) is ax and len(ax.lines) == 1
    plots.plot_update_ratios(flow, ax, max_layers=2)
    assert len(ax.lines) == 1 + 2 + 1  # the norms, two layers, the rule of thumb
    plt.close(fig)
    fig, ax = plt.subplots()
    plots.plot_update_ratios(flow, ax, max_layers=3)
    *layers, rule = ax.get_lines()
    assert [line.get_color() for line in layers] == plots.OKABE_ITO[:3]  # distinct colours
    assert [text.get_text() for text in ax.texts] == ["0", "2", "4"]  # a label at each end
    for line, text in zip(layers, ax.texts, strict=True):
        assert text.get_color() == line.get_color()
        assert text.xy == (2, line.get_ydata()[-1])  # at the last of the 3 steps
    assert rule.get_zorder() > max(line.get_zorder() for line in layers)  # drawn on top
    assert ax.get_xlim()[1] > 2
    plt.close(fig)
    grid = plots.plot_histograms(flow)
    assert len(grid.axes) == 2 * 2
    plt.close(grid)
    with pytest.raises(ValueError, match="ax must be matplotlib axes"):
        plots.plot_gradient_norms(flow, ax="left")
