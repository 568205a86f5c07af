"""utils.widgets: the gradient-descent explorer (pure function) and its ipywidgets UI."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils.widgets import (
    WIDGET_DEFAULTS,
    WIDGET_MAX_STEPS,
    ExplorerResult,
    draw_path,
    gradient_descent_explorer,
    gradient_descent_widget,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_converging_run_on_the_bowl():
    result = gradient_descent_explorer(0.018, -4.0, 1.0, 1000)
    assert isinstance(result, ExplorerResult)
    assert result.function == "quadratic" and not result.diverged
    assert result.trajectory.shape == (1001, 2) and result.losses.shape == (1001,)
    np.testing.assert_allclose(result.trajectory[0], [-4.0, 1.0])
    assert 100 < result.steps_to_tolerance < 1000
    assert result.distance_to_minimum < 1e-3 and result.final_loss < 1e-6
    assert "within 0.001 of the minimum after" in result.finding()
    assert "lr=0.018" in repr(result)


def test_stability_limit_2_over_100_on_the_bowl():
    below = gradient_descent_explorer(0.019, -4.0, 1.0, 3000)
    above = gradient_descent_explorer(0.021, -4.0, 1.0, 3000)
    assert not below.diverged and below.steps_to_tolerance is not None
    assert above.diverged and len(above.trajectory) < 3001
    assert above.finding().startswith("diverged")


def test_unfinished_run_says_how_far_it_is():
    result = gradient_descent_explorer(0.001, -1.5, 2.0, 100, function="rosenbrock")
    assert result.steps_to_tolerance is None and not result.diverged
    assert result.finding().startswith("after 100 steps still")


def test_momentum_needs_fewer_steps_on_rosenbrock():
    plain = gradient_descent_explorer(0.001, -1.5, 2.0, 30_000, function="rosenbrock")
    fast = gradient_descent_explorer(0.001, -1.5, 2.0, 30_000, function="rosenbrock",
                                     momentum=0.9)
    assert plain.steps_to_tolerance > 5 * fast.steps_to_tolerance
    assert "momentum=0.9" in repr(fast)


def test_without_axes_nothing_is_drawn():
    before = plt.get_fignums()
    gradient_descent_explorer(0.018, -4.0, 1.0, 10)
    assert plt.get_fignums() == before


def test_drawing_on_axes():
    fig, ax = plt.subplots()
    result = gradient_descent_explorer(0.021, -4.0, 1.0, 500, ax=ax)
    assert result.diverged
    assert "diverged" in ax.get_title() and "lr = 0.021" in ax.get_title()
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert len(ax.collections) > 0  # the contour lines
    path_line = next(line for line in ax.get_lines() if line.get_label() == "gradient descent")
    assert len(path_line.get_xdata()) == len(result.trajectory)
    assert "start" in ax.get_legend_handles_labels()[1]
    # the view widens to show a start outside the function's own box
    gradient_descent_explorer(0.001, -4.0, -1.5, 5, function="rosenbrock", ax=ax)
    assert ax.get_xlim()[0] < -4.0 and ax.get_ylim()[0] < -1.5


@pytest.mark.parametrize("kwargs, message", [
    ({"function": "himmelblau"},
     r"Unknown function 'himmelblau'; accepted names: \['quadratic', 'rosenbrock'\]"),
    ({"function": None}, "function must be a name"),
    ({"steps": 0}, "steps must be a whole number ≥ 1"),
    ({"steps": -5}, "steps must be a whole number ≥ 1"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"lr": math.inf}, "lr must be a finite number"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"lr": -0.01}, "lr must be positive"),
    ({"x0": float("nan")}, "x0 must be a finite number"),
    ({"y0": math.inf}, "y0 must be a finite number"),
    ({"momentum": 1.0}, "momentum must be a number in"),
    ({"tol": float("nan")}, "tol must be a finite number"),
])
def test_bad_inputs_raise_clear_errors(kwargs, message):
    arguments = {"lr": 0.01, "x0": -4.0, "y0": 1.0, "steps": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        gradient_descent_explorer(**arguments)


def test_widget_controls_and_result():
    widget = gradient_descent_widget()
    names = [getattr(child, "description", "") for child in widget.children]
    assert names[:6] == ["log₁₀ lr", "x0", "y0", "steps", "function", "momentum β"]
    first = widget.result
    assert isinstance(first, ExplorerResult) and not first.diverged
    assert first.lr == pytest.approx(WIDGET_DEFAULTS["quadratic"]["lr"])

    widget.children[0].value = math.log10(0.021)
    assert widget.result is not first and widget.result.diverged
    assert widget.result.lr == pytest.approx(0.021)

    widget.children[5].value = 0.9
    assert widget.result.momentum == pytest.approx(0.9)


def test_choosing_another_function_resets_the_controls():
    widget = gradient_descent_widget()
    widget.children[4].value = "rosenbrock"
    defaults = WIDGET_DEFAULTS["rosenbrock"]
    result = widget.result
    assert result.function == "rosenbrock"
    assert result.lr == pytest.approx(defaults["lr"])
    np.testing.assert_allclose(result.trajectory[0], [defaults["x0"], defaults["y0"]])
    assert result.steps == defaults["steps"]


def test_widget_can_start_on_rosenbrock_and_refuses_unknown_names():
    assert gradient_descent_widget("rosenbrock").result.function == "rosenbrock"
    with pytest.raises(ValueError, match="accepted names"):
        gradient_descent_widget("himmelblau")


def test_title_shows_the_learning_rate_to_four_digits():
    """10^-1.70 = 0.01995 is below the limit 0.02: the title must not round it to 0.02."""
    fig, ax = plt.subplots()
    gradient_descent_explorer(10**-1.7, -4.0, 1.0, 10, ax=ax)
    assert "lr = 0.01995" in ax.get_title()


def test_draw_path_start_label_and_order():
    fig, ax = plt.subplots()
    draw_path(ax, np.array([[0.0, 0.0], [1.0, 1.0]]), label="first", zorder=2, alpha=0.5)
    draw_path(ax, np.array([[0.0, 0.0], [0.5, 1.0]]), label="second", zorder=4, start_label=None)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["first", "start", "second"]
    first, second = (line for line in ax.get_lines() if line.get_label() in ("first", "second"))
    assert second.get_zorder() > first.get_zorder() and first.get_alpha() == 0.5


def test_steps_slider_reaches_plain_gradient_descent_on_rosenbrock():
    plain = gradient_descent_explorer(0.001, -1.5, 2.0, WIDGET_MAX_STEPS, function="rosenbrock")
    assert plain.steps_to_tolerance is not None
    widget = gradient_descent_widget("rosenbrock")
    assert widget.children[3].max == WIDGET_MAX_STEPS
    widget.children[3].value = plain.steps_to_tolerance + 5
    assert widget.result.steps_to_tolerance == plain.steps_to_tolerance


def test_momentum_moves_the_stability_limit_on_the_bowl():
    """In the notebook: 0.02 is the limit without momentum; with β = 0.9 lr 0.021 converges."""
    assert gradient_descent_explorer(0.021, -4.0, 1.0, 1000).diverged
    fast = gradient_descent_explorer(0.021, -4.0, 1.0, 1000, momentum=0.9)
    assert not fast.diverged and fast.steps_to_tolerance is not None


def test_notebook_cell_pattern_works_after_the_learner_moved_every_control():
    """Notebook 01 sets every control before it asserts, then restores the learner's own."""
    widget = gradient_descent_widget()
    controls = dict(zip(["log10_lr", "x0", "y0", "steps", "function", "momentum"],
                        widget.children))
    controls["function"].value = "rosenbrock"
    controls["momentum"].value = 0.9
    controls["log10_lr"].value = -1.6
    yours = {name: control.value for name, control in controls.items()}

    def set_controls(values):
        for name in sorted(values, key=lambda name: name != "function"):
            controls[name].value = values[name]
        return widget.result

    below = set_controls({"function": "quadratic", "momentum": 0.0, "steps": 500, "x0": -4.0,
                          "y0": 1.0, "log10_lr": math.log10(0.019)})
    above = set_controls({"log10_lr": math.log10(0.021)})
    assert not below.diverged and above.diverged
    set_controls(yours)
    assert {name: control.value for name, control in controls.items()} == yours
    assert widget.result.function == "rosenbrock" and widget.result.momentum == 0.9


