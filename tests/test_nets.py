"""utils.nets: the MLP, conv and sequence builders, their options and their initializers."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from utils import nets


def test_structure_and_names():
    model = nets.make_mlp(64, 10, depth=3, width=32, activation="tanh")
    assert isinstance(model, nets.MLP)
    assert [name for name, _ in model.named_children()] == ["hidden1", "hidden2", "hidden3",
                                                            "output"]
    assert isinstance(model.hidden2.activation, nn.Tanh)
    assert len(nets.linear_layers(model)) == 4
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    assert nets.count_parameters(model) == 64 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 10 + 10


def test_hidden_layers_are_in_forward_order():
    model = nets.make_mlp(4, 2, depth=3, width=8, residual="post")
    assert nets.hidden_layers(model) == [model.hidden1, model.hidden2, model.hidden3]


@pytest.mark.parametrize("activation", sorted(nets.ACTIVATIONS))
def test_every_activation_builds_and_runs(activation):
    model = nets.make_mlp(4, 2, depth=2, width=8, activation=activation)
    assert isinstance(model.hidden1.activation, nets.ACTIVATIONS[activation].module)
    assert torch.isfinite(model(torch.randn(3, 4))).all()


def test_activation_options_and_factories():
    leaky = nets.make_mlp(4, 2, depth=2, width=8, activation="leaky_relu",
                          activation_options={"negative_slope": 0.2})
    assert all(layer.activation.negative_slope == 0.2 for layer in nets.hidden_layers(leaky))
    elu = nets.make_mlp(4, 2, depth=2, width=8, activation="elu",
                        activation_options={"alpha": 0.5})
    assert elu.hidden2.activation.alpha == 0.5
    made = nets.make_mlp(4, 2, depth=2, width=8, activation=lambda: nn.Softplus(beta=2.0))
    assert isinstance(made.hidden1.activation, nn.Softplus)
    assert made.hidden1.activation is not made.hidden2.activation  # a fresh module per layer


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation="relu", activation_options={"negative_slope": 0.2}),
     "'relu' has no option 'negative_slope'; accepted: none"),
    (dict(activation="elu", activation_options={"slope": 0.2}), "accepted: 'alpha'"),
    (dict(activation="elu", activation_options={"alpha": math.nan}), "alpha"),
    (dict(activation="elu", activation_options=0.5), "activation_options must be a dict"),
    (dict(activation=lambda: 3), "returning an nn.Module; it returned int"),
    (dict(activation=nn.ReLU, activation_options={"inplace": True}), "only go with an "
                                                                     "activation name"),
])
def test_bad_activation_options_are_explained(kwargs, message):
    with pytest.raises(ValueError) as error:
        nets.make_mlp(4, 2, depth=2, width=8, **kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize("norm, kind", [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
def test_normalization(norm, kind):
    model = nets.make_mlp(4, 2, depth=2, width=8, norm=norm)
    assert isinstance(model.hidden1.norm, kind)


def test_no_bias_on_a_linear_followed_by_batch_norm():
    for residual in (None, "post", "pre"):
        model = nets.make_mlp(4, 2, depth=5, width=8, norm="batch", residual=residual,
                              block_layers=2)
        feeding = [model.hidden1, model.hidden2, model.hidden4] if residual == "pre" \
            else nets.hidden_layers(model)
        assert all(layer.linear.bias is None for layer in feeding), residual
        assert model.output.bias is not None
    # batch norm AFTER the activation, or layer norm: the Linear keeps its bias
    after = nets.make_mlp(4, 2, depth=2, width=8, norm="batch", norm_position="after")
    layer = nets.make_mlp(4, 2, depth=2, width=8, norm="layer")
    assert after.hidden1.linear.bias is not None and layer.hidden1.linear.bias is not None


def test_norm_position_puts_the_norm_after_the_activation():
    model = nets.make_mlp(3, 2, depth=1, width=8, activation="relu", norm="batch",
                          norm_position="after")
    hidden = model.hidden1(torch.randn(256, 3))
    # normalized after the ReLU: mean 0 per unit, so some outputs are negative
    torch.testing.assert_close(hidden.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    assert (hidden < 0).any()
    before = nets.make_mlp(3, 2, depth=1, width=8, activation="relu", norm="batch")
    assert (before.hidden1(torch.randn(256, 3)) >= 0).all()


def test_batch_norm_output_differs_between_train_and_eval():
    model = nets.make_mlp(4, 3, depth=2, width=8, norm="batch", seed=0)
    x = 3 + 2 * torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    model.train()
    train_output = model(x)
    model.eval()  # running statistics (barely moved from 0 and 1 after one batch)
    assert not torch.allclose(train_output, model(x), atol=1e-3)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_the_normalization_layer_is_used_in_the_forward_pass(norm):
    # With the norm's scale 0 and shift 0.5, every hidden unit outputs exactly 0.5 —
    # unless the forward pass skips the normalization.
    model = nets.make_mlp(3, 2, depth=2, width=8, activation="identity", norm=norm)
    for layer in (model.hidden1, model.hidden2):
        with torch.no_grad():
            layer.norm.weight.zero_()
            layer.norm.bias.fill_(0.5)
    hidden = model.hidden2(model.hidden1(torch.randn(16, 3)))
    torch.testing.assert_close(hidden, torch.full((16, 8), 0.5))


def test_batch_norm_normalizes_each_unit_over_the_batch():
    model = nets.make_mlp(3, 2, depth=1, width=8, activation="identity", norm="batch")
    hidden = model.hidden1(5 + 3 * torch.randn(256, 3))
    torch.testing.assert_close(hidden.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(hidden.std(0, unbiased=False), torch.ones(8), atol=1e-3, rtol=0)


def test_dropout_drops_in_training_only():
    model = nets.make_mlp(4, 2, depth=2, width=64, activation="identity", dropout=0.5, seed=0)
    assert all(layer.dropout.p == 0.5 for layer in nets.hidden_layers(model))
    x = torch.randn(8, 4)
    model.train()
    assert (model.hidden1(x) == 0).float().mean() > 0.3
    model.eval()
    assert (model.hidden1(x) == 0).float().mean() < 0.05


# --- residual blocks ---------------------------------------------------------------------


def test_linear_names_are_the_same_in_plain_and_residual_nets():
    def linear_names(model):
        return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]

    plain = nets.make_mlp(4, 2, depth=5, width=8)
    for residual in ("post", "pre"):
        for block_layers in (1, 2):
            model = nets.make_mlp(4, 2, depth=5, width=8, residual=residual,
                                  block_layers=block_layers)
            assert linear_names(model) == linear_names(plain)
            assert nets.hidden_layers(model) == [getattr(model, f"hidden{k}")
                                                 for k in range(1, 6)]


def test_each_block_starts_with_a_block_input_marker():
    model = nets.make_mlp(4, 2, depth=5, width=8, residual="pre", block_layers=2)
    assert [name for name, _ in model.named_children()] == [
        "hidden1", "block1", "hidden2", "hidden3", "block2", "hidden4", "hidden5", "output"]
    assert isinstance(model.block1, nets.BlockInput)
    plain = nets.make_mlp(4, 2, depth=5, width=8)
    assert not any(isinstance(m, nets.BlockInput) for m in plain.modules())


def one_block_net(residual, block_layers=2):
    return nets.make_mlp(3, 2, depth=1 + block_layers, width=6, activation="tanh",
                         norm="layer", residual=residual, block_layers=block_layers, seed=0)


def test_post_activation_block_applies_the_activation_after_the_addition():
    """He et al. 2016a: x → act(x + norm(W₂ act(norm(W₁ x)))) ."""
    model = one_block_net("post")
    a, b = model.hidden2, model.hidden3
    x = model.hidden1(torch.randn(5, 3))
    expected = torch.tanh(x + b.norm(b.linear(torch.tanh(a.norm(a.linear(x))))))
    torch.testing.assert_close(_block_output(model, x), expected)


def test_pre_activation_block_keeps_a_clean_identity_path():
    """He et al. 2016b: x → x + W₂ act(norm(W₁ act(norm(x)))) ."""
    model = one_block_net("pre")
    a, b = model.hidden2, model.hidden3
    x = model.hidden1(torch.randn(5, 3))
    expected = x + b.linear(torch.tanh(b.norm(a.linear(torch.tanh(a.norm(x))))))
    torch.testing.assert_close(_block_output(model, x), expected)
    assert a.norm.normalized_shape == (6,)  # the norm sees the block's input


def _block_output(model, x):
    """What reaches the output layer when ``x`` leaves hidden1 (read with a hook)."""
    seen = {}
    handles = [model.output.register_forward_pre_hook(lambda m, args: seen.update(x=args[0])),
               model.hidden1.register_forward_hook(lambda m, args, out: x)]
    model(torch.zeros(len(x), 3))
    for handle in handles:
        handle.remove()
    return seen["x"]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("residual", ["post", "pre"])
def test_residual_nets_carry_more_gradient_to_the_first_layer(activation, residual):
    """Depth 20: over seeds 0–9 the ratio was ≥ 3.6e4 (tanh, post), far above 100."""
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 4, (64,), generator=torch.Generator().manual_seed(1))

    def first_layer_gradient(**options):
        model = nets.make_mlp(16, 4, depth=20, width=32, activation=activation, seed=3,
                              **options)
        F.cross_entropy(model(x), y).backward()
        return model.hidden1.linear.weight.grad.norm().item()

    assert first_layer_gradient(residual=residual) >= 100 * first_layer_gradient()


@pytest.mark.parametrize("kwargs, message", [
    (dict(residual="yes"), "Unknown residual 'yes'; accepted: None, 'post', 'pre'"),
    (dict(residual="post", block_layers=3), "Unknown block_layers 3; accepted: 1, 2"),
    (dict(residual="post", depth=4, block_layers=2), "needs depth = 1 + a multiple of 2"),
    (dict(residual="pre", depth=1), "needs depth ≥ 2"),
])
def test_bad_residual_shapes_are_explained(kwargs, message):
    with pytest.raises(ValueError) as error:
        nets.make_mlp(4, 2, **({"depth": 3, "width": 8} | kwargs))
    assert message in str(error.value)


@pytest.mark.parametrize("residual", [True, False])
def test_residual_is_a_shape_name_not_a_flag(residual):
    with pytest.raises(ValueError, match="Unknown residual .*accepted: None, 'post', 'pre'"):
        nets.make_mlp(4, 2, depth=3, width=8, residual=residual)


def _linear_weights(model):
    return {name: p for name, p in model.named_parameters()
            if name.endswith("linear.weight") or name == "output.weight"}


@pytest.mark.parametrize("init", ["default", "he_normal"])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("residual", ["post", "pre"])
def test_plain_and_residual_nets_have_the_same_linear_weights(init, norm, residual):
    """08 compares a plain and a residual net: the same seed draws the same weights,
    although a Linear before batch norm has no bias (bias draws must not shift them)."""
    plain = _linear_weights(nets.make_mlp(6, 3, depth=5, width=8, init=init, seed=2))
    other = _linear_weights(nets.make_mlp(6, 3, depth=5, width=8, init=init, norm=norm,
                                          residual=residual, seed=2))
    assert plain.keys() == other.keys() and len(plain) == 6
    for name, weight in plain.items():
        assert torch.equal(weight, other[name]), name


def test_default_init_draws_like_pytorch():
    """Weights first, then biases, from PyTorch's own bounds: U(±1/√fan_in) for both."""
    model = nets.make_mlp(400, 300, depth=1, width=400, seed=0)
    bound = 1 / math.sqrt(400)
    for tensor in (model.hidden1.linear.weight, model.hidden1.linear.bias, model.output.weight):
        assert tensor.abs().max() <= bound
        assert tensor.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


