"""utils.optimizers: the update rules and their torch wrapper; gradient descent on the 2-D
test functions; the linear-regression gradient and minibatch SGD."""

import math

import numpy as np
import pytest
import torch

from utils import optimizers as opt


def central_gradient(f, point, h=1e-6):
    point = np.asarray(point, dtype=np.float64)
    gradient = np.zeros_like(point)
    for i in range(point.size):
        step = np.zeros_like(point)
        step[i] = h
        gradient[i] = (f(*(point + step)) - f(*(point - step))) / (2 * h)
    return gradient


def test_one_dimensional_run_follows_the_formula():
    path = opt.gradient_descent(lambda x: 4.0 * x, 1.0, lr=0.2, steps=10)
    assert path.shape == (11,)
    np.testing.assert_allclose(path, (1 - 0.2 * 4.0) ** np.arange(11))


def test_vector_run_has_one_row_per_point_and_leaves_x0_alone():
    x0 = np.array([-4.0, 1.0])
    path = opt.gradient_descent(opt.quadratic_grad, x0, lr=0.01, steps=5)
    assert path.shape == (6, 2)
    np.testing.assert_array_equal(x0, [-4.0, 1.0])
    np.testing.assert_allclose(path[-1], [-4.0 * 0.99**5, 1.0 * 0.0**5])


def test_a_diverging_run_stops_early():
    path = opt.gradient_descent(lambda x: 4.0 * x, 1.0, lr=0.55, steps=1000)
    assert len(path) < 1001
    assert abs(path[-1]) > opt.DIVERGENCE_NORM and np.all(np.abs(path[:-1]) <= opt.DIVERGENCE_NORM)
    np.testing.assert_allclose(abs(path[-1] / path[-2]), 1.2)


def test_a_run_that_overflows_stops_at_the_first_non_finite_point():
    path = opt.gradient_descent(lambda x: x**3, 10.0, lr=1.0, steps=50, max_norm=math.inf)
    assert not np.isfinite(path[-1]) and np.all(np.isfinite(path[:-1]))


def test_momentum_is_the_heavy_ball_recurrence():
    grad = opt.quadratic_grad
    path = opt.gradient_descent(grad, (-4.0, 1.0), lr=0.01, steps=4, momentum=0.9)
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
        opt.gradient_descent(**arguments)


def test_steps_to_tolerance():
    assert opt.steps_to_tolerance([1.0, 0.5, 0.01, 0.001], 0.0, 0.01) == 2
    assert opt.steps_to_tolerance([1.0, 0.5], 0.0, 0.01) is None
    assert opt.steps_to_tolerance([[3.0, 4.0], [0.3, 0.4]], (0.0, 0.0), 0.5) == 1


@pytest.mark.parametrize("name", sorted(opt.FUNCTIONS))
def test_gradients_match_finite_differences_and_vanish_at_the_minimum(name):
    function = opt.FUNCTIONS[name]
    for point in [(-1.2, 1.0), (0.3, -0.7), (2.0, 0.5)]:
        np.testing.assert_allclose(function.grad(np.array(point)),
                                   central_gradient(function.f, point), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(function.grad(np.array(function.minimum)), 0.0, atol=1e-12)
    assert function.f(*function.minimum) == 0.0


@pytest.mark.parametrize("name", sorted(opt.FUNCTIONS))
def test_max_curvature_is_the_largest_hessian_eigenvalue_at_the_minimum(name):
    function = opt.FUNCTIONS[name]
    minimum, h = np.array(function.minimum), 1e-5
    hessian = np.column_stack([(function.grad(minimum + h * e) - function.grad(minimum - h * e))
                               / (2 * h) for e in np.eye(2)])
    assert np.linalg.eigvalsh(hessian)[-1] == pytest.approx(function.max_curvature, rel=1e-6)


@pytest.mark.parametrize("point", [(1.0, 1.0), (-1.5, 2.0), (4.5, 2.0), (0.3, -0.7)])
def test_rosenbrock_hessian_matches_finite_differences(point):
    h = 1e-6
    numeric = np.column_stack([(opt.rosenbrock_grad(np.array(point) + h * e)
                                - opt.rosenbrock_grad(np.array(point) - h * e)) / (2 * h)
                               for e in np.eye(2)])
    np.testing.assert_allclose(opt.rosenbrock_hessian(point), numeric, rtol=1e-5, atol=1e-3)


def test_rosenbrock_curvature_grows_away_from_the_minimum():
    largest = {point: np.linalg.eigvalsh(opt.rosenbrock_hessian(point))[-1]
               for point in [(1.0, 1.0), (-1.5, 2.0), (4.5, 2.0)]}
    assert largest[(1.0, 1.0)] < largest[(-1.5, 2.0)] < largest[(4.5, 2.0)]
    far = opt.gradient_descent(opt.rosenbrock_grad, (4.5, 2.0), lr=0.001, steps=100)
    assert len(far) <= 6  # diverged (and stopped) within 5 steps


def test_functions_work_on_grids():
    grid_x, grid_y = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3))
    for function in opt.FUNCTIONS.values():
        assert function.f(grid_x, grid_y).shape == (3, 4)


