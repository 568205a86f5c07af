"""utils.clipping: clipping by norm and by value from scratch, matched to torch.nn.utils;
the one-unit cliff network; utils.widgets.recurrent, the recurrent-gradient explorer."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from utils import clipping
from utils.widgets.recurrent import recurrent_gradient_explorer, recurrent_gradient_widget


def _model_with_gradients(seed, scale=1.0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    (model(torch.randn(11, 5, dtype=torch.float64)) ** 2).sum().mul(scale).backward()
    return model


def _twins(seed, scale=1.0):
    ours, theirs = _model_with_gradients(seed, scale), _model_with_gradients(seed, scale)
    return list(ours.parameters()), list(theirs.parameters())


@pytest.mark.parametrize("max_norm", [1e-3, 0.5, 1.0, 1e6])
@pytest.mark.parametrize("seed", range(4))
def test_clip_grad_norm_matches_torch(seed, max_norm):
    ours, theirs = _twins(seed)
    norm_ours = clipping.clip_grad_norm(ours, max_norm)
    norm_theirs = nn.utils.clip_grad_norm_(theirs, max_norm)
    assert abs(norm_ours.item() - norm_theirs.item()) <= 1e-12 * norm_theirs.item()
    for a, b in zip(ours, theirs):
        assert torch.allclose(a.grad, b.grad, rtol=1e-13, atol=1e-15)


def test_clip_grad_norm_returns_the_norm_before_clipping_and_keeps_the_direction():
    params, _ = _twins(0, scale=100.0)
    before = clipping.flat_gradient(params)
    norm = clipping.clip_grad_norm(params, 1.0)
    after = clipping.flat_gradient(params)
    assert norm.item() == pytest.approx(torch.linalg.vector_norm(before).item(), rel=1e-12)
    assert torch.linalg.vector_norm(after).item() == pytest.approx(1.0, abs=1e-5)
    assert clipping.cosine(before, after) == pytest.approx(1.0, abs=1e-12)


def test_clip_grad_norm_uses_torch_eps():
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([2.0], dtype=torch.float64)
    clipping.clip_grad_norm([p], 1.0)
    assert p.grad.item() == pytest.approx(2.0 / (2.0 + clipping.NORM_EPS), rel=1e-15)


@pytest.mark.parametrize("clip_value", [1e-3, 0.1, 10.0])
@pytest.mark.parametrize("seed", range(3))
def test_clip_grad_value_matches_torch(seed, clip_value):
    ours, theirs = _twins(seed)
    clipping.clip_grad_value(ours, clip_value)
    nn.utils.clip_grad_value_(theirs, clip_value)
    for a, b in zip(ours, theirs):
        assert torch.equal(a.grad, b.grad)


def test_value_clipping_changes_the_direction():
    params, _ = _twins(1, scale=10.0)
    before = clipping.flat_gradient(params)
    clipping.clip_grad_value(params, 0.1)
    assert clipping.cosine(before, clipping.flat_gradient(params)) < 0.999


def test_clipping_never_increases_a_norm():
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = torch.as_tensor(rng.normal(size=30) * 10.0 ** rng.uniform(-6, 6))
        for clip in (lambda p: clipping.clip_grad_norm(p, 1.0),
                     lambda p: clipping.clip_grad_value(p, 0.1)):
            p = torch.zeros(30, dtype=torch.float64, requires_grad=True)
            p.grad = g.clone()
            clip([p])
            assert torch.linalg.vector_norm(p.grad) <= torch.linalg.vector_norm(g)


def test_a_single_tensor_and_parameters_without_gradients():
    p = torch.zeros(3, requires_grad=True)
    assert clipping.clip_grad_norm(p, 1.0).item() == 0.0
    assert clipping.total_norm([p]).item() == 0.0
    assert clipping.flat_gradient([p]).numel() == 0


@pytest.mark.parametrize("call, words", [
    (lambda: clipping.clip_grad_norm(nn.Linear(2, 2), 1.0), "model.parameters()"),
    (lambda: clipping.clip_grad_norm(3, 1.0), "model.parameters()"),
    (lambda: clipping.clip_grad_norm([], -1.0), "max_norm"),
    (lambda: clipping.clip_grad_value([], 0), "clip_value"),
    (lambda: clipping.cosine(torch.ones(2), torch.ones(3)), "one shape"),
    (lambda: clipping.cliff_loss(1.0, steps=0), "steps"),
])
def test_bad_arguments_are_named(call, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_the_cliff_has_a_wall_next_to_its_valley():
    w = torch.linspace(4.0, 9.0, 2001, dtype=torch.float64, requires_grad=True)
    loss = clipping.cliff_loss(w, -3.0)
    (slope,) = torch.autograd.grad(loss.sum(), w)
    jumps = (loss[1:] - loss[:-1]).abs().detach()
    assert jumps.max() > 5.0  # the wall: one grid step of 0.0025 changes the loss by > 5
    assert loss.min() < 2.0 and math.isfinite(slope.abs().max().item())


# --- the explorer -------------------------------------------------------------------------


def test_explorer_vanishing_and_exploding_rnn():
    small = recurrent_gradient_explorer("rnn", 0.5, 30, seed=0)
    large = recurrent_gradient_explorer("rnn", 3.0, 30, seed=0)
    assert small.ratio < 1e-6 and small.finding().startswith("Vanishing")
    assert large.ratio > 1e3 and large.finding().startswith("Exploding")
    assert len(small.norms) == 30 and small.lags[0] == 0


def test_explorer_clipping_scales_every_lag_by_one_factor():
    raw = recurrent_gradient_explorer("rnn", 3.0, 20, seed=1)
    clipped = recurrent_gradient_explorer("rnn", 3.0, 20, max_norm=1.0, seed=1)
    assert clipped.factor == pytest.approx(1.0 / (raw.grad_norm + 1e-6), rel=1e-9)
    assert np.allclose(clipped.clipped, raw.norms * clipped.factor, rtol=1e-12)
    assert clipped.ratio == pytest.approx(raw.ratio, rel=1e-12)
    assert "clipping scaled every lag" in clipped.finding()
    assert np.array_equal(raw.clipped, raw.norms)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_explorer_gated_kinds_and_drawing(kind):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    result = recurrent_gradient_explorer(kind, 1.0, 10, max_norm=0.5, seed=0, ax=ax)
    assert result.kind == kind and np.all(np.isfinite(result.norms))
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    plt.close(fig)


@pytest.mark.parametrize("arguments, name", [
    (dict(kind="transformer"), "kind"), (dict(scale=-1.0), "scale"), (dict(length=1), "length"),
    (dict(max_norm=0.0), "max_norm"), (dict(hidden_size=0), "hidden_size"),
    (dict(seed="a"), "seed"), (dict(ax=3), "ax"),
])
def test_explorer_bad_arguments(arguments, name):
    with pytest.raises(ValueError, match=name):
        recurrent_gradient_explorer(**arguments)


def test_widget_sets_controls_and_recomputes():
    import matplotlib.pyplot as plt

    explorer = recurrent_gradient_widget()
    kind, scale, length, clip, max_norm = explorer.children[:5]
    length.value = 20
    scale.value = 3.0
    exploding = explorer.result
    clip.value = True
    clipped = explorer.result
    kind.value = "lstm"
    plt.close("all")
    assert exploding.ratio > 1e3 and exploding.max_norm is None
    assert clipped.max_norm == max_norm.value and clipped.factor < 1
    assert explorer.result.kind == "lstm"


@pytest.mark.parametrize("first, word", [(1e-5, "Vanishing"), (0.05, "Shrinking"),
                                         (1.0, "Steady"), (50.0, "Growing"), (1e5, "Exploding"),
                                         (0.0, "underflowed")])
def test_explorer_finding_words(first, word):
    from utils.widgets.recurrent import RecurrentGradientResult

    norms = np.array([1.0, first])
    result = RecurrentGradientResult("rnn", 1.0, 2, None, np.arange(2), norms, norms, 1.0, 1.0)
    assert word in result.finding()
