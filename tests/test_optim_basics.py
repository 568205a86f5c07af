"""utils.optim_basics: gradient descent, the test functions and the linear-regression gradient."""

import math

import numpy as np
import pytest
import torch

from utils import optim_basics as ob


def central_gradient(f, point, h=1e-6):
    point = np.asarray(point, dtype=np.float64)
    gradient = np.zeros_like(point)
    for i in range(point.size):
        step = np.zeros_like(point)
        step[i] = h
        gradient[i] = (f(*(point + step)) - f(*(point - step))) / (2 * h)
    return gradient


def test_one_dimensional_run_follows_the_formula():
    path = ob.gradient_descent(lambda x: 4.0 * x, 1.0, lr=0.2, steps=10)
    assert path.shape == (11,)
    np.testing.assert_allclose(path, (1 - 0.2 * 4.0) ** np.arange(11))


def test_vector_run_has_one_row_per_point_and_leaves_x0_alone():
    x0 = np.array([-4.0, 1.0])
    path = ob.gradient_descent(ob.quadratic_grad, x0, lr=0.01, steps=5)
    assert path.shape == (6, 2)
    np.testing.assert_array_equal(x0, [-4.0, 1.0])
    np.testing.assert_allclose(path[-1], [-4.0 * 0.99**5, 1.0 * 0.0**5])


def test_a_diverging_run_stops_early():
    path = ob.gradient_descent(lambda x: 4.0 * x, 1.0, lr=0.55, steps=1000)
    assert len(path) < 1001
    assert abs(path[-1]) > ob.DIVERGENCE_NORM and np.all(np.abs(path[:-1]) <= ob.DIVERGENCE_NORM)
    np.testing.assert_allclose(abs(path[-1] / path[-2]), 1.2)


def test_a_run_that_overflows_stops_at_the_first_non_finite_point():
    path = ob.gradient_descent(lambda x: x**3, 10.0, lr=1.0, steps=50, max_norm=math.inf)
    assert not np.isfinite(path[-1]) and np.all(np.isfinite(path[:-1]))


def test_momentum_is_the_heavy_ball_recurrence():
    grad = ob.quadratic_grad
    path = ob.gradient_descent(grad, (-4.0, 1.0), lr=0.01, steps=4, momentum=0.9)
    x, v = np.array([-4.0, 1.0]), np.zeros(2)
    for row in path[1:]:
        v = 0.9 * v + grad(x)
        x = x - 0.01 * v
        np.testing.assert_allclose(row, x)


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"lr": math.inf}, "lr must be a finite number"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"lr": -0.1}, "lr must be positive"),
    ({"lr": "0.1"}, "lr must be a finite number"),
    ({"steps": 0}, "steps must be a whole number ≥ 1"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"steps": True}, "steps must be a whole number"),
    ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
    ({"momentum": -0.1}, "momentum must be"),
    ({"x0": float("nan")}, "x0 must be a finite number"),
    ({"x0": np.ones((2, 2))}, "x0 must be a finite number or a 1-D vector"),
])
def test_bad_arguments_are_explained(kwargs, message):
    arguments = {"grad_fn": lambda x: x, "x0": 1.0, "lr": 0.1, "steps": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        ob.gradient_descent(**arguments)


def test_steps_to_tolerance():
    assert ob.steps_to_tolerance([1.0, 0.5, 0.01, 0.001], 0.0, 0.01) == 2
    assert ob.steps_to_tolerance([1.0, 0.5], 0.0, 0.01) is None
    assert ob.steps_to_tolerance([[3.0, 4.0], [0.3, 0.4]], (0.0, 0.0), 0.5) == 1


@pytest.mark.parametrize("name", sorted(ob.FUNCTIONS))
def test_gradients_match_finite_differences_and_vanish_at_the_minimum(name):
    function = ob.FUNCTIONS[name]
    for point in [(-1.2, 1.0), (0.3, -0.7), (2.0, 0.5)]:
        np.testing.assert_allclose(function.grad(np.array(point)),
                                   central_gradient(function.f, point), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(function.grad(np.array(function.minimum)), 0.0, atol=1e-12)
    assert function.f(*function.minimum) == 0.0


@pytest.mark.parametrize("name", sorted(ob.FUNCTIONS))
def test_max_curvature_is_the_largest_hessian_eigenvalue_at_the_minimum(name):
    function = ob.FUNCTIONS[name]
    minimum, h = np.array(function.minimum), 1e-5
    hessian = np.column_stack([(function.grad(minimum + h * e) - function.grad(minimum - h * e))
                               / (2 * h) for e in np.eye(2)])
    assert np.linalg.eigvalsh(hessian)[-1] == pytest.approx(function.max_curvature, rel=1e-6)


@pytest.mark.parametrize("point", [(1.0, 1.0), (-1.5, 2.0), (4.5, 2.0), (0.3, -0.7)])
def test_rosenbrock_hessian_matches_finite_differences(point):
    h = 1e-6
    numeric = np.column_stack([(ob.rosenbrock_grad(np.array(point) + h * e)
                                - ob.rosenbrock_grad(np.array(point) - h * e)) / (2 * h)
                               for e in np.eye(2)])
    np.testing.assert_allclose(ob.rosenbrock_hessian(point), numeric, rtol=1e-5, atol=1e-3)


def test_rosenbrock_curvature_grows_away_from_the_minimum():
    largest = {point: np.linalg.eigvalsh(ob.rosenbrock_hessian(point))[-1]
               for point in [(1.0, 1.0), (-1.5, 2.0), (4.5, 2.0)]}
    assert largest[(1.0, 1.0)] < largest[(-1.5, 2.0)] < largest[(4.5, 2.0)]
    far = ob.gradient_descent(ob.rosenbrock_grad, (4.5, 2.0), lr=0.001, steps=100)
    assert len(far) <= 6  # diverged (and stopped) within 5 steps


def test_functions_work_on_grids():
    grid_x, grid_y = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3))
    for function in ob.FUNCTIONS.values():
        assert function.f(grid_x, grid_y).shape == (3, 4)