def test_a_converging_run_from_far_away_is_not_called_diverged():
    far = gradient_descent_explorer(0.018, 1e7, 1e7, 3000)
    assert not far.diverged and far.steps_to_tolerance is not None
    assert far.final_loss < 1e-6 * far.losses[0]


def test_a_run_whose_loss_grows_without_overflowing_is_diverged():
    slow = gradient_descent_explorer(0.0201, -4.0, 1.0, 1000)  # |1 − 100·lr| = 1.01 per step
    assert len(slow.trajectory) == 1001 and slow.diverged
    assert slow.finding().startswith("diverged: the loss grew")


def test_steps_are_capped_with_a_clear_message():
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 100,000"):
        gradient_descent_explorer(0.018, -4.0, 1.0, 10**7)
    assert time.perf_counter() - start < 1


# --- the explorer runs any update rule of utils.optimizers ---------------------------------


def test_the_explorer_runs_the_same_rules_as_the_torch_optimizer():
    from utils.optimizers import optimize, quadratic_grad

    result = gradient_descent_explorer(0.05, -4.0, 1.0, 400, rule="adam")
    np.testing.assert_array_equal(result.trajectory,
                                  optimize(quadratic_grad, (-4.0, 1.0), "adam", 400, lr=0.05))
    assert result.rule == "adam" and "adam" in repr(result)
    assert result.steps_to_tolerance is not None  # Adam settles on the bowl at this lr


def test_rule_momentum_is_the_explorers_momentum():
    plain = gradient_descent_explorer(0.01, -4.0, 1.0, 300, momentum=0.9)
    by_rule = gradient_descent_explorer(0.01, -4.0, 1.0, 300, momentum=0.9, rule="momentum")
    np.testing.assert_array_equal(plain.trajectory, by_rule.trajectory)


