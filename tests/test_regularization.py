"""utils.regularization: the bias–variance U-curve, the digit subsets, inverted dropout
against nn.Dropout, the batched MLPs (each member trains as if alone), early stopping,
MC dropout, the probabilistic view, and clear errors for bad arguments."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import regularization as reg


@pytest.fixture(scope="module")
def data():
    return reg.digits_subsets(n_train=100, n_val=100, seed=0)


def test_polynomial_bias_variance_is_a_u_curve():
    bv = reg.polynomial_bias_variance([1, 3, 5], n_sets=300, seed=1)
    np.testing.assert_allclose(bv["mse"], bv["bias2"] + bv["variance"] + 0.3 ** 2)
    assert bv["bias2"][0] > 10 * bv["bias2"][1]
    assert bv["variance"][2] > 2 * bv["variance"][1]
    assert bv["mse"][1] < min(bv["mse"][0], bv["mse"][2])


def test_polynomial_bias_variance_rejects_bad_degrees():
    with pytest.raises(ValueError, match="degree"):
        reg.polynomial_bias_variance([1, 40])
    with pytest.raises(ValueError, match="noise"):
        reg.polynomial_bias_variance([1], noise=-1)


def test_digits_subsets_are_stratified_standardized_and_disjoint(data):
    assert len(data.y_train) == 100 and len(data.y_val) == 100 and len(data.y_test) == 450
    assert np.bincount(data.y_train.numpy(), minlength=10).tolist() == [10] * 10
    assert abs(float(data.x_train.mean())) < 1e-5
    train_rows = {tuple(row) for row in data.x_train.numpy().round(4)}
    shared = sum(tuple(row) in train_rows for row in data.x_val.numpy().round(4))
    assert shared <= 2  # a few digits are duplicated in the data set itself
    assert "train 100" in repr(data)


def test_digits_subsets_rejects_too_many_images():
    with pytest.raises(ValueError, match="n_train"):
        reg.digits_subsets(n_train=5000)
    with pytest.raises(ValueError, match="n_val"):
        reg.digits_subsets(n_train=100, n_val=5000)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_inverted_dropout_statistics(p):
    y = reg.inverted_dropout(torch.ones(300, 400, dtype=torch.float64), p,
                             generator=torch.Generator().manual_seed(0))
    assert abs(float((y == 0).double().mean()) - p) < 0.01
    assert abs(float(y.mean()) - 1) < 0.01
    assert torch.allclose(y[y != 0], torch.tensor(1 / (1 - p), dtype=torch.float64))


def test_inverted_dropout_matches_nn_dropout_given_its_mask():
    torch.manual_seed(3)
    x = torch.randn(50, 60, dtype=torch.float64)
    theirs = nn.Dropout(0.3).train()(x)
    ours = reg.inverted_dropout(x, 0.3, mask=(theirs != 0).double())
    assert (ours - theirs).abs().max() < 1e-12


def test_inverted_dropout_is_the_identity_in_evaluation_and_at_p_zero():
    x = torch.randn(5, 6)
    assert reg.inverted_dropout(x, 0.5, training=False) is x
    assert reg.inverted_dropout(x, 0.0) is x


def test_inverted_dropout_rejects_bad_arguments():
    x = torch.ones(3, 4)
    with pytest.raises(ValueError, match="p"):
        reg.inverted_dropout(x, 1.0)
    with pytest.raises(ValueError, match="p"):
        reg.inverted_dropout(x, -0.1)
    with pytest.raises(ValueError, match="training"):
        reg.inverted_dropout(x, 0.5, training="yes")
    with pytest.raises(ValueError, match="mask"):
        reg.inverted_dropout(x, 0.5, mask=torch.ones(4, 3))


def test_dropout_mask_keeps_one_minus_p():
    mask = reg.dropout_mask((1000, 100), 0.25, torch.Generator().manual_seed(1))
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert abs(float(mask.mean()) - 0.75) < 0.01


def _standalone(net, member, x):
    """Member ``member`` of an EnsembleMLP as a plain sequence of nn.Linear layers."""
    h = x
    for index, (w, b) in enumerate(zip(net.weights, net.biases)):
        h = F.linear(h, w[member].T, b[member, 0])
        if index < len(net.weights) - 1:
            h = torch.relu(h)
    return h


def test_ensemble_members_are_plain_mlps(data):
    net = reg.EnsembleMLP(64, 10, width=16, depth=2, seeds=[1, 2, 3])
    out = net(data.x_test)
    assert out.shape == (3, 450, 10)
    for member in range(3):
        torch.testing.assert_close(out[member], _standalone(net, member, data.x_test))
    assert not torch.allclose(out[0], out[1])
    assert net.weight_norm().shape == (3,)


def test_each_member_trains_as_if_alone(data):
    pair = reg.EnsembleMLP(64, 10, width=16, depth=2, seeds=[5, 6], p=[0.0, 0.0])
    alone = reg.EnsembleMLP(64, 10, width=16, depth=2, seeds=[6])
    reg.train_ensemble(pair, data, 5, batch_size=25, weight_decay=[0.1, 0.0], seed=2)
    reg.train_ensemble(alone, data, 5, batch_size=25, seed=2)
    for w_pair, w_alone in zip(pair.weights, alone.weights):
        torch.testing.assert_close(w_pair[1], w_alone[0], rtol=1e-4, atol=1e-5)


def test_weight_decay_shrinks_the_weights_and_history_is_complete(data):
    net = reg.EnsembleMLP(64, 10, width=32, depth=1, seeds=[0, 0])
    history = reg.train_ensemble(net, data, 20, lr=1e-2, batch_size=100,
                                 weight_decay=[0.0, 0.1], eval_every=5)
    assert history.epochs == [0, 5, 10, 15, 20]
    assert history.array("test_loss").shape == (5, 2)
    norms = net.weight_norm()
    assert norms[1] < 0.7 * norms[0]
    assert history.array("train_error")[-1].max() < history.array("train_error")[0].min()
    stop = reg.early_stopping(history)
    best = history.array("val_loss").argmin(axis=0)
    assert stop["epoch"].tolist() == [history.epochs[b] for b in best]
    with pytest.raises(ValueError, match="name"):
        history.array("loss")


def test_train_ensemble_rejects_bad_arguments(data):
    net = reg.EnsembleMLP(64, 10, width=4, depth=1, seeds=[0, 1])
    with pytest.raises(ValueError, match="weight_decay"):
        reg.train_ensemble(net, data, 1, weight_decay=[0.1])
    with pytest.raises(ValueError, match="epochs"):
        reg.train_ensemble(net, data, 0)
    with pytest.raises(ValueError, match="lr"):
        reg.train_ensemble(net, data, 1, lr=-1)


def test_ensemble_rejects_bad_arguments():
    with pytest.raises(ValueError, match="one drop probability per member"):
        reg.EnsembleMLP(64, 10, 8, 1, seeds=[0, 1], p=[0.5])
    with pytest.raises(ValueError, match="seeds"):
        reg.EnsembleMLP(64, 10, 8, 1, seeds=[])
    with pytest.raises(ValueError, match="width"):
        reg.EnsembleMLP(64, 10, 0, 1, seeds=[0])


def test_ensemble_dropout_only_in_training():
    net = reg.EnsembleMLP(4, 3, width=64, depth=1, seeds=[0], p=[0.5])
    x = torch.randn(8, 4)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_mc_dropout_gives_probabilities_and_without_dropout_the_plain_softmax(data):
    net = reg.EnsembleMLP(64, 10, width=16, depth=2, seeds=[0, 1], p=[0.0, 0.5])
    q = reg.mc_dropout_predict(net, data.x_test[:20], passes=10)
    torch.testing.assert_close(q.sum(dim=-1), torch.ones(2, 20))
    net.eval()
    torch.testing.assert_close(q[0], torch.softmax(net(data.x_test[:20])[0], dim=-1))
    assert not net.training  # the mode is restored


def test_predictive_entropy_of_certain_and_uniform_predictions():
    q = torch.tensor([[1.0] + [0.0] * 9, [0.1] * 10])
    h = reg.predictive_entropy(q)
    assert abs(float(h[0])) < 1e-9 and abs(float(h[1]) - math.log(10)) < 1e-6


def test_shifted_digits_and_noise_images(data):
    shifted = reg.shifted_digits(data.x_test[:3], 2).reshape(-1, 8, 8)
    torch.testing.assert_close(shifted[:, :, 2:], data.x_test[:3].reshape(-1, 8, 8)[:, :, :6])
    assert reg.noise_images(7, seed=1).shape == (7, 64)
    with pytest.raises(ValueError, match="pixels"):
        reg.shifted_digits(data.x_test, 9)


def test_the_probabilistic_view():
    grid = np.linspace(-5, 5, 101)
    assert np.abs(reg.logistic_ecdf(grid, 100_000) - 1 / (1 + np.exp(-grid))).max() < 0.01
    assert reg.standard_normal_cdf(np.array([0.0]))[0] == 0.5
    points = np.linspace(-2, 2, 9)
    gelu = F.gelu(torch.tensor(points)).numpy()
    assert np.abs(points * reg.standard_normal_cdf(points) - gelu).max() < 1e-12
    assert np.abs(reg.gelu_monte_carlo(points, 50_000) - gelu).max() < 0.03
    with pytest.raises(ValueError, match="points"):
        reg.logistic_ecdf(np.ones((2, 2)))