def test_unknown_function_lists_the_accepted_names():
    with pytest.raises(ValueError, match=r"Unknown function 'himmelblau'; accepted names: "
                                         r"\['quadratic', 'rosenbrock'\]"):
        ob.get_function("himmelblau")


def test_stability_limit_on_the_bowl():
    limit = 2 / ob.FUNCTIONS["quadratic"].max_curvature
    below = ob.gradient_descent(ob.quadratic_grad, (-4.0, 1.0), 0.98 * limit, steps=3000)
    above = ob.gradient_descent(ob.quadratic_grad, (-4.0, 1.0), 1.02 * limit, steps=3000)
    assert len(below) == 3001 and np.linalg.norm(below[-1]) < 1e-6
    assert len(above) < 3001


def test_mse_gradient_matches_autograd():
    rng = np.random.default_rng(0)
    X, y, w, b = rng.normal(size=(20, 3)), rng.normal(size=20), rng.normal(size=3), 0.7
    dw, db = ob.mse_gradient(X, y, w, b)
    assert dw.shape == (3,) and isinstance(db, float)
    w_t = torch.tensor(w, requires_grad=True)
    b_t = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    loss = ((torch.tensor(X) @ w_t + b_t - torch.tensor(y)) ** 2).mean()
    loss.backward()
    np.testing.assert_allclose(dw, w_t.grad.numpy(), rtol=1e-12)
    assert db == pytest.approx(b_t.grad.item(), rel=1e-12)
    assert ob.linear_mse(X, y, w, b) == pytest.approx(loss.item(), rel=1e-12)


# --- minibatch SGD for linear regression --------------------------------------------------


def regression_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, X @ np.array([1.5, -0.7]) + 0.3 + rng.normal(0, 0.1, size=n)


def test_minibatch_sgd_with_one_batch_is_full_batch_gradient_descent():
    X, y = regression_data()
    w, b, record = ob.minibatch_sgd(X, y, lr=0.1, epochs=3, batch_size=len(y),
                                    rng=np.random.default_rng(0))
    w_gd, b_gd = np.zeros(2), 0.0
    for _ in range(3):
        dw, db = ob.mse_gradient(X, y, w_gd, b_gd)
        w_gd, b_gd = w_gd - 0.1 * dw, b_gd - 0.1 * db
    np.testing.assert_allclose(w, w_gd, rtol=1e-12)
    assert b == pytest.approx(b_gd, rel=1e-12)
    assert record["params"].shape == (3, 3) and record["full_loss"].shape == (3,)
    np.testing.assert_allclose(record["params"][-1], np.append(w, b))


def test_minibatch_sgd_takes_one_step_per_minibatch_and_ends_near_least_squares():
    X, y = regression_data()
    w, b, record = ob.minibatch_sgd(X, y, lr=0.1, epochs=10, batch_size=25,
                                    rng=np.random.default_rng(1))
    assert len(record["batch_loss"]) == 10 * 5  # 120 / 25: four full minibatches and one of 20
    exact = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    assert np.linalg.norm(np.append(w, b) - exact) < 0.05
    assert record["full_loss"][-1] < 1.1 * ob.linear_mse(X, y, exact[:2], exact[2])


