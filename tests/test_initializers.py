"""utils.initializers: from-scratch initializers against torch.nn.init, and Jacobian spectra."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from utils import initializers as inits

SHAPE = (384, 640)  # (fan_out, fan_in): 245,760 weights, so sample variances are within ~1%
FAN_OUT, FAN_IN = SHAPE


def torch_weight(init_, *args, **kwargs):
    """A (fan_out, fan_in) weight filled by a torch.nn.init function, as float64 NumPy."""
    weight = torch.empty(SHAPE, dtype=torch.float64)
    init_(weight, *args, generator=torch.Generator().manual_seed(0), **kwargs)
    return weight.numpy()


# name, our function's keyword arguments, torch's equivalent, the variance both must have
CASES = [
    ("glorot_standard", {}, lambda: torch_weight(nn.init.kaiming_uniform_, a=math.sqrt(5)),
     1 / (3 * FAN_IN)),
    ("xavier_uniform", {}, lambda: torch_weight(nn.init.xavier_uniform_),
     2 / (FAN_IN + FAN_OUT)),
    ("xavier_uniform", {"gain": 3.0}, lambda: torch_weight(nn.init.xavier_uniform_, gain=3.0),
     9 * 2 / (FAN_IN + FAN_OUT)),
    ("xavier_normal", {}, lambda: torch_weight(nn.init.xavier_normal_), 2 / (FAN_IN + FAN_OUT)),
    ("xavier_normal", {"gain": 0.5}, lambda: torch_weight(nn.init.xavier_normal_, gain=0.5),
     0.25 * 2 / (FAN_IN + FAN_OUT)),
    ("he_normal", {}, lambda: torch_weight(nn.init.kaiming_normal_, nonlinearity="relu"),
     2 / FAN_IN),
    ("kaiming_normal", {}, lambda: torch_weight(nn.init.kaiming_normal_, nonlinearity="relu"),
     2 / FAN_IN),
    ("he_normal", {"gain": math.sqrt(2 / 1.04)},
     lambda: torch_weight(nn.init.kaiming_normal_, a=0.2, nonlinearity="leaky_relu"),
     2 / 1.04 / FAN_IN),
    ("he_uniform", {}, lambda: torch_weight(nn.init.kaiming_uniform_, nonlinearity="relu"),
     2 / FAN_IN),
    ("lecun_normal", {}, lambda: torch_weight(nn.init.kaiming_normal_, nonlinearity="linear"),
     1 / FAN_IN),
    ("orthogonal", {}, lambda: torch_weight(nn.init.orthogonal_), 1 / FAN_IN),
    ("orthogonal", {"gain": 2.0}, lambda: torch_weight(nn.init.orthogonal_, gain=2.0),
     4 / FAN_IN),
]


@pytest.mark.parametrize("name, kwargs, reference, variance", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_mean_and_variance_match_torch_init(name, kwargs, reference, variance):
    ours = inits.init_weights(SHAPE, name, rng=0, **kwargs)
    theirs = reference()
    assert ours.shape == theirs.shape == SHAPE
    assert ours.dtype == np.float64
    for weights in (ours, theirs):
        assert abs(weights.mean()) < 0.01 * math.sqrt(variance)
        assert weights.var() == pytest.approx(variance, rel=0.02)
    assert ours.var() / theirs.var() == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("name, reference, bound", [
    ("glorot_standard", lambda: torch_weight(nn.init.kaiming_uniform_, a=math.sqrt(5)),
     1 / math.sqrt(FAN_IN)),
    ("xavier_uniform", lambda: torch_weight(nn.init.xavier_uniform_),
     math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", lambda: torch_weight(nn.init.kaiming_uniform_, nonlinearity="relu"),
     math.sqrt(6 / FAN_IN)),
])
def test_uniform_bounds_match_torch_init(name, reference, bound):
    ours, theirs = inits.INITIALIZERS[name](SHAPE, rng=0), reference()
    for weights in (ours, theirs):
        assert np.abs(weights).max() <= bound
        assert np.abs(weights).max() > 0.999 * bound
        # flat: a uniform's kurtosis is 1.8 (a normal's is 3)
        assert np.mean(weights ** 4) / np.mean(weights ** 2) ** 2 == pytest.approx(1.8, abs=0.03)


@pytest.mark.parametrize("name", ["xavier_normal", "he_normal", "lecun_normal"])
def test_normal_initializers_are_gaussian(name):
    weights = inits.INITIALIZERS[name](SHAPE, rng=1)
    kurtosis = np.mean(weights ** 4) / np.mean(weights ** 2) ** 2
    assert kurtosis == pytest.approx(3.0, abs=0.05)
    within_one_std = np.mean(np.abs(weights) < weights.std())
    assert within_one_std == pytest.approx(0.6827, abs=0.01)


@pytest.mark.parametrize("shape", [(64, 64), (32, 100), (100, 32), (1, 5), (5, 1)])
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_orthogonal_is_orthonormal_like_torch(shape, gain):
    ours = inits.orthogonal(shape, gain=gain, rng=3)
    weight = torch.empty(shape, dtype=torch.float64)
    nn.init.orthogonal_(weight, gain=gain, generator=torch.Generator().manual_seed(3))
    for matrix in (ours, weight.numpy()):
        rows, cols = shape
        gram = matrix @ matrix.T if rows <= cols else matrix.T @ matrix
        np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(shape)), atol=1e-12)
        np.testing.assert_allclose(np.linalg.svd(matrix, compute_uv=False), gain, atol=1e-12)


def test_orthogonal_is_uniformly_distributed():
    """With the sign correction, no entry is biased (a plain QR biases the diagonal)."""
    corners = [inits.orthogonal((4, 4), rng=seed)[0, 0] for seed in range(400)]
    assert abs(np.mean(corners)) < 0.08
    assert np.var(corners) == pytest.approx(1 / 4, abs=0.05)  # each entry has variance 1/n


def test_he_is_lecun_times_root_two():
    np.testing.assert_allclose(inits.he_normal(SHAPE, rng=5),
                               math.sqrt(2) * inits.lecun_normal(SHAPE, rng=5))


def test_fans_follow_the_linear_weight_layout():
    assert inits.fans((10, 64)) == (64, 10)
    assert inits.fans(nn.Linear(64, 10).weight.shape) == (64, 10)


def test_random_generators_repeat():
    assert np.array_equal(inits.xavier_uniform((8, 8), rng=7), inits.xavier_uniform((8, 8), rng=7))
    generator = np.random.default_rng(7)
    first, second = inits.he_normal((8, 8), rng=generator), inits.he_normal((8, 8), rng=generator)
    assert not np.array_equal(first, second)  # a Generator moves on
    np.random.seed(11)
    a = inits.orthogonal((8, 8))
    np.random.seed(11)
    assert np.array_equal(a, inits.orthogonal((8, 8)))  # None: NumPy's global (seeded) state


def test_init_weights_picks_by_name_and_default_gain():
    np.testing.assert_allclose(inits.init_weights((6, 5), "he_normal", rng=2),
                               inits.he_normal((6, 5), rng=2))
    np.testing.assert_allclose(inits.init_weights((6, 5), "he_normal", gain=1.0, rng=2),
                               inits.lecun_normal((6, 5), rng=2))


# --- bad inputs --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(inits.INITIALIZERS))
@pytest.mark.parametrize("shape", [(3, 4, 5), (7,), 7, "3x4", (0, 4), (3, -1), (3.0, 4),
                                   (True, 4)])
def test_bad_shapes_are_refused(name, shape):
    with pytest.raises(ValueError, match="shape must"):
        inits.INITIALIZERS[name](shape)


@pytest.mark.parametrize("name", sorted(inits.INITIALIZERS))
@pytest.mark.parametrize("gain", [0, -1.0, float("nan"), float("inf"), "1", True, None])
def test_non_positive_or_odd_gains_are_refused(name, gain):
    with pytest.raises(ValueError, match="gain must be a positive number"):
        inits.INITIALIZERS[name]((4, 4), gain=gain)


@pytest.mark.parametrize("name", ["glorot", "He_normal", "", None, 3, ["he_normal"], "default"])
def test_unknown_names_list_the_accepted_ones(name):
    with pytest.raises(ValueError, match="Unknown init .*accepted: 'normal', 'glorot_standard', "
                                         "'xavier_uniform', 'xavier_normal', 'he_uniform'"):
        inits.init_weights((4, 4), name)
    with pytest.raises(ValueError, match="accepted"):
        inits.apply_init(nn.Linear(4, 4), name)


@pytest.mark.parametrize("rng", [-1, 1.5, "seed", True])
def test_bad_random_generators_are_refused(rng):
    with pytest.raises(ValueError, match="rng must be"):
        inits.xavier_normal((4, 4), rng=rng)


# --- apply_init ---------------------------------------------------------------------


def test_apply_init_fills_every_linear_layer_and_zeroes_biases():
    model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    assert inits.apply_init(model, "he_normal", rng=0) is model
    for layer in (model[0], model[2], model[4]):
        assert torch.all(layer.bias == 0)
        assert layer.weight.var().item() == pytest.approx(2 / layer.in_features, rel=0.1)
    first = [p.detach().clone() for p in model.parameters()]
    inits.apply_init(model, "he_normal", rng=0)
    assert all(torch.equal(a, b) for a, b in zip(first, model.parameters()))


def test_apply_init_keeps_dtype_and_gain():
    model = nn.Linear(32, 32).double()
    inits.apply_init(model, "orthogonal", gain=math.sqrt(2), rng=1)
    assert model.weight.dtype == torch.float64
    gram = model.weight @ model.weight.T
    assert torch.allclose(gram, 2 * torch.eye(32, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("model, message", [(np.eye(3), "torch.nn.Module"),
                                             (nn.ReLU(), "no nn.Linear")])
def test_apply_init_refuses_what_it_cannot_fill(model, message):
    with pytest.raises(ValueError, match=message):
        inits.apply_init(model, "he_normal")


def test_apply_init_refuses_a_bad_gain():
    with pytest.raises(ValueError, match="gain"):
        inits.apply_init(nn.Linear(3, 3), "xavier_normal", gain=-2)


# --- jacobian_singular_values ---------------------------------------------------------------


def test_singular_values_of_one_linear_layer_are_those_of_its_weight():
    layer = nn.Linear(7, 5).double()
    values = inits.jacobian_singular_values(layer, torch.randn(7, dtype=torch.float64))
    expected = np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert values.dtype == np.float64 and np.all(np.diff(values) <= 0)


def test_a_deep_orthogonal_linear_net_is_an_isometry():
    model = nn.Sequential(*[nn.Linear(16, 16, bias=False) for _ in range(40)]).double()
    inits.apply_init(model, "orthogonal", rng=0)
    values = inits.jacobian_singular_values(model, torch.randn(1, 16, dtype=torch.float64))
    np.testing.assert_allclose(values, 1.0, atol=1e-10)


def test_relu_jacobian_matches_the_masked_weight():
    torch.manual_seed(0)
    layer = nn.Linear(6, 6, bias=False).double()
    model = nn.Sequential(layer, nn.ReLU())
    x = torch.randn(6, dtype=torch.float64)
    mask = (layer(x) > 0).double()
    expected = np.linalg.svd((mask[:, None] * layer.weight).detach().numpy(), compute_uv=False)
    np.testing.assert_allclose(inits.jacobian_singular_values(model, x), expected, atol=1e-12)


@pytest.mark.parametrize("model, x, message", [
    (nn.Linear(3, 3), torch.zeros(2, 3), "ONE input"),
    (nn.Linear(3, 3), torch.zeros(0), "ONE input"),
    (nn.Linear(3, 3), np.zeros(3), "torch tensor"),
    (nn.Linear(3, 3), torch.zeros(3, dtype=torch.int64), "floating-point"),
    ("model", torch.zeros(3), "torch.nn.Module"),
])
def test_jacobian_refuses_bad_inputs(model, x, message):
    with pytest.raises(ValueError, match=message):
        inits.jacobian_singular_values(model, x)


# --- one set of init names across the course ------------------------------------------------


def test_the_from_scratch_names_are_make_mlps_names():
    from utils import nets, widgets

    assert set(inits.INITIALIZERS) == set(nets.INIT_NAMES) - {"default"}
    assert nets.INIT_ALIASES is inits.INIT_ALIASES
    assert set(widgets.EXPLORER_INITS) <= set(nets.INIT_NAMES)
    for alias, name in nets.INIT_ALIASES.items():
        assert name in nets.INITIALIZERS
        if name in inits.INITIALIZERS:
            np.testing.assert_array_equal(inits.init_weights((5, 4), alias, rng=0),
                                          inits.init_weights((5, 4), name, rng=0))


@pytest.mark.parametrize("name", sorted(inits.INITIALIZERS))
def test_make_mlp_and_apply_init_draw_the_same_distribution(name):
    torch.manual_seed(0)
    ours = inits.apply_init(nn.Linear(400, 300), name, rng=0).weight
    theirs = nets_first_weight(name)
    assert ours.var().item() == pytest.approx(theirs.var().item(), rel=0.05)
    assert ours.abs().max().item() == pytest.approx(theirs.abs().max().item(), rel=0.25)


def nets_first_weight(name):
    from utils import nets

    layer = nn.Linear(400, 300)
    nets.initialize_linear(layer, name, **({"init_std": 1.0} if name == "normal" else {}))
    return layer.weight.detach()


# --- one table: the NumPy and the PyTorch version of every init ------------------------------


@pytest.mark.parametrize("name", sorted(inits.INITIALIZERS))
@pytest.mark.parametrize("gain", [None, 0.5])
def test_the_torch_and_numpy_versions_follow_one_gain_convention(name, gain):
    row = inits.INITIALIZERS[name]
    assert row.name == name and callable(row)
    torch.manual_seed(0)
    weight = row.fill_(torch.empty(300, 400, dtype=torch.float64), gain)
    ours = inits.init_weights((300, 400), name, gain=gain, rng=0)
    assert weight.var().item() == pytest.approx(ours.var(), rel=0.03)
    assert weight.abs().max().item() == pytest.approx(np.abs(ours).max(), rel=0.25)
    expected = (row.default_gain if gain is None else gain) ** 2 * {
        "normal": 1.0, "glorot_standard": 1 / 1200, "xavier_uniform": 2 / 700,
        "xavier_normal": 2 / 700, "he_uniform": 1 / 400, "he_normal": 1 / 400,
        "lecun_normal": 1 / 400, "orthogonal": 1 / 400}[name]
    assert ours.var() == pytest.approx(expected, rel=0.03)


def test_torch_fill_counts_the_fans_of_a_conv_kernel():
    torch.manual_seed(0)
    kernel = inits.INITIALIZERS["he_normal"].fill_(torch.empty(64, 32, 3, 3))
    assert kernel.var().item() == pytest.approx(2 / (32 * 9), rel=0.05)


@pytest.mark.parametrize("weight", [torch.empty(5), "w", None])
def test_torch_fill_refuses_what_it_cannot_fill(weight):
    with pytest.raises(ValueError, match="weight must be a torch tensor with at least 2"):
        inits.INITIALIZERS["xavier_normal"].fill_(weight)


def test_an_array_as_a_name_is_refused_with_the_name():
    with pytest.raises(ValueError, match="Unknown init"):
        inits.init_weights((4, 4), np.zeros((2, 3)))


# --- one label per init, held by the table ----------------------------------------------------


def test_every_init_has_one_label_in_the_table():
    labels = [row.label for row in inits.INITIALIZERS.values()]
    assert all(labels) and len(set(labels)) == len(labels)
    assert set(inits.INIT_LABELS) == {"default", *inits.INITIALIZERS}
    for name, row in inits.INITIALIZERS.items():
        assert inits.INIT_LABELS[name] == row.label
    assert inits.INIT_LABELS["he_normal"] == "He"


def test_the_explorers_menu_takes_its_labels_from_the_table():
    from utils import widgets

    for name, label in widgets.EXPLORER_INITS.items():
        assert inits.INITIALIZERS[name].label in label
    assert widgets.EXPLORER_INITS["he_normal"] == inits.INITIALIZERS["he_normal"].label
    assert widgets.EXPLORER_INITS["normal"].startswith("large")


@pytest.mark.parametrize("name", list(inits.INITIALIZERS))
@pytest.mark.parametrize("shape", [(384, 640), (640, 96), (200, 200)])
@pytest.mark.parametrize("gain", [None, 0.5, 3.0])
def test_each_rows_variance_is_that_of_its_drawn_weights(name, shape, gain):
    row = inits.INITIALIZERS[name]
    fan_out, fan_in = shape
    expected = row.weight_variance(fan_in, fan_out, gain)
    drawn = row(shape, rng=0) if gain is None else row(shape, gain=gain, rng=0)
    # E[w²]: within 3 % of the row's variance (≥ 40,000 draws: the sampling error is < 1 %)
    assert np.mean(drawn ** 2) == pytest.approx(expected, rel=0.03)
    filled = row.fill_(torch.empty(shape, dtype=torch.float64), gain)
    assert float(filled.pow(2).mean()) == pytest.approx(expected, rel=0.03)


def test_weight_variance_refuses_bad_fans_and_gains():
    row = inits.INITIALIZERS["xavier_uniform"]
    with pytest.raises(ValueError, match="shape must hold two whole numbers"):
        row.weight_variance(0, 10)
    with pytest.raises(ValueError, match="gain must be a positive number"):
        row.weight_variance(10, 10, gain=-1.0)
