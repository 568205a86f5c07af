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

from utils import (
    activations,
    backprop,
    data,
    diagnosis,
    initializers,
    nets,
    optimizers,
    plots,
    widgets,
)
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
                seed=0, progress=False, on_divergence="stop", on_step=None, clip_norm=None,
                clip_value=None, drop_last=None)


def trained_history():
    return train(**trainable())


def square_gradient(point):
    return 2 * np.asarray(point, dtype=float)


def backprop_mlp():
    return backprop.MLP([2, 4, 2], "tanh", seed=0)


def backprop_problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 2)), rng.integers(0, 2, 5)


def stepped_mlp(lr):
    model = backprop_mlp()
    model.loss(*backprop_problem())
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
          "batch_size": {"huge"}, "on_step": {"None"}, "clip_norm": {"None", "huge"},
          "clip_value": {"None", "huge"}, "drop_last": {"None"}}),
    # --- utils.nets (the builders of issue 9)
    Case("nets.make_mlp(options)", nets.make_mlp,
         lambda: dict(in_features=3, out_features=2, depth=3, width=4, activation="leaky_relu",
                      activation_options={"negative_slope": 0.2}, init="he_normal", gain=1.0,
                      output_init="xavier_uniform", output_gain=1.0, seed=0, dropout=0.1,
                      norm="batch", norm_position="after", residual="pre", block_layers=2,
                      final_activation=True),
         {"activation_options": {"None"}, "gain": {"None", "huge"}, "output_init": {"None"},
          "output_gain": {"None", "huge"},
          "seed": {"None", "zero", "huge"}, "dropout": {"zero"}, "norm": {"None"},
          "residual": {"None"}}),
    Case("nets.make_convnet", nets.make_convnet,
         lambda: dict(out_features=10, channels=(2, 3), activation="relu", init="he_normal",
                      norm="batch", dropout=0.1, residual="post", output_init="orthogonal",
                      output_gain=1.0, norm_position="after", seed=0),
         {"norm": {"None"}, "dropout": {"zero"}, "seed": {"None", "zero", "huge"},
          "residual": {"None"}, "output_init": {"None"}, "output_gain": {"None", "huge"}}),
    Case("nets.make_sequence_model", nets.make_sequence_model,
         lambda: dict(kind="lstm", input_size=2, hidden_size=3, output_size=1, num_layers=2,
                      forget_bias=1.0, dropout=0.1, recurrent_init="orthogonal",
                      recurrent_gain=1.0, seed=0),
         {"forget_bias": {"None", "negative", "zero", "huge"}, "dropout": {"zero"},
          "recurrent_gain": {"None", "huge"},
          "seed": {"None", "zero", "huge"}}),
    Case("nets.hidden_layers", nets.hidden_layers, lambda: dict(model=small_mlp())),
    Case("nets.set_forget_bias", nets.set_forget_bias,
         lambda: dict(lstm=nn.LSTM(2, 3), value=1.0), {"value": NUMBER_OK},
         says={"value": "forget_bias"}),
    # --- utils.diagnosis
    Case("diagnosis.diagnose_run", diagnosis.diagnose_run,
         lambda: dict(history=trained_history(), flow=None), {"flow": {"None"}}),
    # --- utils.optimizers (the pure rules and their torch wrapper)
    Case("optimizers.optimize", optimizers.optimize,
         lambda: dict(grad_fn=square_gradient, x0=(1.0, 1.0), rule="adam", steps=3, lr=0.1),
         {"x0": {"list"} | NUMBER_OK, "max_norm": {"huge"}, "lr": {"huge"}}),
    Case("optimizers.RuleOptimizer", optimizers.RuleOptimizer,
         lambda: dict(params=small_mlp().parameters(), rule="momentum", lr=0.1, momentum=0.9),
         {"lr": {"huge"}, "momentum": {"zero"}}),
    Case("optimizers.make_optimizer", optimizers.make_optimizer,
         lambda: dict(name="rmsprop", params=small_mlp().parameters(), lr=0.01),
         {"lr": {"huge"}}),
    # --- utils.data
    Case("data.load_digits", data.load_digits, lambda: dict(path=None),
         {"path": {"None"}}, (ValueError, TypeError, FileNotFoundError)),
    Case("data.Split.tensors", lambda device: data.digits_split().tensors(device),
         lambda: dict(device="cpu"), {"device": {"None"}}),
    Case("data.stratified_split_indices", data.stratified_split_indices,
         lambda: dict(labels=np.arange(20) % 2, test_fraction=0.25, seed=0),
         {"labels": {"list"}, "seed": {"zero", "huge"}}),
    Case("data.make_adding_problem", data.make_adding_problem,
         lambda: dict(n=4, length=5, seed=0), {"seed": {"zero", "huge"}}),
    Case("data.make_first_symbol_task", data.make_first_symbol_task,
         lambda: dict(n=4, length=5, n_symbols=3, seed=0), {"seed": {"zero", "huge"}}),
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
    # --- utils.backprop
    Case("backprop.Linear", backprop.Linear,
         lambda: dict(n_in=3, n_out=2, rng=None, weight_std=None, dtype=np.float64),
         {"rng": {"None"}, "weight_std": {"None", "huge"}}),
    Case("backprop.Linear.forward", lambda x: backprop.Linear(3, 2).forward(x),
         lambda: dict(x=np.zeros((4, 3)))),
    *[Case(f"backprop.{layer.__name__}.forward", lambda x, layer=layer: layer().forward(x),
           lambda: dict(x=np.zeros((4, 3))), {"x": ARRAY_OK})
      for layer in (backprop.Sigmoid, backprop.Tanh, backprop.ReLU)],
    Case("backprop.SoftmaxCrossEntropy.forward",
         lambda logits, labels: backprop.SoftmaxCrossEntropy().forward(logits, labels),
         lambda: dict(logits=np.zeros((3, 2)), labels=np.array([0, 1, 1]))),
    Case("backprop.MLP", backprop.MLP,
         lambda: dict(sizes=[2, 4, 2], activation="tanh", seed=0, dtype=np.float64),
         {"seed": {"zero", "huge"}}),
    Case("backprop.MLP.loss", lambda x, labels: backprop_mlp().loss(x, labels),
         lambda: dict(zip(("x", "labels"), backprop_problem()))),
    Case("backprop.MLP.predict", lambda x: backprop_mlp().predict(x),
         lambda: dict(x=np.zeros((3, 2)))),
    Case("backprop.MLP.sgd_step", stepped_mlp, lambda: dict(lr=0.1), {"lr": {"huge"}}),
    Case("backprop.relative_error", backprop.relative_error,
         lambda: dict(a=np.ones(3), b=np.ones(3)), {"a": {"nan", "inf"}, "b": {"nan", "inf"}}),
    Case("backprop.numerical_gradient", backprop.numerical_gradient,
         lambda: dict(loss_fn=lambda: 0.0, array=np.zeros(3), eps=1e-5),
         {"array": {"wrong shape"}}),
    Case("backprop.gradient_check", backprop.gradient_check,
         lambda: dict(model=backprop_mlp(), **dict(zip(("x", "labels"), backprop_problem())),
                      eps=1e-5)),
    Case("backprop.to_torch", backprop.to_torch, lambda: dict(model=backprop_mlp())),
    Case("backprop.torch_gradients", backprop.torch_gradients,
         lambda: dict(torch_model=backprop.to_torch(backprop_mlp()),
                      **dict(zip(("x", "labels"), backprop_problem())))),
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
    # --- utils.optimizers
    Case("optimizers.gradient_descent", optimizers.gradient_descent,
         lambda: dict(grad_fn=lambda x: x, x0=1.0, lr=0.1, steps=3, momentum=0.0,
                      max_norm=1e6),
         {"x0": {"list", "negative", "zero", "huge"}, "lr": {"huge"}, "momentum": {"zero"},
          "max_norm": {"inf", "huge"}}),
    Case("optimizers.steps_to_tolerance", optimizers.steps_to_tolerance,
         lambda: dict(trajectory=np.array([1.0, 0.5]), minimum=0.0, tol=0.1),
         {"trajectory": {"list", "nan", "inf", "negative", "zero", "huge"},
          "minimum": NUMBER_OK, "tol": {"zero", "huge"}}),
    Case("optimizers.quadratic", optimizers.quadratic,
         lambda: dict(x=1.0, y=1.0, condition=100.0),
         {"x": ARRAY_OK, "y": ARRAY_OK, "condition": {"huge"}}),
    Case("optimizers.quadratic_grad", optimizers.quadratic_grad,
         lambda: dict(point=(1.0, 1.0), condition=100.0), {"condition": {"huge"}}),
    Case("optimizers.rosenbrock", optimizers.rosenbrock,
         lambda: dict(x=1.0, y=1.0, a=1.0, b=100.0),
         {"x": ARRAY_OK, "y": ARRAY_OK, "a": NUMBER_OK, "b": {"huge"}}),
    *[Case(f"optimizers.{function.__name__}", function,
           lambda: dict(point=(1.0, 1.0), a=1.0, b=100.0), {"a": NUMBER_OK, "b": {"huge"}})
      for function in (optimizers.rosenbrock_grad, optimizers.rosenbrock_hessian)],
    Case("optimizers.get_function", optimizers.get_function, lambda: dict(name="quadratic")),
    *[Case(f"optimizers.{function.__name__}", function, regression, {"b": NUMBER_OK})
      for function in (optimizers.linear_mse, optimizers.mse_gradient)],
    Case("optimizers.minibatch_sgd", optimizers.minibatch_sgd,
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
         lambda: dict(ax=axes(), f=optimizers.quadratic, xlim=(-1, 1), ylim=(-1, 1),
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
