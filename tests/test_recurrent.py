"""The recurrent cells from scratch (utils.recurrent) against nn.RNN, nn.LSTM and nn.GRU."""

import pytest
import torch
from torch import nn

from utils import recurrent as rc

MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def layer_and_input(kind, seed=0, batch=4, time=9, features=3, hidden=5):
    torch.manual_seed(seed)
    module = MODULES[kind](features, hidden, batch_first=True).double()
    x = torch.randn(batch, time, features, dtype=torch.float64)
    return module, x


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_unroll_matches_pytorch_outputs_and_gradients(kind):
    module, x = layer_and_input(kind)
    x_theirs, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    theirs, _ = module(x_theirs)
    ours = rc.unroll(x_ours, rc.cell_weights(module)).outputs
    assert (ours - theirs).abs().max() <= 1e-10
    target = torch.randn_like(theirs)
    inputs_t = [x_theirs, *module.parameters()]
    inputs_o = [x_ours, *module.parameters()]
    grads_t = torch.autograd.grad(((theirs - target) ** 2).sum(), inputs_t)
    grads_o = torch.autograd.grad(((ours - target) ** 2).sum(), inputs_o)
    for a, b in zip(grads_t, grads_o):
        assert (a - b).abs().max() <= 1e-10


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_unroll_from_a_given_state_matches_pytorch(kind):
    module, x = layer_and_input(kind, seed=1, batch=2)
    h0 = torch.randn(1, 2, 5, dtype=torch.float64)
    if kind == "lstm":
        c0 = torch.randn(1, 2, 5, dtype=torch.float64)
        theirs, (h_t, c_t) = module(x, (h0, c0))
        unrolled = rc.unroll(x, rc.cell_weights(module), (h0[0], c0[0]))
        assert (unrolled.cell[-1] - c_t[0]).abs().max() <= 1e-10
    else:
        theirs, h_t = module(x, h0)
        unrolled = rc.unroll(x, rc.cell_weights(module), h0[0])
    assert (unrolled.outputs - theirs).abs().max() <= 1e-10
    assert (unrolled.hidden[-1] - h_t[0]).abs().max() <= 1e-10


def test_lstm_pieces():
    module, x = layer_and_input("lstm")
    weights = rc.cell_weights(module)
    unrolled = rc.unroll(x, weights)
    assert len(unrolled.hidden) == len(unrolled.cell) == len(unrolled.forget) == x.shape[1]
    gates = rc.lstm_gates(x[:, 0], torch.zeros(4, 5, dtype=torch.float64), weights)
    assert set(gates) == set(rc.LSTM_GATES)
    # c_1 = i ⊙ g from c_0 = 0, and the forget gate recorded is f_1
    assert torch.allclose(unrolled.cell[0], gates["i"] * gates["g"])
    assert torch.allclose(unrolled.forget[0], gates["f"])


def test_the_cell_path_derivative_is_the_forget_gate():
    module, x = layer_and_input("lstm", time=3)
    weights = rc.cell_weights(module)
    h = torch.randn(4, 5, dtype=torch.float64)
    c = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    _, c_next = rc.lstm_cell(x[:, 0], (h, c), weights)
    (grad,) = torch.autograd.grad(c_next.sum(), c)
    assert torch.allclose(grad, rc.lstm_gates(x[:, 0], h, weights)["f"])


def test_rnn_jacobian_is_autograds():
    module, x = layer_and_input("rnn", time=1, batch=1)
    weights = rc.cell_weights(module)
    h = torch.randn(1, 5, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda h: rc.rnn_cell(x[:, 0], h, weights),
                                                  h)[0, :, 0, :]
    ours = rc.rnn_jacobian(rc.rnn_cell(x[:, 0], h, weights), weights.W_hh)[0]
    assert torch.allclose(ours, jacobian, atol=1e-12)


def test_spectral_radius_and_norm():
    rotation = torch.tensor([[0.0, -2.0], [2.0, 0.0]])
    assert rc.spectral_radius(rotation) == pytest.approx(2.0)
    shear = torch.tensor([[0.5, 10.0], [0.0, 0.5]])
    assert rc.spectral_radius(shear) == pytest.approx(0.5)
    assert rc.spectral_norm(shear) > 10
    assert rc.spectral_radius(shear) <= rc.spectral_norm(shear)


@pytest.mark.parametrize("call, message", [
    (lambda w, x: rc.unroll(x[:, :, :2], w), "x must be a tensor of shape (batch, time, 3)"),
    (lambda w, x: rc.unroll(x[0], w), "x must be a tensor of shape (batch, time, 3)"),
    (lambda w, x: rc.unroll(x.numpy(), w), "x must be a tensor"),
    (lambda w, x: rc.unroll(x[:, :0], w), "no time steps"),
    (lambda w, x: rc.unroll(x, "weights"), "weights must be a CellWeights"),
    (lambda w, x: rc.rnn_cell(x[:, 0], torch.zeros(4, 5, dtype=torch.float64), w),
     "weights are of a 'lstm' layer"),
    (lambda w, x: rc.lstm_cell(x[:, 0], torch.zeros(4, 5), w), "pair (h, c)"),
    (lambda w, x: rc.lstm_cell(x[:, 0], (torch.zeros(4, 5), torch.zeros(4, 6)), w),
     "c must be a tensor of shape (batch, 5)"),
    (lambda w, x: rc.lstm_cell(x[:, 0], (torch.zeros(3, 5), torch.zeros(3, 5)), w),
     "the same batch size"),
    (lambda w, x: rc.lstm_gates(x[:, 0], torch.zeros(4, 7), w),
     "h must be a tensor of shape (batch, 5)"),
])
def test_bad_shapes_are_named(call, message):
    module, x = layer_and_input("lstm")
    with pytest.raises(ValueError, match=None) as error:
        call(rc.cell_weights(module), x)
    assert message in str(error.value)


def test_bad_modules_and_matrices_are_named():
    with pytest.raises(ValueError, match="nn.RNN, nn.LSTM or nn.GRU"):
        rc.cell_weights(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="layer"):
        rc.cell_weights(nn.LSTM(2, 3, num_layers=2), layer=2)
    with pytest.raises(ValueError, match="one-directional"):
        rc.cell_weights(nn.GRU(2, 3, bidirectional=True))
    with pytest.raises(ValueError, match="nonlinearity='relu'"):
        rc.cell_weights(nn.RNN(2, 3, nonlinearity="relu"))
    with pytest.raises(ValueError, match="square matrix"):
        rc.spectral_radius(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="W_hh must be a square matrix"):
        rc.rnn_jacobian(torch.zeros(3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="h_next must be a tensor of shape"):
        rc.rnn_jacobian(torch.zeros(4), torch.zeros(3, 3))
    weights = rc.cell_weights(nn.GRU(2, 3))
    weights.W_hh = torch.zeros(6, 3)
    with pytest.raises(ValueError, match=r"weights.W_hh must have shape \(9, 3\)"):
        rc.gru_cell(torch.zeros(1, 2), torch.zeros(1, 3), weights)


def test_second_layer_of_a_stack():
    torch.manual_seed(3)
    module = nn.LSTM(3, 4, num_layers=2, batch_first=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    theirs, _ = module(x)
    first = rc.unroll(x, rc.cell_weights(module, 0)).outputs
    second = rc.unroll(first, rc.cell_weights(module, 1)).outputs
    assert (second - theirs).abs().max() <= 1e-10
