"""utils.widgets: the gradient-descent explorer (pure function) and its ipywidgets UI."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils.widgets import (
    WIDGET_DEFAULTS,
    ExplorerResult,
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