def test_final_activation_closes_a_pre_activation_net():
    model = nets.make_mlp(4, 2, depth=3, width=8, residual="pre", norm="batch",
                          activation="tanh", final_activation=True, seed=0)
    assert [name for name, _ in model.named_children()][-2:] == ["final", "output"]
    assert isinstance(model.final.norm, nn.BatchNorm1d)
    assert isinstance(model.final.activation, nn.Tanh)
    seen = {}
    model.final.register_forward_pre_hook(lambda m, args: seen.update(sum=args[0]))
    model.output.register_forward_pre_hook(lambda m, args: seen.update(out=args[0]))
    model(torch.randn(5, 4))
    torch.testing.assert_close(seen["out"], torch.tanh(model.final.norm(seen["sum"])))
    with pytest.raises(ValueError, match="final_activation=True goes with residual='pre'"):
        nets.make_mlp(4, 2, depth=3, width=8, residual="post", final_activation=True)


def test_hand_built_residual_marks_its_input():
    from utils.gradflow import GradFlow

    model = nn.Sequential(nn.Linear(3, 4), nets.Residual(nn.Sequential(nn.Linear(4, 4),
                                                                       nn.Tanh())),
                          nn.Linear(4, 2))
    assert isinstance(model[1].block_input, nets.BlockInput)
    x = torch.randn(5, 3, requires_grad=True)
    with GradFlow(model) as flow:
        model(x).sum().backward()
    records = flow.layers(kind="residual")
    assert [r.name for r in records] == ["1.block_input"]
    assert records[0].output_grad_norm > 0