def test_unknown_function_lists_the_accepted_names():
    with pytest.raises(ValueError, match=r"Unknown function 'himmelblau'; accepted names: "
                                         r"\['quadratic', 'rosenbrock'\]"):
        opt.get_function("himmelblau")


def test_stability_limit_on_the_bowl():
    limit = 2 / opt.FUNCTIONS["quadratic"].max_curvature
    below = opt.gradient_descent(opt.quadratic_grad, (-4.0, 1.0), 0.98 * limit, steps=3000)
    above = opt.gradient_descent(opt.quadratic_grad, (-4.0, 1.0), 1.02 * limit, steps=3000)
    assert len(below) == 3001 and np.linalg.norm(below[-1]) < 1e-6
    assert len(above) < 3001


def test_mse_gradient_matches_autograd():
    rng = np.random.default_rng(0)
    X, y, w, b = rng.normal(size=(20, 3)), rng.normal(size=20), rng.normal(size=3), 0.7
    dw, db = opt.mse_gradient(X, y, w, b)
    assert dw.shape == (3,) and isinstance(db, float)
    w_t = torch.tensor(w, requires_grad=True)
    b_t = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    loss = ((torch.tensor(X) @ w_t + b_t - torch.tensor(y)) ** 2).mean()
    loss.backward()
    np.testing.assert_allclose(dw, w_t.grad.numpy(), rtol=1e-12)
    assert db == pytest.approx(b_t.grad.item(), rel=1e-12)
    assert opt.linear_mse(X, y, w, b) == pytest.approx(loss.item(), rel=1e-12)


# --- minibatch SGD for linear regression --------------------------------------------------


def regression_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, X @ np.array([1.5, -0.7]) + 0.3 + rng.normal(0, 0.1, size=n)


def test_minibatch_sgd_with_one_batch_is_full_batch_gradient_descent():
    X, y = regression_data()
    w, b, record = opt.minibatch_sgd(X, y, lr=0.1, epochs=3, batch_size=len(y),
                                    rng=np.random.default_rng(0))
    w_gd, b_gd = np.zeros(2), 0.0
    for _ in range(3):
        dw, db = opt.mse_gradient(X, y, w_gd, b_gd)
        w_gd, b_gd = w_gd - 0.1 * dw, b_gd - 0.1 * db
    np.testing.assert_allclose(w, w_gd, rtol=1e-12)
    assert b == pytest.approx(b_gd, rel=1e-12)
    assert record["params"].shape == (3, 3) and record["full_loss"].shape == (3,)
    np.testing.assert_allclose(record["params"][-1], np.append(w, b))


def test_minibatch_sgd_takes_one_step_per_minibatch_and_ends_near_least_squares():
    X, y = regression_data()
    w, b, record = opt.minibatch_sgd(X, y, lr=0.1, epochs=10, batch_size=25,
                                    rng=np.random.default_rng(1))
    assert len(record["batch_loss"]) == 10 * 5  # 120 / 25: four full minibatches and one of 20
    exact = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    assert np.linalg.norm(np.append(w, b) - exact) < 0.05
    assert record["full_loss"][-1] < 1.1 * opt.linear_mse(X, y, exact[:2], exact[2])


