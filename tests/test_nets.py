"""utils.nets: the MLP builder, its registries and its initializers."""

import math

import pytest
import torch
from torch import nn

from utils import nets


def test_structure_and_names():
    model = nets.make_mlp(64, 10, depth=3, width=32, activation="tanh")
    assert [name for name, _ in model.named_children()] == ["hidden1", "hidden2", "hidden3",
                                                            "output"]
    assert isinstance(model.hidden2.activation, nn.Tanh)
    assert len(nets.linear_layers(model)) == 4
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    assert nets.count_parameters(model) == 64 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10


@pytest.mark.parametrize("activation", sorted(nets.ACTIVATIONS))
def test_every_activation_builds_and_runs(activation):
    model = nets.make_mlp(4, 2, depth=2, width=8, activation=activation)
    assert torch.isfinite(model(torch.randn(3, 4))).all()


@pytest.mark.parametrize("norm, kind", [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
def test_normalization(norm, kind):
    model = nets.make_mlp(4, 2, depth=2, width=8, norm=norm)
    assert isinstance(model.hidden1.norm, kind)


def test_residual_layers_add_their_input():
    model = nets.make_mlp(4, 2, depth=3, width=8, residual=True, init="he_normal")
    assert not isinstance(model.hidden1, nets.Residual)
    assert isinstance(model.hidden2, nets.Residual)
    x = torch.randn(5, 8)
    with torch.no_grad():
        assert torch.allclose(model.hidden2(x), x + model.hidden2.layer(x))


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=0), "depth must be a whole number ≥ 1, got 0"),
    (dict(depth=2.5), "depth must be"),
    (dict(width=0), "width must be"),
    (dict(activation="swish"), "Unknown activation 'swish'; accepted: 'identity', 'sigmoid'"),
    (dict(init="glorot"), "Unknown init 'glorot'; accepted: 'default', 'normal'"),
    (dict(norm="group"), "Unknown norm 'group'; accepted: None, 'batch', 'layer'"),
    (dict(residual="yes"), "residual must be True or False"),
    (dict(init="normal"), "init='normal' needs init_std"),
    (dict(init="he_normal", init_std=0.1), "init_std is only used by init='normal'"),
])
def test_bad_input_is_explained(kwargs, message):
    arguments = dict(depth=2, width=8) | kwargs
    with pytest.raises(ValueError) as error:
        nets.make_mlp(4, 2, **arguments)
    assert message in str(error.value)


def weight_variance(init, n_in=400, n_out=300, **kwargs):
    layer = nn.Linear(n_in, n_out)
    nets.initialize_linear(layer, init, **kwargs)
    assert torch.count_nonzero(layer.bias) == 0
    return layer.weight.var().item()


@pytest.mark.parametrize("init, expected", [
    ("glorot_standard", 1 / (3 * 400)),
    ("xavier_uniform", 2 / (400 + 300)),
    ("xavier_normal", 2 / (400 + 300)),
    ("he_uniform", 2 / 400),
    ("he_normal", 2 / 400),
    ("lecun_normal", 1 / 400),
])
def test_initializer_variances(init, expected):
    torch.manual_seed(0)
    assert math.isclose(weight_variance(init), expected, rel_tol=0.05)


def test_normal_init_uses_init_std():
    torch.manual_seed(0)
    assert math.isclose(weight_variance("normal", init_std=0.5), 0.25, rel_tol=0.05)


def test_orthogonal_init_has_orthonormal_rows():
    layer = nn.Linear(64, 32)
    nets.initialize_linear(layer, "orthogonal")
    product = layer.weight @ layer.weight.T
    assert torch.allclose(product, torch.eye(32), atol=1e-5)


def test_default_init_keeps_torch_bias():
    torch.manual_seed(0)
    layer = nn.Linear(10, 10)
    nets.initialize_linear(layer, "default")
    assert torch.count_nonzero(layer.bias) > 0


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_the_normalization_layer_is_used_in_the_forward_pass(norm):
    # With the norm's scale 0 and shift 0.5, every hidden unit outputs exactly 0.5 —
    # unless the forward pass skips the normalization.
    model = nets.make_mlp(3, 2, depth=2, width=8, activation="identity", norm=norm)
    for layer in (model.hidden1, model.hidden2):
        with torch.no_grad():
            layer.norm.weight.zero_()
            layer.norm.bias.fill_(0.5)
    hidden = model[:2](torch.randn(16, 3))
    torch.testing.assert_close(hidden, torch.full((16, 8), 0.5))


def test_batch_norm_normalizes_each_unit_over_the_batch():
    model = nets.make_mlp(3, 2, depth=1, width=8, activation="identity", norm="batch")
    hidden = model.hidden1(5 + 3 * torch.randn(256, 3))
    torch.testing.assert_close(hidden.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(hidden.std(0, unbiased=False), torch.ones(8), atol=1e-3, rtol=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=10**12), "depth must be a whole number from 1 to 1,000"),
    (dict(width=10**9), "width must be a whole number from 1 to 100,000"),
    (dict(depth=1000, width=100_000), "parameters, more than"),
    (dict(bias=None), "bias must be True or False"),
    (dict(activation=["relu"]), "Unknown activation ['relu']"),
    (dict(init="normal", init_std=math.inf), "init_std must be a finite number"),
    (dict(init="normal", init_std=math.nan), "init_std must be a finite number"),
])
def test_slips_fail_at_once_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError) as error:
        nets.make_mlp(4, 2, **({"depth": 2, "width": 8} | kwargs))
    assert message in str(error.value)


def test_numpy_integers_and_init_aliases_are_accepted():
    import numpy as np

    model = nets.make_mlp(np.int64(4), np.int32(2), depth=np.int64(2), width=np.int16(8),
                          init="kaiming_normal")
    assert nets.count_parameters(model) == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2
    assert nets.canonical_init("kaiming_normal") == "he_normal"
