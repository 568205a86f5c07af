"""Exercise-specific behaviour of notebook 09's checks (the generic tests are in
test_exercises.py)."""

import numpy as np
import pytest
import torch

from utils import recurrent as rc
from utils.exercises import check
from utils.exercises.core import CORRECT, ERROR, NOT_ATTEMPTED, WRONG, reset_hints
from utils.exercises.nb09_recurrent_networks_lstm import (
    _bptt_reference,
    _decay_reference,
    _lstm,
    _lstm_reference,
)


@pytest.fixture(autouse=True)
def _fresh_hints():
    reset_hints()
    yield
    reset_hints()


def test_bptt_reference_is_autograds():
    w, u = torch.tensor(0.9, dtype=torch.float64, requires_grad=True), 0.7
    xs = np.array([0.5, -1.0, 0.3, 2.0])
    h = torch.zeros((), dtype=torch.float64)
    for x in xs:
        h = torch.tanh(w * h + u * x)
    (grad,) = torch.autograd.grad(h, w)
    assert _bptt_reference(0.9, u, xs) == pytest.approx(grad.item(), rel=1e-12)


def test_lstm_reference_is_our_cell_and_nn_lstm():
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 2).double()
    x, h, c = (torch.randn(5, n, dtype=torch.float64) for n in (3, 2, 2))
    weights = rc.cell_weights(module)
    h_ours, c_ours = rc.lstm_cell(x, (h, c), weights)
    h_ref, c_ref = _lstm_reference(*(t.detach().numpy() for t in (
        x, h, c, weights.W_ih, weights.W_hh, weights.b_ih, weights.b_hh)))
    np.testing.assert_allclose(h_ref, h_ours.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(c_ref, c_ours.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("variant, words", [
    (dict(order="ifog"), "order i, f, o, g"),
    (dict(order="igfo"), "TensorFlow 1"),
    (dict(squash_cell=False), "squashed by a tanh"),
])
def test_lstm_check_names_gate_order_and_missing_tanh(variant, words):
    feedback = check("9.2", lambda *args: _lstm(*args, **variant))
    assert feedback.status == WRONG
    assert words in feedback.text()


def test_lstm_check_survives_bad_answers():
    assert check("9.2", None).status == NOT_ATTEMPTED
    assert check("9.2", lambda *args: 1 / 0).status == ERROR
    feedback = check("9.2", lambda x, h, c, *rest: h)
    assert feedback.status == WRONG


def test_decay_check():
    assert check("9.3", _decay_reference).status == CORRECT
    feedback = check("9.3", lambda b, k: (1 / (1 + np.exp(-b)) * (1 - 1 / (1 + np.exp(-b))))
                     ** k)
    assert feedback.status == WRONG and "slope" in feedback.text()
    assert check("9.3", lambda b, k: None).status == NOT_ATTEMPTED
    assert check("9.3", lambda b, k: k[:1]).status == WRONG


def test_bptt_check_accepts_the_reference_and_names_the_missing_slope():
    assert check("9.1", _bptt_reference).status == CORRECT
    from utils.exercises.nb09_recurrent_networks_lstm import _bptt
    feedback = check("9.1", lambda w, u, xs: _bptt(w, u, xs, slope=False))
    assert feedback.status == WRONG and "slope of tanh" in feedback.text()
