"""Every public function of the course's modules refuses a bad argument with a clear error.

Each case calls one function with valid arguments, then replaces ONE argument by
each value of ``BAD`` in turn. The call must either work (only where that
value is legitimately accepted, listed in ``accepts``) or raise ValueError or
TypeError whose message names the argument — never a deep error from NumPy
or PyTorch, never silence. A huge size must fail at once, not hang.
"""

import math
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from utils import activations, data, initializers, nets, optim_basics, plots, scratch, widgets
from utils.train import evaluate, train

BAD = {
    "None": None,
    "list": [1],
    "string": "x",
    "nan": math.nan,
    "inf": math.inf,
    "negative": -1,
    "zero": 0,
    "huge": 10**12,
    "wrong shape": np.zeros((2, 3, 4)),
}
#: Bad values that a plain number accepts, and those an array of numbers accepts.
NUMBER_OK = {"negative", "zero", "huge"}
ARRAY_OK = {"list", "nan", "inf", "negative", "zero", "huge", "wrong shape"}


@dataclass
class Case:
    """``call(**valid())`` works; each argument in ``valid()`` is then replaced by bad values."""

    name: str
    call: object
    valid: object
    accepts: dict = field(default_factory=dict)  # argument → labels of BAD it accepts
    errors: tuple = (ValueError, TypeError)
    says: dict = field(default_factory=dict)  # argument → the word its messages use instead


def moons():
    x, y = data.make_moons(40, noise=0.1)
    return torch.tensor(x), torch.tensor(y)


def small_mlp():
    return nets.make_mlp(2, 2, depth=1, width=4)


def trainable():
    model = small_mlp()
    return dict(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                train_data=moons(), test_data=None, epochs=1, batch_size=8, loss_fn=None,
                seed=0, progress=False, on_divergence="stop")


def scratch_mlp():
    return scratch.MLP([2, 4, 2], "tanh", seed=0)


def scratch_problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 2)), rng.integers(0, 2, 5)


def stepped_mlp(lr):
    model = scratch_mlp()
    model.loss(*scratch_problem())
    model.backward()
    model.sgd_step(lr)


def regression():
    rng = np.random.default_rng(0)
    return dict(X=rng.standard_normal((10, 2)), y=rng.standard_normal(10), w=np.zeros(2), b=0.0)


def axes():
    return plt.subplots()[1]