def test_hidden_layers_explains_a_model_it_cannot_read():
    with pytest.raises(ValueError, match="reads networks built by make_mlp.*Sequential has none"):
        nets.hidden_layers(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    with pytest.raises(ValueError, match="model must be"):
        nets.hidden_layers("net")


# --- seeds and inits ------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["default", "he_normal"])
def test_seed_builds_the_same_weights_without_touching_the_global_rng(init):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = nets.make_mlp(4, 2, depth=3, width=8, init=init, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    second = nets.make_mlp(4, 2, depth=3, width=8, init=init, seed=7)
    other = nets.make_mlp(4, 2, depth=3, width=8, init=init, seed=8)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first.hidden1.linear.weight, other.hidden1.linear.weight)


def test_without_a_seed_the_global_rng_decides():
    torch.manual_seed(0)
    first = nets.make_mlp(4, 2, depth=2, width=8)
    torch.manual_seed(0)
    assert torch.equal(first.hidden1.linear.weight,
                       nets.make_mlp(4, 2, depth=2, width=8).hidden1.linear.weight)


def test_gain_scales_the_standard_deviation_and_output_init_is_separate():
    plain = nets.make_mlp(400, 300, depth=1, width=400, init="he_normal", seed=0)
    scaled = nets.make_mlp(400, 300, depth=1, width=400, init="he_normal", gain=3.0, seed=0)
    assert plain.hidden1.linear.weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    assert scaled.hidden1.linear.weight.std().item() == pytest.approx(3 / 20, rel=0.05)
    mixed = nets.make_mlp(400, 300, depth=1, width=400, init="he_normal",
                          output_init="orthogonal", seed=0)
    product = mixed.output.weight @ mixed.output.weight.T
    torch.testing.assert_close(product, torch.eye(300), atol=1e-4, rtol=0)
    assert torch.count_nonzero(mixed.output.bias) == 0


def test_output_gain_scales_the_output_layer_only():
    model = nets.make_mlp(400, 300, depth=1, width=400, init="he_normal",
                          output_init="normal", output_gain=0.01, seed=0)
    assert model.output.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert model.hidden1.linear.weight.std().item() == pytest.approx(math.sqrt(2 / 400),
                                                                     rel=0.05)
    plain = nets.make_mlp(64, 10, depth=2, width=64, init="xavier_uniform", seed=0)
    scaled = nets.make_mlp(64, 10, depth=2, width=64, init="xavier_uniform",
                           output_gain=0.5, seed=0)
    torch.testing.assert_close(scaled.output.weight, 0.5 * plain.output.weight, rtol=0, atol=0)
    torch.testing.assert_close(scaled.hidden2.linear.weight, plain.hidden2.linear.weight,
                               rtol=0, atol=0)


def test_output_init_named_like_init_keeps_its_default_gain():
    # 04's "Xavier × 4": every hidden layer Xavier with gain 4, the output layer plain Xavier
    scaled = nets.make_mlp(64, 10, depth=2, width=64, init="xavier_uniform", gain=4.0,
                           output_init="xavier_uniform", seed=0)
    plain = nets.make_mlp(64, 10, depth=2, width=64, init="xavier_uniform", seed=0)
    for name in ("hidden1", "hidden2"):
        torch.testing.assert_close(getattr(scaled, name).linear.weight,
                                   4 * getattr(plain, name).linear.weight, rtol=0, atol=0)
    torch.testing.assert_close(scaled.output.weight, plain.output.weight, rtol=0, atol=0)
    everywhere = nets.make_mlp(64, 10, depth=2, width=64, init="xavier_uniform", gain=4.0, seed=0)
    torch.testing.assert_close(everywhere.output.weight, 4 * plain.output.weight, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=0), "depth must be a whole number ≥ 1, got 0"),
    (dict(depth=2.5), "depth must be"),
    (dict(width=0), "width must be"),
    (dict(activation="swish"), "Unknown activation 'swish'; accepted: 'identity', 'sigmoid'"),
    (dict(init="glorot"), "Unknown init 'glorot'; accepted: 'default', 'normal'"),
    (dict(output_init="glorot"), "Unknown output_init 'glorot'"),
    (dict(norm="group"), "Unknown norm 'group'; accepted: None, 'batch', 'layer'"),
    (dict(norm="batch", norm_position="inside"), "Unknown norm_position 'inside'"),
    (dict(init="normal"), "init='normal' needs its standard deviation: init_std or gain"),
    (dict(output_init="normal"), "output_init='normal' needs its standard deviation: "
                                 "output_gain > 0"),
    (dict(output_init="he_normal", output_gain=-1.0), "output_gain must be"),
    (dict(output_gain=2.0), "output_gain needs an init from the table (e.g. init="),
    (dict(init="he_normal", init_std=0.1), "init_std is only used by init='normal'"),
    (dict(init="default", gain=2.0), "init='default' keeps PyTorch's own init and takes no gain"),
    (dict(init="he_normal", gain=0), "gain must be"),
    (dict(dropout=1.0), "dropout must be"),
    (dict(dropout=-0.1), "dropout must be"),
    (dict(seed=-1), "seed must be"),
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
    model = nets.make_mlp(np.int64(4), np.int32(2), depth=np.int64(2), width=np.int16(8),
                          init="kaiming_normal")
    assert nets.count_parameters(model) == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2
    assert nets.canonical_init("kaiming_normal") == "he_normal"