def test_minibatch_sgd_shuffles_with_the_given_generator():
    X, y = regression_data()
    runs = [opt.minibatch_sgd(X, y, 0.1, 2, 10, np.random.default_rng(seed))[2]["params"]
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
        opt.minibatch_sgd(X, y, **arguments)


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
                dw, db = opt.mse_gradient(X[batch], y[batch], w, b)
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
    for function in (opt.linear_mse, opt.mse_gradient):
        with pytest.raises(ValueError, match=r"y must have shape .*use y.ravel\(\)"):
            function(X, y[:, None], w, 0.0)
    with pytest.raises(ValueError, match="y must have shape"):
        opt.minibatch_sgd(X, y[:, None], 0.1, 1, 10, np.random.default_rng(0))


def test_a_converging_run_from_far_away_is_not_stopped():
    path = opt.gradient_descent(lambda x: x, 1e7, lr=0.5, steps=30)
    assert len(path) == 31 and abs(path[-1]) < 1e-1


def test_steps_are_capped():
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 100,000"):
        opt.gradient_descent(lambda x: x, 1.0, lr=0.1, steps=10**7)


# --- the update rules and RuleOptimizer ---------------------------------------------------


def small_problem(dtype=torch.float32):
    """A small tanh net and a fixed batch (the same for every call)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 5, generator=generator, dtype=dtype)
    y = torch.randint(0, 3, (32,), generator=generator)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    return model.to(dtype), x, y


def run_steps(model, optimizer, x, y, steps):
    """Full-batch steps on a cross-entropy loss; the parameters after every step."""
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        path.append(torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()]))
    return torch.stack(path)


TORCH_TWINS = [
    # (rule, hyper-parameters, torch's optimizer with the same settings)
    ("sgd", dict(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    ("sgd", dict(lr=0.1, weight_decay=0.01),
     lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01)),
    ("momentum", dict(lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("momentum", dict(lr=0.05, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("rmsprop", dict(lr=0.003), lambda p: torch.optim.RMSprop(p, lr=0.003)),
    ("rmsprop", dict(lr=0.003, alpha=0.9, eps=1e-6),
     lambda p: torch.optim.RMSprop(p, lr=0.003, alpha=0.9, eps=1e-6)),
    ("adam", dict(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    ("adam", dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.001),
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.001)),
    ("adagrad", dict(lr=0.05), lambda p: torch.optim.Adagrad(p, lr=0.05)),
    ("adagrad", dict(lr=0.05, eps=1e-6, weight_decay=0.01),
     lambda p: torch.optim.Adagrad(p, lr=0.05, eps=1e-6, weight_decay=0.01)),
    ("adamw", dict(lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    ("adamw", dict(lr=0.01, beta1=0.8, weight_decay=0.5),
     lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.999), weight_decay=0.5)),
    ("textbook_momentum", dict(lr=0.05, momentum=0.9),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
]


def lockstep_gap(name, hyper, twin, steps=300):
    """The largest difference between our step and torch's, over ``steps`` steps.

    Both start every step from torch's weights (copied into ours) and keep their own
    state: training a net is chaotic, and a 1e-15 nudge to the weights alone grows to
    1e-4 within 300 RMSprop steps (measured), so free-running paths cannot be compared
    at 1e-6. The states (momentum, averages, step count) are never synchronised, so a
    wrong state update still shows.
    """
    theirs, x, y = small_problem()
    ours, _, _ = small_problem()
    their_optimizer = twin(theirs.parameters())
    our_optimizer = opt.RuleOptimizer(ours.parameters(), name, **hyper)
    gap, start = 0.0, [p.detach().clone() for p in theirs.parameters()]
    for _ in range(steps):
        with torch.no_grad():
            for mine, reference in zip(ours.parameters(), theirs.parameters()):
                mine.copy_(reference)
        after = [run_steps(model, optimizer, x, y, 1)[0]
                 for model, optimizer in ((theirs, their_optimizer), (ours, our_optimizer))]
        gap = max(gap, (after[0] - after[1]).abs().max().item())
    moved = max((p.detach() - p0).abs().max().item()
                for p, p0 in zip(theirs.parameters(), start))
    return gap, moved


@pytest.mark.parametrize("name, hyper, twin", TORCH_TWINS)
def test_each_wrapped_rule_matches_torch_optim_step_for_step(name, hyper, twin):
    gap, moved = lockstep_gap(name, hyper, twin)
    assert moved > 0.1  # the weights travelled far
    assert gap < 1e-6


def test_make_optimizer_is_the_rule_of_that_name():
    model, _, _ = small_problem()
    optimizer = opt.make_optimizer("adam", model.parameters(), lr=0.01)
    assert optimizer.rule is opt.adam_rule and optimizer.param_groups[0]["lr"] == 0.01
    assert optimizer.param_groups[0]["beta2"] == 0.999  # the defaults are filled in
    assert "adam_rule" in repr(optimizer)


@pytest.mark.parametrize("name", sorted(opt.RULES))
def test_rules_are_pure_and_agree_on_numpy_and_torch(name):
    rule = opt.RULES[name]
    rng = np.random.default_rng(0)
    param, state = rng.normal(size=4), {}
    tensor_param, tensor_state = torch.tensor(param), {}
    for _ in range(5):
        grad = rng.normal(size=4)
        param_before, grad_before = param.copy(), grad.copy()
        state_before = {key: np.copy(value) for key, value in state.items()}
        new_param, new_state = rule(param, grad, state, lr=0.1)
        np.testing.assert_array_equal(param, param_before)  # nothing changed in place
        np.testing.assert_array_equal(grad, grad_before)
        assert state.keys() == state_before.keys()
        for key in state:
            np.testing.assert_array_equal(state[key], state_before[key])
        tensor_param, tensor_state = rule(tensor_param, torch.tensor(grad), tensor_state, lr=0.1)
        param, state = new_param, new_state
        np.testing.assert_allclose(tensor_param.numpy(), param, rtol=1e-12)
    assert not np.allclose(param, rng.normal(size=4))


def test_the_first_adam_step_has_size_lr_in_every_coordinate():
    # with bias correction, m̂ = g and v̂ = g², so the step is lr · g / |g|: forgetting the
    # correction makes it 10× smaller (m is 0.1·g); this is what the paper's correction is for
    param, _ = opt.adam_rule(np.zeros(3), np.array([1e-2, -2.0, 50.0]), {}, lr=0.1)
    np.testing.assert_allclose(param, [-0.1, 0.1, -0.1], rtol=1e-5)  # eps: 1e-6 relative


def test_rmsprop_and_adam_keep_their_state_between_steps():
    _, state = opt.rmsprop_rule(np.zeros(2), np.ones(2), {}, lr=0.1, alpha=0.5)
    _, state = opt.rmsprop_rule(np.zeros(2), np.ones(2), state, lr=0.1, alpha=0.5)
    np.testing.assert_allclose(state["square_avg"], [0.75, 0.75])
    _, state = opt.adam_rule(np.zeros(2), np.ones(2), {}, lr=0.1)
    _, state = opt.adam_rule(np.zeros(2), np.ones(2), state, lr=0.1)
    assert state["t"] == 2
    np.testing.assert_allclose(state["m"], [0.19, 0.19])


def test_a_rule_written_from_scratch_trains_a_net_through_train():
    from utils.train import train

    def sign_rule(param, grad, state, lr=0.01):
        return param - lr * torch.sign(grad), state

    model, x, y = small_problem()
    optimizer = opt.RuleOptimizer(model.parameters(), sign_rule, lr=0.01)
    history = train(model, optimizer, (x, y), epochs=60, batch_size=32, seed=0,
                    progress=False)
    assert history.train_loss[-1] < 0.7 * history.train_loss[0]


def test_gradflow_records_update_ratios_with_a_rule_optimizer():
    from utils.gradflow import GradFlow

    ratios = []
    for make in (lambda p: torch.optim.Adam(p, lr=0.01),
                 lambda p: opt.RuleOptimizer(p, "adam", lr=0.01)):
        model, x, y = small_problem()
        optimizer = make(model.parameters())
        with GradFlow(model, optimizer) as flow:
            run_steps(model, optimizer, x, y, 3)
        ratios.append(flow.update_ratios())
    theirs, ours = ratios
    assert ours.keys() == theirs.keys() and len(ours) == 2
    for name in theirs:
        assert len(ours[name]) == 3 and all(value > 0 for value in ours[name])
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4)


def test_a_learning_rate_scheduler_drives_a_rule_optimizer():
    model, x, y = small_problem()
    optimizer = opt.RuleOptimizer(model.parameters(), "sgd", lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    run_steps(model, optimizer, x, y, 1)
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_the_closure_is_called_and_its_loss_returned():
    model, x, y = small_problem()
    optimizer = opt.RuleOptimizer(model.parameters(), "sgd", lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    assert optimizer.step(closure) > 0


@pytest.mark.parametrize("rule, hyper, message", [
    ("adam", dict(betas=(0.9, 0.99)), "Unknown hyper-parameter 'betas' for adam_rule; accepted: "
                                      "lr, beta1, beta2, eps, weight_decay"),
    ("adam", dict(beta1=1.0), r"beta1 must be a number in \[0, 1\)"),
    ("momentum", dict(momentum=-0.1), "momentum must be a number ≥ 0"),
    ("rmsprop", dict(eps=0), "eps must be positive"),
    ("sgd", dict(lr=-0.1), "lr must be positive"),
    ("sgd", dict(lr=math.nan), "lr must be a finite number"),
    ("momentum", dict(nesterov="yes"), "nesterov must be True or False"),
    ("lion", dict(lr=0.1), "rule must be an update rule .* or one of the names"),
    (42, dict(lr=0.1), "rule must be an update rule"),
    (lambda param, grad: param, dict(), r"rule must take \(param, grad, state"),
    (lambda param, grad, state, lr: (param, state), dict(), "needs a value for 'lr'"),
])
def test_bad_rules_and_hyper_parameters_are_explained(rule, hyper, message):
    model, _, _ = small_problem()
    with pytest.raises(ValueError, match=message):
        opt.RuleOptimizer(model.parameters(), rule, **hyper)


@pytest.mark.parametrize("params", [None, 3, "weights", torch.zeros(3), [1.0, 2.0]])
def test_params_that_are_not_parameters_are_explained(params):
    with pytest.raises(ValueError, match="params must be the parameters to train"):
        opt.RuleOptimizer(params, "sgd", lr=0.1)


def test_make_optimizer_lists_the_names():
    with pytest.raises(ValueError, match="Unknown name 'lion'; accepted: 'sgd', 'momentum'"):
        opt.make_optimizer("lion", small_problem()[0].parameters())


@pytest.mark.parametrize("name, hyper", [("momentum", dict(lr=0.01, momentum=0.9)),
                                         ("rmsprop", dict(lr=0.01)), ("adam", dict(lr=0.05))])
def test_optimize_runs_every_rule_on_the_bowl(name, hyper):
    path = opt.optimize(opt.quadratic_grad, (-4.0, 1.0), name, steps=2000, **hyper)
    assert path.shape == (2001, 2)
    assert np.linalg.norm(path[-1]) < 0.05 < np.linalg.norm(path[0])


def test_gradient_descent_is_the_sgd_and_momentum_rules():
    for momentum, rule, hyper in ((0.0, "sgd", {}), (0.9, "momentum", dict(momentum=0.9))):
        np.testing.assert_array_equal(
            opt.gradient_descent(opt.rosenbrock_grad, (-1.5, 2.0), 0.001, 300, momentum=momentum),
            opt.optimize(opt.rosenbrock_grad, (-1.5, 2.0), rule, 300, lr=0.001, **hyper))



# --- notebook 07: every rule free-running against its torch twin in float64 ---------------

FLOAT64_SETTINGS = [
    ("sgd", dict(lr=0.1)), ("momentum", dict(lr=0.05, momentum=0.9)),
    ("momentum", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("textbook_momentum", dict(lr=0.05, momentum=0.9)), ("adagrad", dict(lr=0.05)),
    ("rmsprop", dict(lr=0.003)), ("adam", dict(lr=0.01)),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
]


def float64_problem():
    """A 64-32-10 tanh net in float64 and a fixed batch of 128 (the same for every call)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(128, 64, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 10, (128,), generator=generator)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                                torch.nn.Linear(32, 10)).double()
    return model, x, y