CASES = [
    # --- utils.nets
    Case("nets.make_activation", nets.make_activation, lambda: dict(name="relu"),
         says={"name": "activation"}),
    Case("nets.initialize_linear", nets.initialize_linear,
         lambda: dict(layer=nn.Linear(3, 2), init="he_normal", init_std=None),
         {"init_std": {"None"}}),
    Case("nets.initialize_linear(normal)", nets.initialize_linear,
         lambda: dict(layer=nn.Linear(3, 2), init="normal", init_std=0.5),
         {"init_std": {"huge"}}),
    Case("nets.make_mlp", nets.make_mlp,
         lambda: dict(in_features=3, out_features=2, depth=2, width=4, activation="relu",
                      init="default", norm=None, residual=None, init_std=None, bias=True),
         {"norm": {"None"}, "init_std": {"None"}, "residual": {"None"}}),
    Case("nets.HiddenLayer", nets.HiddenLayer,
         lambda: dict(in_features=3, out_features=4, activation="relu", norm="batch",
                      bias=True),
         {"norm": {"None"}}),
    Case("nets.Residual", nets.Residual, lambda: dict(layer=nn.Linear(3, 3))),
    Case("nets.linear_layers", nets.linear_layers, lambda: dict(model=small_mlp())),
    Case("nets.count_parameters", nets.count_parameters, lambda: dict(model=small_mlp())),
    Case("nets.canonical_init", nets.canonical_init, lambda: dict(init="kaiming_normal")),
    # --- utils.train
    Case("train.evaluate", evaluate,
         lambda: dict(model=small_mlp(), data=moons(), loss_fn=None, batch_size=8),
         {"loss_fn": {"None"}, "batch_size": {"huge"}}),
    Case("train.train", train, trainable,
         {"test_data": {"None"}, "loss_fn": {"None"}, "seed": {"None", "zero", "huge"},
          "batch_size": {"huge"}}),
    # --- utils.data
    Case("data.load_digits", data.load_digits, lambda: dict(path=None),
         {"path": {"None"}}, (ValueError, TypeError, FileNotFoundError)),
    Case("data.Split.tensors", lambda device: data.digits_split().tensors(device),
         lambda: dict(device="cpu"), {"device": {"None"}}),
    Case("data.stratified_split_indices", data.stratified_split_indices,
         lambda: dict(labels=np.arange(20) % 2, test_fraction=0.25, seed=0),
         {"labels": {"list"}, "seed": {"zero", "huge"}}),
    Case("data.standardize", data.standardize,
         lambda: dict(x_train=np.ones((4, 3)), x_test=np.ones((2, 3)))),
    Case("data.digits_split", data.digits_split,
         lambda: dict(test_fraction=0.25, standardized=True, flatten=True)),
    Case("data.make_spirals", data.make_spirals,
         lambda: dict(n_per_class=20, n_classes=2, noise=0.03, turns=1.5, seed=0),
         {"noise": {"zero", "huge"}, "turns": NUMBER_OK, "seed": {"zero", "huge"}}),
    Case("data.make_moons", data.make_moons, lambda: dict(n_samples=40, noise=0.1, seed=0),
         {"noise": {"zero", "huge"}, "seed": {"zero", "huge"}}),
    Case("data.target_curve", data.target_curve, lambda: dict(x=np.linspace(0, 1, 5)),
         {"x": ARRAY_OK}),
    Case("data.make_regression_curve", data.make_regression_curve,
         lambda: dict(n_samples=20, noise=0.1, low=-2.0, high=2.0, seed=0),
         {"noise": {"zero", "huge"}, "low": {"negative", "zero"},
          "high": {"negative", "zero", "huge"},
          "seed": {"zero", "huge"}}),
    # --- utils.scratch
    Case("scratch.Linear", scratch.Linear,
         lambda: dict(n_in=3, n_out=2, rng=None, weight_std=None, dtype=np.float64),
         {"rng": {"None"}, "weight_std": {"None", "huge"}}),
    Case("scratch.Linear.forward", lambda x: scratch.Linear(3, 2).forward(x),
         lambda: dict(x=np.zeros((4, 3)))),
    *[Case(f"scratch.{layer.__name__}.forward", lambda x, layer=layer: layer().forward(x),
           lambda: dict(x=np.zeros((4, 3))), {"x": ARRAY_OK})
      for layer in (scratch.Sigmoid, scratch.Tanh, scratch.ReLU)],
    Case("scratch.SoftmaxCrossEntropy.forward",
         lambda logits, labels: scratch.SoftmaxCrossEntropy().forward(logits, labels),
         lambda: dict(logits=np.zeros((3, 2)), labels=np.array([0, 1, 1]))),
    Case("scratch.MLP", scratch.MLP,
         lambda: dict(sizes=[2, 4, 2], activation="tanh", seed=0, dtype=np.float64),
         {"seed": {"zero", "huge"}}),
    Case("scratch.MLP.loss", lambda x, labels: scratch_mlp().loss(x, labels),
         lambda: dict(zip(("x", "labels"), scratch_problem()))),
    Case("scratch.MLP.predict", lambda x: scratch_mlp().predict(x),
         lambda: dict(x=np.zeros((3, 2)))),
    Case("scratch.MLP.sgd_step", stepped_mlp, lambda: dict(lr=0.1), {"lr": {"huge"}}),
    Case("scratch.relative_error", scratch.relative_error,
         lambda: dict(a=np.ones(3), b=np.ones(3)), {"a": {"nan", "inf"}, "b": {"nan", "inf"}}),
    Case("scratch.numerical_gradient", scratch.numerical_gradient,
         lambda: dict(loss_fn=lambda: 0.0, array=np.zeros(3), eps=1e-5),
         {"array": {"wrong shape"}}),
    Case("scratch.gradient_check", scratch.gradient_check,
         lambda: dict(model=scratch_mlp(), **dict(zip(("x", "labels"), scratch_problem())),
                      eps=1e-5)),
    Case("scratch.to_torch", scratch.to_torch, lambda: dict(model=scratch_mlp())),
    Case("scratch.torch_gradients", scratch.torch_gradients,
         lambda: dict(torch_model=scratch.to_torch(scratch_mlp()),
                      **dict(zip(("x", "labels"), scratch_problem())))),
    # --- utils.initializers
    Case("initializers.fans", initializers.fans, lambda: dict(shape=(3, 4))),
    *[Case(f"initializers.{name}", function,
           lambda: dict(shape=(3, 4), gain=1.0, rng=0),
           {"gain": {"huge"}, "rng": {"None", "zero", "huge"}})
      for name, function in initializers.INITIALIZERS.items()],
    Case("initializers.init_weights", initializers.init_weights,
         lambda: dict(shape=(3, 4), name="he_normal", gain=None, rng=0),
         {"gain": {"None", "huge"}, "rng": {"None", "zero", "huge"}}, says={"name": "init"}),
    Case("initializers.apply_init", initializers.apply_init,
         lambda: dict(model=small_mlp(), name="orthogonal", gain=None, rng=0),
         {"gain": {"None", "huge"}, "rng": {"None", "zero", "huge"}}, says={"name": "init"}),
    Case("initializers.jacobian_singular_values", initializers.jacobian_singular_values,
         lambda: dict(model=nn.Linear(3, 2), x=torch.zeros(3))),
    # --- utils.activations
    Case("activations.function", activations.function, lambda: dict(name="elu"),
         says={"name": "activation"}),
    Case("activations.derivative", activations.derivative, lambda: dict(name="elu"),
         says={"name": "activation"}),
    *[Case(f"activations.{function.__name__}", function, lambda: dict(x=np.linspace(-1, 1, 5)),
           {"x": ARRAY_OK})
      for pair in activations.ACTIVATIONS.values() for function in pair],
    *[Case(f"activations.{function.__name__}(slope)", function,
           lambda: dict(x=np.ones(3), slope=0.1), {"x": ARRAY_OK, "slope": NUMBER_OK})
      for function in (activations.leaky_relu, activations.leaky_relu_derivative)],
    *[Case(f"activations.{function.__name__}(alpha)", function,
           lambda: dict(x=np.ones(3), alpha=1.0), {"x": ARRAY_OK, "alpha": {"huge"}})
      for function in (activations.elu, activations.elu_derivative)],
    # --- utils.optim_basics
    Case("optim_basics.gradient_descent", optim_basics.gradient_descent,
         lambda: dict(grad_fn=lambda x: x, x0=1.0, lr=0.1, steps=3, momentum=0.0,
                      max_norm=1e6),
         {"x0": {"list", "negative", "zero", "huge"}, "lr": {"huge"}, "momentum": {"zero"},
          "max_norm": {"inf", "huge"}}),
    Case("optim_basics.steps_to_tolerance", optim_basics.steps_to_tolerance,
         lambda: dict(trajectory=np.array([1.0, 0.5]), minimum=0.0, tol=0.1),
         {"trajectory": {"list", "nan", "inf", "negative", "zero", "huge"},
          "minimum": NUMBER_OK, "tol": {"zero", "huge"}}),
    Case("optim_basics.quadratic", optim_basics.quadratic,
         lambda: dict(x=1.0, y=1.0, condition=100.0),
         {"x": ARRAY_OK, "y": ARRAY_OK, "condition": {"huge"}}),
    Case("optim_basics.quadratic_grad", optim_basics.quadratic_grad,
         lambda: dict(point=(1.0, 1.0), condition=100.0), {"condition": {"huge"}}),
    Case("optim_basics.rosenbrock", optim_basics.rosenbrock,
         lambda: dict(x=1.0, y=1.0, a=1.0, b=100.0),
         {"x": ARRAY_OK, "y": ARRAY_OK, "a": NUMBER_OK, "b": {"huge"}}),
    *[Case(f"optim_basics.{function.__name__}", function,
           lambda: dict(point=(1.0, 1.0), a=1.0, b=100.0), {"a": NUMBER_OK, "b": {"huge"}})
      for function in (optim_basics.rosenbrock_grad, optim_basics.rosenbrock_hessian)],
    Case("optim_basics.get_function", optim_basics.get_function, lambda: dict(name="quadratic")),
    *[Case(f"optim_basics.{function.__name__}", function, regression, {"b": NUMBER_OK})
      for function in (optim_basics.linear_mse, optim_basics.mse_gradient)],
    Case("optim_basics.minibatch_sgd", optim_basics.minibatch_sgd,
         lambda: dict(X=regression()["X"], y=regression()["y"], lr=0.1, epochs=2,
                      batch_size=4, rng=np.random.default_rng(0)),
         {"lr": {"huge"}, "batch_size": {"huge"}}),
    # --- utils.widgets
    Case("widgets.gradient_descent_explorer", widgets.gradient_descent_explorer,
         lambda: dict(lr=0.01, x0=-4.0, y0=1.0, steps=5, function="quadratic", momentum=0.0,
                      tol=1e-3, ax=None),
         {"lr": {"huge"}, "x0": NUMBER_OK, "y0": NUMBER_OK, "tol": {"zero", "huge"},
          "momentum": {"zero"}, "ax": {"None"}}),
    Case("widgets.gradient_descent_widget", widgets.gradient_descent_widget,
         lambda: dict(function="quadratic", momentum=0.0), {"momentum": {"zero"}}),
    Case("widgets.draw_contours", widgets.draw_contours,
         lambda: dict(ax=axes(), f=optim_basics.quadratic, xlim=(-1, 1), ylim=(-1, 1),
                      minimum=None, levels=5, decades=3),
         {"minimum": {"None"}}),
    Case("widgets.draw_path", widgets.draw_path,
         lambda: dict(ax=axes(), trajectory=np.zeros((3, 2)), label=None, markers=True,
                      linewidth=1.0, alpha=1.0),
         {"label": {"None", "string"}, "alpha": {"zero"}}),
    Case("widgets.gradient_norm_explorer", widgets.gradient_norm_explorer,
         lambda: dict(depth=2, activation="tanh", init="he_normal", width=8, seed=0, ax=None,
                      init_std=None),
         {"init": {"None"}, "seed": {"None", "zero", "huge"}, "ax": {"None"},
          "init_std": {"None"}}),
    # --- utils.plots
    Case("plots.plot_decision_boundary", plots.plot_decision_boundary,
         lambda: dict(ax=axes(), predict=lambda p: (p[:, 0] > 0).astype(int),
                      x=np.array([[0.0, 0.0], [1.0, 1.0]]), y=np.array([0, 1]), title="",
                      resolution=20, margin=0.1),
         {"title": {"string"}, "margin": {"zero", "huge"}}),
    Case("plots.draw_graph", plots.draw_graph,
         lambda: dict(ax=axes(), nodes={"a": (0, 0, "a"), "b": (1, 0, "b")},
                      edges=[("a", "b")], title=""),
         {"title": {"string"}}),
]


def _arguments():
    for case in CASES:
        for argument in case.valid():
            yield pytest.param(case, argument, id=f"{case.name}-{argument}")
    plt.close("all")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_every_case_works_with_its_valid_arguments():
    for case in CASES:
        case.call(**case.valid())


@pytest.mark.parametrize("case, argument", list(_arguments()))
def test_a_bad_argument_is_refused_with_its_name(case, argument):
    problems = []
    for label, bad in BAD.items():
        arguments = case.valid() | {argument: bad}
        start = time.perf_counter()
        try:
            case.call(**arguments)
        except case.errors as error:
            if case.says.get(argument, argument) not in str(error):
                problems.append(f"{label}: {type(error).__name__} without the name: {error}")
        except Exception as error:  # noqa: BLE001 (any other error is a finding)
            problems.append(f"{label}: {type(error).__name__}: {error}")
        else:
            if label not in case.accepts.get(argument, ()):
                problems.append(f"{label}: accepted silently")
        if time.perf_counter() - start > 5:
            problems.append(f"{label}: took {time.perf_counter() - start:.0f} s")
    assert not problems, f"{case.name}({argument}=...):\n" + "\n".join(problems)
