"""utils.normalization: batch norm and layer norm from scratch, matched to PyTorch."""

import numpy as np
import pytest
import torch
from torch import nn

from utils import normalization as bn


def _batch(n=8, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, (n, d))
    gamma, beta = rng.uniform(0.5, 2.0, d), rng.normal(0, 1, d)
    return x, gamma, beta, rng.normal(0, 1, (n, d))


def _torch_bn(gamma, beta):
    layer = nn.BatchNorm1d(len(gamma)).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    return layer


def test_forward_and_backward_match_pytorch():
    x, gamma, beta, dout = _batch()
    y, cache = bn.batch_norm_forward(x, gamma, beta)
    dx, dgamma, dbeta = bn.batch_norm_backward(dout, cache)
    layer = _torch_bn(gamma, beta)
    xt = torch.from_numpy(x).requires_grad_()
    yt = layer(xt)
    yt.backward(torch.from_numpy(dout))
    assert np.abs(y - yt.detach().numpy()).max() < 1e-12
    assert np.abs(dx - xt.grad.numpy()).max() < 1e-12
    assert np.abs(dgamma - layer.weight.grad.numpy()).max() < 1e-12
    assert np.abs(dbeta - layer.bias.grad.numpy()).max() < 1e-12


def test_backward_matches_finite_differences():
    x, gamma, beta, dout = _batch(n=5, d=3, seed=1)
    _, cache = bn.batch_norm_forward(x, gamma, beta)
    dx, _, _ = bn.batch_norm_backward(dout, cache)

    def loss(z):
        return float((bn.batch_norm_forward(z, gamma, beta)[0] * dout).sum())

    assert np.abs(dx - bn.numerical_gradient(loss, x)).max() < 1e-7


def test_three_terms_are_each_needed_and_sum_to_dx():
    x, gamma, beta, dout = _batch(seed=2)
    _, cache = bn.batch_norm_forward(x, gamma, beta)
    terms = bn.batch_norm_backward_terms(dout, cache)
    dx = bn.batch_norm_backward(dout, cache)[0]
    assert np.allclose(terms["direct"] + terms["via_mean"] + terms["via_var"], dx)
    for name in terms:  # dropping any one term breaks the gradient
        rest = sum(value for key, value in terms.items() if key != name)
        assert np.abs(rest - dx).max() > 1e-3, name
    assert np.allclose(terms["direct"], dout * gamma * cache.inv_std)
    # a constant upstream gradient: the direct and mean paths cancel, the variance path is 0
    terms = bn.batch_norm_backward_terms(np.ones_like(dout), cache)
    assert np.allclose(terms["direct"] + terms["via_mean"], 0)
    assert np.allclose(terms["via_var"], 0)


def test_running_statistics_and_eval_match_pytorch_over_steps():
    rng = np.random.default_rng(3)
    mine = bn.BatchNorm(4)
    layer = nn.BatchNorm1d(4).double()
    for _ in range(5):
        x = rng.normal(1.0, 2.0, (6, 4))
        mine.forward(x)
        layer(torch.from_numpy(x))
    assert np.abs(mine.running_mean - layer.running_mean.numpy()).max() < 1e-12
    assert np.abs(mine.running_var - layer.running_var.numpy()).max() < 1e-12
    mine.training = False
    layer.eval()
    x = rng.normal(size=(3, 4))
    assert np.abs(mine.forward(x) - layer(torch.from_numpy(x)).detach().numpy()).max() < 1e-12


def test_running_var_is_unbiased_and_momentum_weights_the_new_batch():
    mean, var = bn.update_running(np.zeros(1), np.ones(1), np.array([2.0]), np.array([3.0]),
                                  n=4, momentum=0.1)
    assert mean[0] == pytest.approx(0.2)
    assert var[0] == pytest.approx(0.9 + 0.1 * 3.0 * 4 / 3)


def test_eval_output_of_an_example_does_not_depend_on_its_batch():
    x, gamma, beta, _ = _batch()
    alone = bn.batch_norm_eval(x[:1], gamma, beta, np.ones(5), np.full(5, 2.0))
    together = bn.batch_norm_eval(x, gamma, beta, np.ones(5), np.full(5, 2.0))
    assert np.allclose(alone[0], together[0])
    train_alone = bn.batch_norm_forward(x[:2], gamma, beta)[0][0]
    assert not np.allclose(train_alone, bn.batch_norm_forward(x, gamma, beta)[0][0])


def test_training_mode_needs_two_examples():
    with pytest.raises(ValueError, match="more than 1 example"):
        bn.BatchNorm(3).forward(np.ones((1, 3)))


def test_layer_norm_matches_pytorch():
    x, gamma, beta, _ = _batch(n=3, d=6, seed=4)
    layer = nn.LayerNorm(6).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    expected = layer(torch.from_numpy(x)).detach().numpy()
    assert np.abs(bn.layer_norm_forward(x, gamma, beta) - expected).max() < 1e-12
    assert np.allclose(bn.layer_norm_forward(x[:1], gamma, beta), expected[:1])


@pytest.mark.parametrize("call, argument", [
    (lambda: bn.batch_norm_forward(np.ones(3), np.ones(3), np.zeros(3)), "x must be 2-D"),
    (lambda: bn.batch_norm_forward(np.ones((2, 3)), np.ones(2), np.zeros(3)), "gamma"),
    (lambda: bn.batch_norm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), eps=0), "eps"),
    (lambda: bn.batch_norm_backward(np.ones((2, 3)), "cache"), "cache"),
    (lambda: bn.batch_norm_backward(
        np.ones((4, 3)), bn.batch_norm_forward(np.eye(2, 3), np.ones(3), np.zeros(3))[1]),
     "dout"),
    (lambda: bn.update_running(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), 1), "n"),
    (lambda: bn.update_running(np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), 4, 1.5),
     "momentum"),
    (lambda: bn.batch_norm_eval(np.ones((2, 2)), np.ones(2), np.zeros(2), np.zeros(2),
                                -np.ones(2)), "running_var"),
    (lambda: bn.BatchNorm(0), "features"),
    (lambda: bn.BatchNorm(2).backward(np.ones((2, 2))), "forward pass first"),
    (lambda: bn.layer_norm_forward([[1.0, "a"]], np.ones(2), np.zeros(2)), "x"),
    (lambda: bn.numerical_gradient("f", np.ones(2)), "f"),
])
def test_bad_arguments_name_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()