def test_the_title_names_the_rule():
    fig, ax = plt.subplots()
    gradient_descent_explorer(0.05, -4.0, 1.0, 50, rule="rmsprop", ax=ax)
    assert ax.get_title().startswith("quadratic, rmsprop, lr = 0.05")


@pytest.mark.parametrize("kwargs, message", [
    (dict(rule="lion"), "Unknown rule 'lion'; accepted: 'sgd', 'momentum', "
                        "'textbook_momentum', 'adagrad', 'rmsprop', 'adam', 'adamw'"),
    (dict(rule="adam", momentum=0.5), "momentum is a setting of rule='momentum'"),
])
def test_bad_rules_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_descent_explorer(0.01, -4.0, 1.0, 10, **kwargs)


@pytest.mark.parametrize("init, init_std, expected", [
    ("he_normal", None, "relu, He, depth 4"), ("default", None, "relu, PyTorch default, depth 4"),
    ("normal", None, "relu, N(0, σ²), σ = 1, depth 4"),
    ("normal", 0.5, "relu, N(0, σ²), σ = 0.5, depth 4"),
])
def test_the_gradient_explorers_title_names_the_init_by_its_label(init, init_std, expected):
    from utils.widgets import gradient_norm_explorer

    fig, ax = plt.subplots()
    gradient_norm_explorer(4, "relu", init, width=16, seed=0, ax=ax, init_std=init_std)
    assert ax.get_title().startswith(expected)
    plt.close(fig)


# --- notebook 07: the optimizer race ----------------------------------------------------

def test_the_race_runs_every_racer_with_its_own_rule():
    from utils import optimizers as opt
    from utils.widgets import RACE_LRS, RACERS, optimizer_race

    race = optimizer_race("quadratic", steps=50)
    assert list(race.runs) == list(RACERS)
    expected = opt.optimize(opt.quadratic_grad, (-4.0, 1.0), "momentum", 50,
                            lr=RACE_LRS["quadratic"]["nesterov"], momentum=0.9, nesterov=True)
    np.testing.assert_array_equal(race.runs["nesterov"].trajectory, expected)
    adam = opt.optimize(opt.quadratic_grad, (-4.0, 1.0), "adam", 50,
                        lr=2 * RACE_LRS["quadratic"]["adam"], beta1=0.5)
    np.testing.assert_array_equal(
        optimizer_race("quadratic", ["adam"], lr_scale=2, beta=0.5, steps=50).runs["adam"]
        .trajectory, adam)


def test_on_the_bowl_momentum_and_adam_beat_plain_gradient_descent():
    from utils.widgets import optimizer_race

    race = optimizer_race("quadratic")
    finish = race.finish_steps()
    assert finish["sgd"] is None  # the slow direction of the bowl: not there in 300 steps
    assert finish["momentum"] is not None and finish["adam"] is not None
    assert race.ranking()[0] in ("momentum", "nesterov", "adam")
    assert "first within 0.001" in race.finding()


def test_on_rosenbrock_adam_finishes_and_plain_gradient_descent_does_not():
    from utils.widgets import optimizer_race

    race = optimizer_race("rosenbrock", ["sgd", "adam"])
    assert race.finish_steps()["sgd"] is None and race.finish_steps()["adam"] is not None
    assert race.ranking() == ["adam"]


def test_a_too_large_rate_diverges_and_nobody_finishes():
    from utils.widgets import optimizer_race

    race = optimizer_race("quadratic", ["sgd", "momentum"], lr_scale=10, steps=100)
    assert all(run.diverged for run in race.runs.values())
    assert race.ranking() == [] and race.finding().startswith("no racer")


def test_the_race_draws_one_path_per_racer_and_names_the_winner():
    from utils.widgets import optimizer_race

    fig, ax = plt.subplots()
    race = optimizer_race("quadratic", ["sgd", "adam"], ax=ax)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any(label.startswith("sgd (lr 0.018)") for label in labels)
    assert any(label.startswith("adam (lr 0.1)") for label in labels)
    assert race.finding() in ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rules=["lion"]), "Unknown rules 'lion'; accepted: 'sgd', 'momentum', 'nesterov'"),
    (dict(rules="adam"), "rules must be a non-empty list"),
    (dict(rules=["adam", "adam"]), "rules must name each racer once"),
    (dict(beta=1.0), r"beta must be a number in \[0, 1\)"),
    (dict(lr_scale=0), "lr_scale must be positive"),
    (dict(function="bowl"), "Unknown function 'bowl'"),
    (dict(x0=math.nan), "x0 must be a finite number"),
])
def test_bad_race_arguments_are_explained(kwargs, message):
    from utils.widgets import optimizer_race

    with pytest.raises(ValueError, match=message):
        optimizer_race(**kwargs)


def test_the_race_widget_redraws_when_a_control_changes():
    from utils.widgets import optimizer_race_widget

    widget = optimizer_race_widget()
    beta = widget.children[1]
    beta.value = 0.5
    assert widget.result.beta == 0.5
    widget.children[5].value = "rosenbrock"
    assert widget.result.function == "rosenbrock" and widget.children[4].value == 3000
    plt.close("all")