# --- the conv net ------------------------------------------------------------------------------


def test_convnet_is_small_and_takes_both_digit_shapes():
    model = nets.make_convnet(seed=0)
    assert nets.count_parameters(model) < 5000
    x = torch.randn(3, 64)
    torch.testing.assert_close(model(x), model(x.reshape(3, 1, 8, 8)))
    assert model(x).shape == (3, 10)
    with pytest.raises(ValueError, match=r"\(batch, 64\) or \(batch, 1, 8, 8\), got \(3, 63\)"):
        model(torch.randn(3, 63))


def test_convnet_options():
    model = nets.make_convnet(activation="leaky_relu", activation_options={"negative_slope": 0.3},
                              init="he_normal", norm="batch", dropout=0.2, residual="post",
                              output_init="orthogonal", seed=0)
    assert isinstance(model.block1, nets.BlockInput)
    assert model.conv1.conv.bias is None and isinstance(model.conv3.norm, nn.BatchNorm2d)
    assert model.conv4.activation.negative_slope == 0.3 and model.conv2.dropout.p == 0.2
    assert torch.count_nonzero(model.output.bias) == 0
    product = model.output.weight @ model.output.weight.T
    torch.testing.assert_close(product, torch.eye(10), atol=1e-4, rtol=0)
    after = nets.make_convnet(norm="batch", norm_position="after", seed=0)
    assert after.conv1.conv.bias is not None and after.conv1.norm_position == "after"
    x = torch.randn(2, 1, 8, 8)
    seen = {}
    after.conv1.activation.register_forward_hook(lambda m, args, out: seen.update(act=out))
    torch.testing.assert_close(after.conv1(x), after.conv1.norm(seen["act"]))
    first = nets.make_convnet(residual="post", seed=4)
    again = nets.make_convnet(residual="post", seed=4)
    assert torch.equal(first.conv3.conv.weight, again.conv3.conv.weight)