def test_minibatch_sgd_shuffles_with_the_given_generator():
    X, y = regression_data()
    runs = [ob.minibatch_sgd(X, y, 0.1, 2, 10, np.random.default_rng(seed))[2]["params"]
            for seed in (0, 0, 1)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0.0}, "lr must be positive"),
    ({"epochs": 0}, "epochs must be a whole number ≥ 1"),
    ({"batch_size": 2.5}, "batch_size must be a whole number"),
])
def test_minibatch_sgd_bad_arguments(kwargs, message):
    X, y = regression_data()
    arguments = {"lr": 0.1, "epochs": 1, "batch_size": 10, "rng": np.random.default_rng(0),
                 **kwargs}
    with pytest.raises(ValueError, match=message):
        ob.minibatch_sgd(X, y, **arguments)


# --- notebook 01's exercise checks accept correct answers in any reasonable form ----------
# (tests/test_exercises.py runs the reference solutions and the typical wrong answers)


def test_check_1_1_accepts_float32_and_torch_answers():
    from utils.exercises import check

    def float32_step(grad_fn, x, lr):
        return np.float32(x) - np.float32(lr) * np.asarray(grad_fn(x), dtype=np.float32)

    def torch_step(grad_fn, x, lr):
        return torch.as_tensor(x, dtype=torch.float32) - lr * torch.as_tensor(
            grad_fn(x), dtype=torch.float32)

    for answer in (float32_step, torch_step):
        feedback = check("1.1", answer)
        assert feedback.correct, feedback.text()


def test_check_1_2_names_the_slip_accurately():
    from utils.exercises import check

    assert check("1.2", lambda c: 2 / np.max(c)).correct
    assert check("1.2", lambda c: 2 / sorted(c)[-1]).correct
    assert "median" in check("1.2", lambda c: 2 / np.median(c)).message
    assert "mean" in check("1.2", lambda c: 2 / np.mean(c)).message
    assert "position" in check("1.2", lambda c: 2 / c[-1]).message


def test_check_1_3_explains_none_and_a_returned_loss():
    from utils.exercises import check

    def loss(X, y, w, b):
        return np.mean((X @ w + b - y) ** 2)

    assert "did you forget to compute it" in check("1.3", lambda X, y, w, b: (None, None)).message
    assert "db is None" in check("1.3", lambda X, y, w, b: (X.T @ y, None)).message
    assert "the loss L itself" in check("1.3", loss).message


def test_check_1_4_accepts_other_correct_loops():
    from utils.exercises import check

    def shuffled_in_place(X, y, lr, epochs, batch_size, rng):
        w, b = np.zeros(X.shape[1]), 0.0
        order = np.arange(len(y))
        for _ in range(epochs):
            rng.shuffle(order)
            for batch in np.split(order, len(y) // batch_size):
                dw, db = ob.mse_gradient(X[batch], y[batch], w, b)
                w, b = w - lr * dw, b - lr * db
        return w, b

    def in_torch(X, y, lr, epochs, batch_size, rng):
        X_t, y_t = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        w = torch.zeros(X.shape[1], requires_grad=True)
        b = torch.zeros((), requires_grad=True)
        for _ in range(epochs):
            for batch in torch.as_tensor(rng.permutation(len(y))).split(batch_size):
                loss = ((X_t[batch] @ w + b - y_t[batch]) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    w -= lr * w.grad
                    b -= lr * b.grad
                w.grad, b.grad = None, None
        return w.detach(), b.detach()

    for answer in (shuffled_in_place, in_torch):
        feedback = check("1.4", answer)
        assert feedback.correct, feedback.text()


def test_a_column_target_is_refused_instead_of_broadcast():
    X, y = regression_data()
    w = np.zeros(X.shape[1])
    for function in (ob.linear_mse, ob.mse_gradient):
        with pytest.raises(ValueError, match=r"y must have shape .*use y.ravel\(\)"):
            function(X, y[:, None], w, 0.0)
    with pytest.raises(ValueError, match="y must have shape"):
        ob.minibatch_sgd(X, y[:, None], 0.1, 1, 10, np.random.default_rng(0))


def test_a_converging_run_from_far_away_is_not_stopped():
    path = ob.gradient_descent(lambda x: x, 1e7, lr=0.5, steps=30)
    assert len(path) == 31 and abs(path[-1]) < 1e-1


def test_steps_are_capped():
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 100,000"):
        ob.gradient_descent(lambda x: x, 1.0, lr=0.1, steps=10**7)
