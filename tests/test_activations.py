"""utils.activations: the NumPy activations and their closed-form derivatives."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from utils import activations
from utils.nets import ACTIVATIONS as NET_ACTIVATIONS

# The same functions in PyTorch (default parameters: leaky slope 0.01, ELU α = 1).
TORCH = {
    "identity": lambda t: t,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "selu": F.selu,
}
# Kinks included: at 0 the derivatives follow PyTorch's convention.
GRID = np.concatenate([np.linspace(-8, 8, 321), [-1e-3, 0.0, 1e-3, -30.0, 30.0]])


def torch_value_and_slope(name, x):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = TORCH[name](t)
    (slope,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), slope.numpy()


def test_the_network_builder_uses_the_one_table():
    assert NET_ACTIVATIONS is activations.ACTIVATIONS
    assert set(activations.ACTIVATIONS) == set(TORCH)


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_each_row_holds_the_same_function_in_torch_and_numpy(name):
    row = activations.ACTIVATIONS[name]
    assert row.name == name and isinstance(row.make(), row.module)
    x = np.linspace(-3, 3, 25)
    with torch.no_grad():
        torch_values = row.make()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(row.function(x), torch_values, rtol=1e-6, atol=1e-12)
    function, derivative = row  # unpacks like the older (function, derivative) pairs
    assert function is row.function and derivative is row.derivative
    assert activations.name_of(row.make()) == name


@pytest.mark.parametrize("name, options", [("leaky_relu", {"negative_slope": 0.3}),
                                           ("elu", {"alpha": 0.4})])
def test_options_reach_both_the_module_and_the_numpy_functions(name, options):
    row = activations.ACTIVATIONS[name]
    module = row.make(**options)
    function, derivative = row.numpy(**options)
    t = torch.tensor(np.linspace(-3, 3, 25), requires_grad=True)
    y = module(t)
    (slope,) = torch.autograd.grad(y.sum(), t)
    x = t.detach().numpy()
    np.testing.assert_allclose(function(x), y.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(derivative(x), slope.numpy(), rtol=1e-12)
    default_function, _ = row.numpy()
    assert not np.allclose(default_function(x), function(x))


def test_bad_options_and_lookups_are_explained():
    with pytest.raises(ValueError, match="'relu' has no option 'alpha'; accepted: none"):
        activations.ACTIVATIONS["relu"].make(alpha=1.0)
    with pytest.raises(ValueError, match=r"activation_options\['alpha'\] must be a finite"):
        activations.ACTIVATIONS["elu"].numpy(alpha=math.inf)
    assert activations.name_of(torch.nn.Softplus()) is None
    from utils.nets import BlockInput

    assert activations.name_of(BlockInput()) is None  # a marker, not the identity activation


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_function_matches_torch(name):
    expected, _ = torch_value_and_slope(name, GRID)
    np.testing.assert_allclose(activations.function(name)(GRID), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_derivative_matches_autograd_kinks_included(name):
    _, expected = torch_value_and_slope(name, GRID)
    np.testing.assert_allclose(activations.derivative(name)(GRID), expected, rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_derivative_matches_finite_differences(name):
    x = np.array([-2.5, -0.7, 0.3, 1.9])  # away from the kink at 0
    f, h = activations.function(name), 1e-6
    numeric = (f(x + h) - f(x - h)) / (2 * h)
    np.testing.assert_allclose(activations.derivative(name)(x), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_shapes_numbers_and_inputs_are_preserved(name):
    f, df = activations.function(name), activations.derivative(name)
    grid = np.linspace(-2, 2, 12).reshape(3, 4)
    kept = grid.copy()
    assert f(grid).shape == (3, 4) and df(grid).shape == (3, 4)
    np.testing.assert_array_equal(grid, kept)  # the input is not changed in place
    assert np.ndim(f(0.5)) == 0 and np.ndim(df(0.5)) == 0
    assert np.isclose(float(f([0.5])[0]), float(f(0.5)))  # lists are accepted too


def test_parameters_leaky_slope_and_elu_alpha():
    x = np.array([-2.0, -0.5, 1.5])
    t = torch.tensor(x, requires_grad=True)
    np.testing.assert_allclose(activations.leaky_relu(x, 0.2),
                               F.leaky_relu(t, 0.2).detach().numpy())
    np.testing.assert_allclose(activations.leaky_relu_derivative(x, 0.2), [0.2, 0.2, 1.0])
    np.testing.assert_allclose(activations.elu(x, 2.0), F.elu(t, 2.0).detach().numpy())
    (slope,) = torch.autograd.grad(F.elu(t, 2.0).sum(), t)
    np.testing.assert_allclose(activations.elu_derivative(x, 2.0), slope.numpy())


def test_selu_constants_match_torch():
    x = torch.tensor([-1.0], dtype=torch.float64)
    expected = activations.SELU_SCALE * activations.SELU_ALPHA * math.expm1(-1.0)
    assert F.selu(x).item() == pytest.approx(expected, rel=1e-15)
    assert activations.SELU_SCALE == pytest.approx(1.0507, abs=1e-4)
    assert activations.SELU_ALPHA == pytest.approx(1.6733, abs=1e-4)


def test_known_values():
    assert activations.sigmoid_derivative(0.0) == 0.25
    assert activations.sigmoid_derivative(np.linspace(-10, 10, 2001)).max() == 0.25
    assert activations.tanh_derivative(0.0) == 1.0
    assert activations.relu_derivative(0.0) == 0.0  # PyTorch's convention at the kink
    assert activations.leaky_relu_derivative(0.0) == activations.LEAKY_SLOPE
    assert activations.elu(-50.0) == pytest.approx(-1.0)
    assert activations.selu_derivative(1.0) == pytest.approx(activations.SELU_SCALE)
    assert activations.gelu(0.0) == 0.0
    assert activations.gelu_derivative(math.sqrt(2)) == pytest.approx(1.1289, abs=1e-4)


def test_no_overflow_at_extreme_inputs():
    x = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        np.testing.assert_allclose(activations.sigmoid(x), [0.0, 1.0])
        np.testing.assert_allclose(activations.elu(x), [-1.0, 1000.0])
        np.testing.assert_allclose(activations.elu_derivative(x), [0.0, 1.0])
        np.testing.assert_allclose(activations.selu(x)[1], activations.SELU_SCALE * 1000.0)


@pytest.mark.parametrize("bad", ["swish", "ReLU", "", None, 3, ["relu"]])
def test_unknown_names_list_the_accepted_ones(bad):
    for lookup in (activations.function, activations.derivative):
        with pytest.raises(ValueError, match="Unknown activation .*accepted: 'identity', "
                                             "'sigmoid', 'tanh', 'relu', 'leaky_relu'"):
            lookup(bad)