def test_convnet_residual_block_adds_its_input():
    model = nets.make_convnet(residual="post", seed=0)
    with torch.no_grad():
        model.conv4.conv.weight.zero_()
        model.conv4.conv.bias.zero_()
    seen = {}
    model.block1.register_forward_hook(lambda m, args, out: seen.update(block=out))
    model.output.register_forward_pre_hook(lambda m, args: seen.update(out=args[0]))
    model(torch.randn(2, 64))
    torch.testing.assert_close(seen["out"], torch.relu(seen["block"]).flatten(1))


def test_convnet_learns_the_digits():
    from utils.data import digits_split

    split = digits_split().tensors("cpu")
    model = nets.make_convnet(seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for batch in torch.randperm(len(split.x_train), generator=generator).split(64):
            optimizer.zero_grad()
            F.cross_entropy(model(split.x_train[batch]), split.y_train[batch]).backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (model(split.x_test).argmax(1) == split.y_test).float().mean().item()
    assert accuracy > 0.8


@pytest.mark.parametrize("kwargs, message", [
    (dict(channels=(8,)), "channels must be two numbers"),
    (dict(norm="layer"), "Unknown norm 'layer'; accepted: None, 'batch'"),
    (dict(residual="pre"), "Unknown residual 'pre'; accepted: None, 'post'"),
    (dict(residual=True), "Unknown residual True"),
    (dict(output_init="normal"), "output_init='normal' needs its standard deviation"),
    (dict(norm="batch", norm_position="inside"), "Unknown norm_position 'inside'"),
    (dict(init="he"), "Unknown init 'he'"),
])
def test_convnet_bad_input_is_explained(kwargs, message):
    with pytest.raises(ValueError) as error:
        nets.make_convnet(**kwargs)
    assert message in str(error.value)


# --- sequence models -----------------------------------------------------------------------


@pytest.mark.parametrize("kind, layer", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_sequence_models_return_a_tensor_from_the_last_step(kind, layer):
    model = nets.make_sequence_model(kind, 2, 8, 3, num_layers=2, seed=0)
    assert isinstance(model.rnn, nets.RecurrentStack) and model.rnn.batch_first
    assert model.rnn.num_layers == 2 and [name for name, _ in model.rnn.named_children()] == [
        "l0", "l1", "dropout"]
    assert all(isinstance(one, layer) and one.num_layers == 1 for one in model.rnn.layers())
    assert isinstance(nets.make_sequence_model(kind, 2, 8, 3, seed=0).rnn, layer)
    x = torch.randn(4, 7, 2)
    output = model(x)
    assert torch.is_tensor(output) and output.shape == (4, 3)
    hidden, _ = model.rnn(x)
    torch.testing.assert_close(output, model.head(hidden[:, -1]))
    # the output depends on the first step (the recurrence carries it)
    changed = x.clone()
    changed[:, 0] += 1
    assert not torch.allclose(model(changed), output)


def test_forget_bias_lands_in_the_forget_gate_slice():
    """PyTorch stacks the LSTM gates as i, f, g, o: the forget gate is rows [H, 2H)."""
    hidden = 5
    plain = nets.make_sequence_model("lstm", 2, hidden, 1, num_layers=2, seed=0)
    model = nets.make_sequence_model("lstm", 2, hidden, 1, num_layers=2, forget_bias=2.5, seed=0)
    for layer in range(2):
        b_ih = getattr(model.rnn, f"l{layer}").bias_ih_l0
        b_hh = getattr(model.rnn, f"l{layer}").bias_hh_l0
        total = (b_ih + b_hh).detach()
        torch.testing.assert_close(total[hidden:2 * hidden], torch.full((hidden,), 2.5))
        before = getattr(plain.rnn, f"l{layer}").bias_ih_l0
        for gate in (0, 2, 3):  # input, cell candidate, output: untouched
            rows = slice(gate * hidden, (gate + 1) * hidden)
            torch.testing.assert_close(b_ih[rows], before[rows])
    # the gate really opens: with zero input and state, f = σ(2.5) ≈ 0.92
    cell = nn.LSTMCell(2, hidden)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(model.rnn.l0, f"{name}_l0"))
    gates = (cell.bias_ih + cell.bias_hh).detach()
    assert torch.sigmoid(gates[hidden:2 * hidden]).min() > 0.9


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="transformer"), "Unknown kind 'transformer'; accepted: 'rnn', 'lstm', 'gru'"),
    (dict(kind="gru", forget_bias=1.0), "forget_bias is an LSTM option"),
    (dict(kind="lstm", nonlinearity="relu"), "nonlinearity is the vanilla RNN's option"),
    (dict(kind="rnn", nonlinearity="sigmoid"), "Unknown nonlinearity 'sigmoid'"),
    (dict(kind="lstm", forget_bias=math.nan), "forget_bias must be a finite number"),
    (dict(hidden_size=0), "hidden_size must be"),
    (dict(num_layers=10**9), "num_layers must be"),
    (dict(recurrent_init="orthogonal_ish"), "Unknown recurrent_init 'orthogonal_ish'"),
    (dict(recurrent_gain=1.5), "recurrent_gain needs an init from the table (e.g. "
                               "recurrent_init="),
    (dict(recurrent_init="normal"), "recurrent_init='normal' needs its standard deviation: "
                                    "recurrent_gain"),
])
def test_sequence_model_bad_input_is_explained(kwargs, message):
    arguments = dict(kind="lstm", input_size=2, hidden_size=4, output_size=1) | kwargs
    with pytest.raises(ValueError) as error:
        nets.make_sequence_model(**arguments)
    assert message in str(error.value)