@pytest.mark.parametrize("name, hyper", FLOAT64_SETTINGS)
def test_each_rule_follows_its_torch_twin_for_150_float64_steps(name, hyper):
    ours, x, y = float64_problem()
    theirs, _, _ = float64_problem()
    start = [p.detach().clone() for p in ours.parameters()]
    path_ours = run_steps(ours, opt.RuleOptimizer(ours.parameters(), name, **hyper), x, y, 150)
    path_theirs = run_steps(theirs, opt.torch_twin(name, theirs.parameters(), **hyper), x, y,
                            150)
    assert (path_ours - path_theirs).abs().max().item() < 1e-10
    assert max((p.detach() - p0).abs().max().item()
               for p, p0 in zip(ours.parameters(), start)) > 0.05


def test_torch_twin_translates_the_names():
    model, _, _ = small_problem()
    adam = opt.torch_twin("adam", model.parameters(), lr=0.01, beta1=0.8)
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["betas"] == (0.8, 0.999)
    assert isinstance(opt.torch_twin("adamw", model.parameters()), torch.optim.AdamW)
    assert opt.torch_twin("adamw", model.parameters()).defaults["weight_decay"] == 0.01
    nesterov = opt.torch_twin("momentum", model.parameters(), lr=0.1, nesterov=True)
    assert nesterov.defaults["nesterov"] and nesterov.defaults["momentum"] == 0.9
    with pytest.raises(ValueError, match="Unknown name 'lion'"):
        opt.torch_twin("lion", model.parameters())
    with pytest.raises(ValueError, match="beta1 must be a number in"):
        opt.torch_twin("adam", model.parameters(), beta1=1.0)


