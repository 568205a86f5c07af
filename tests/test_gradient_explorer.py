"""The gradient-norm explorer of notebook 03 (utils.widgets)."""

import matplotlib.pyplot as plt
import pytest

from utils import widgets


def test_sigmoid_vanishes_and_deeper_is_worse():
    shallow = widgets.gradient_norm_explorer(depth=4, activation="sigmoid")
    deep = widgets.gradient_norm_explorer(depth=12, activation="sigmoid")
    assert len(deep.norms) == 12
    assert deep.ratio < shallow.ratio < 1
    assert deep.finding().startswith("Vanishing")


def test_relu_with_he_init_is_healthy_and_large_init_explodes():
    he = widgets.gradient_norm_explorer(10, "relu", "he_normal")
    large = widgets.gradient_norm_explorer(10, "relu", "normal")
    assert he.finding().startswith("Steady")
    assert large.finding().startswith("Exploding")


def test_the_explorer_draws_on_the_given_axes():
    fig, ax = plt.subplots()
    result = widgets.gradient_norm_explorer(depth=5, ax=ax)
    assert len(ax.lines) == 1 and ax.get_yscale() == "log"
    assert result.finding() in ax.get_title()
    plt.close(fig)


def test_same_settings_same_result():
    assert widgets.gradient_norm_explorer(6).ratio == widgets.gradient_norm_explorer(6).ratio


def test_widget_moves_update_the_result():
    explorer = widgets.gradient_norm_widget()
    depth_control = explorer.children[0]
    depth_control.value = 4
    first = explorer.result.ratio
    depth_control.value = 14
    assert explorer.result.ratio < first
    plt.close("all")


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": 0}, "depth must be a whole number ≥ 1"),
    ({"depth": 101}, "depth must be a whole number from 1 to 100"),
    ({"depth": 2.5}, "depth must be"),
    ({"activation": "swish"}, "Unknown activation 'swish'; accepted: 'sigmoid', 'tanh', 'relu'"),
    ({"init": "he"}, "Unknown init 'he'; accepted: 'default', 'normal'"),
])
def test_bad_input_is_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.gradient_norm_explorer(**kwargs)


@pytest.mark.parametrize("name", list(widgets.EXPLORER_INITS))
def test_init_names_of_make_mlp_and_the_old_labels_give_the_same_network(name):
    label = widgets.EXPLORER_INITS[name]
    by_name = widgets.gradient_norm_explorer(6, "relu", name, seed=3)
    by_label = widgets.gradient_norm_explorer(6, "relu", label, seed=3)
    assert by_name.init == by_label.init == name
    assert by_name.ratio == by_label.ratio


def test_every_make_mlp_init_and_alias_is_accepted():
    from utils import nets

    for name in [*nets.INIT_NAMES, *nets.INIT_ALIASES]:
        result = widgets.gradient_norm_explorer(3, "tanh", name, seed=0)
        assert result.init == nets.canonical_init(name)


def test_the_menu_shows_labels_and_passes_names():
    explorer = widgets.gradient_norm_widget()
    init_control = explorer.children[2]
    assert init_control.value == "glorot_standard"
    assert [label for label, _ in init_control.options] == list(widgets.EXPLORER_INITS.values())
    init_control.value = "he_normal"
    assert explorer.result.init == "he_normal"
    plt.close("all")


def test_the_seed_defaults_to_the_course_seed():
    import utils

    try:
        ratios = {}
        for seed in (0, 1):
            utils.setup(seed=seed, device="cpu", quiet=True)
            ratios[seed] = widgets.gradient_norm_explorer(6).ratio
            assert ratios[seed] == widgets.gradient_norm_explorer(6, seed=seed).ratio
        assert ratios[0] != ratios[1]
    finally:
        utils.setup(seed=0, device="cpu", quiet=True)