def test_sequence_model_explains_a_wrong_input_shape():
    model = nets.make_sequence_model("gru", 2, 4, 1)
    with pytest.raises(ValueError, match=r"\(batch, time, 2\), got \(3, 5\)"):
        model(torch.randn(3, 5))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("with_state", [False, True])
def test_a_recurrent_stack_computes_what_one_multi_layer_module_computes(kind, with_state):
    """The same weights in nn.LSTM(num_layers=3) and in the stack: the same outputs, h_n, c_n."""
    model = nets.make_sequence_model(kind, 2, 5, 1, num_layers=3, seed=0)
    whole = nets.SEQUENCE_KINDS[kind](2, 5, num_layers=3, batch_first=True)
    with torch.no_grad():
        for index, layer in enumerate(model.rnn.layers()):
            for name, parameter in layer.named_parameters():
                getattr(whole, name.replace("_l0", f"_l{index}")).copy_(parameter)
    x = torch.randn(4, 6, 2)
    state = None
    if with_state:
        h0 = torch.randn(3, 4, 5)
        state = (h0, torch.randn(3, 4, 5)) if kind == "lstm" else h0
    ours, theirs = model.rnn(x, state), whole(x, state)
    torch.testing.assert_close(ours[0], theirs[0])
    for mine, reference in zip(ours[1] if kind == "lstm" else [ours[1]],
                               theirs[1] if kind == "lstm" else [theirs[1]], strict=True):
        torch.testing.assert_close(mine, reference)