def test_textbook_momentum_equals_torchs_until_the_learning_rate_changes():
    grads = [np.array([1.0, -2.0]), np.array([0.5, 0.5]), np.array([-1.0, 3.0])]
    ours, theirs, state_o, state_t = np.zeros(2), np.zeros(2), {}, {}
    for g in grads:
        ours, state_o = opt.textbook_momentum_rule(ours, g, state_o, lr=0.1, momentum=0.9)
        theirs, state_t = opt.momentum_rule(theirs, g, state_t, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)
    np.testing.assert_allclose(state_o["velocity"], 0.1 * state_t["velocity"], rtol=1e-14)
    # the rate drops tenfold: PyTorch's step shrinks at once, the textbook velocity keeps
    # 0.9 of its old steps
    g = np.zeros(2)
    ours, _ = opt.textbook_momentum_rule(ours, g, state_o, lr=0.01, momentum=0.9)
    new_theirs, _ = opt.momentum_rule(theirs, g, state_t, lr=0.01, momentum=0.9)
    step_o = ours - theirs
    step_t = new_theirs - theirs
    np.testing.assert_allclose(step_o, 10 * step_t, rtol=1e-12)


def test_adagrad_divides_by_the_root_of_the_sum_of_squares():
    param, state = opt.adagrad_rule(np.zeros(2), np.array([3.0, 4.0]), {}, lr=1.0, eps=0.0)
    np.testing.assert_allclose(param, [-1.0, -1.0])
    param, state = opt.adagrad_rule(param, np.array([4.0, 3.0]), state, lr=1.0, eps=0.0)
    np.testing.assert_allclose(state["sum"], [25.0, 25.0])
    np.testing.assert_allclose(param, [-1.8, -1.6])
    assert state["t"] == 2


def test_adamw_decays_the_weights_apart_from_the_gradient():
    param = np.array([2.0, -4.0])
    decayed, _ = opt.adamw_rule(param, np.zeros(2), {}, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(decayed, param * (1 - 0.05))  # a zero gradient: decay only
    coupled, _ = opt.adam_rule(param, np.zeros(2), {}, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(np.abs(coupled - param), [0.1, 0.1], rtol=1e-6)  # ± lr