def test_the_stack_drops_out_between_layers_only():
    model = nets.make_sequence_model("gru", 2, 6, 1, num_layers=2, dropout=0.5, seed=0)
    assert isinstance(model.rnn.dropout, nn.Dropout) and model.rnn.dropout.p == 0.5
    x = torch.randn(3, 4, 2)
    model.eval()
    evaluated = model(x)
    model.train()
    assert not torch.allclose(model(x), evaluated)  # dropout acts in training
    seen = {}
    model.rnn.l1.register_forward_pre_hook(lambda m, args: seen.update(into=args[0]))
    model.rnn.l0.register_forward_hook(lambda m, args, out: seen.update(l0=out[0]))
    model.rnn.l0.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    output = model(x)
    assert torch.equal(seen["x"], x)  # no dropout on the input
    kept = seen["into"] != 0
    torch.testing.assert_close(seen["into"][kept], 2 * seen["l0"][kept])
    torch.testing.assert_close(output, model.head(model.rnn.l1(seen["into"])[0][:, -1]))


@pytest.mark.parametrize("kind, gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_recurrent_init_makes_each_gate_block_orthogonal_times_the_gain(kind, gates):
    model = nets.make_sequence_model(kind, 3, 6, 1, num_layers=2, recurrent_init="orthogonal",
                                     recurrent_gain=1.5, seed=0)
    weights = nets.recurrent_weights(model.rnn)
    assert len(weights) == 2
    for weight in weights:
        assert weight.shape == (gates * 6, 6)
        for block in weight.detach().chunk(gates):
            torch.testing.assert_close(block @ block.T, 2.25 * torch.eye(6), atol=1e-5, rtol=0)
    plain = nets.make_sequence_model(kind, 3, 6, 1, num_layers=2, seed=0)
    torch.testing.assert_close(model.rnn.l0.weight_ih_l0, plain.rnn.l0.weight_ih_l0)
    again = nets.make_sequence_model(kind, 3, 6, 1, num_layers=2, recurrent_init="orthogonal",
                                     recurrent_gain=1.5, seed=0)
    assert torch.equal(again.rnn.l1.weight_hh_l0, model.rnn.l1.weight_hh_l0)
