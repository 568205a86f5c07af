"""Notebook 08's code: utils.residual (block gradients, the plain twin, deleting a block, path
lengths, transformer stacks), the explorer of utils.widgets.residual, and the checks of its
exercises beyond the automatic slip tests."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.exercises import CORRECT, ERROR, NOT_ATTEMPTED, WRONG, check
from utils.exercises import nb08_residual_connections as nb08
from utils.nets import make_mlp
from utils.residual import (
    block_input_gradients,
    blocks_of,
    dropped_block,
    make_transformer_stack,
    median_transformer_gradients,
    path_gradient_norms,
    path_length_counts,
    plain_twin,
    transformer_layer_gradients,
)
from utils.widgets.residual import (
    ResidualGradientResult,
    residual_gradient_explorer,
    residual_gradient_widget,
)


def _batch(n=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 16, generator=generator), torch.randint(0, 10, (n,),
                                                                  generator=generator)


def _net(residual="pre", depth=7, block_layers=1, norm=None, seed=0):
    return make_mlp(16, 10, depth=depth, width=8, init="he_normal", norm=norm,
                    residual=residual, block_layers=block_layers, seed=seed)


# --- block gradients and the plain twin ---------------------------------------------------


@pytest.mark.parametrize("residual", ["pre", "post"])
def test_block_input_gradients_read_one_norm_per_block(residual):
    net = _net(residual, depth=7, block_layers=2)
    norms = block_input_gradients(net, *_batch())
    assert norms.shape == (3,) and np.all(norms > 0)
    assert blocks_of(net) == [["hidden2", "hidden3"], ["hidden4", "hidden5"],
                              ["hidden6", "hidden7"]]


def test_block_input_gradient_of_a_plain_net_is_the_gradient_at_its_layer_input():
    net = plain_twin(_net("pre", depth=4))
    x, y = _batch()
    norms = block_input_gradients(net, x, y)
    inputs = []

    def keep(_module, args):
        args[0].retain_grad()
        inputs.append(args[0])

    hook = net.hidden3.register_forward_pre_hook(keep)
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    hook.remove()
    assert math.isclose(norms[1], inputs[0].grad.norm().item(), rel_tol=1e-6)


def test_the_plain_twin_shares_the_layers_and_drops_only_the_skips():
    net = _net("pre", depth=5)
    twin = plain_twin(net)
    assert twin.residual is None
    assert twin.hidden3 is net.hidden3 and twin.output is net.output
    x, _ = _batch(4)
    h = net.hidden1(x)
    for name in ("hidden2", "hidden3", "hidden4", "hidden5"):
        h = getattr(net, name)(h)
    assert torch.allclose(twin(x), net.output(h))


def test_a_zero_branch_passes_the_gradient_exactly():
    net = _net("pre", depth=6)
    with torch.no_grad():
        for name in ("hidden2", "hidden3", "hidden4", "hidden5", "hidden6"):
            getattr(net, name).linear.weight.zero_()
            getattr(net, name).linear.bias.zero_()
    norms = block_input_gradients(net, *_batch())
    assert np.all(norms == norms[-1])


# --- deleting a block ---------------------------------------------------------------------


def test_dropping_a_residual_block_is_the_identity_in_its_place():
    net = _net("pre", depth=4).eval()
    x, _ = _batch(5)
    with dropped_block(net, 2):
        without = net(x)
    h = net.hidden1(x)
    h = h + net.hidden2(h)
    h = h + net.hidden4(h)
    assert torch.allclose(without, net.output(h))
    assert len(net.plan) == 3  # restored


def test_dropping_a_plain_block_leaves_its_layers_out_and_restores_them():
    net = plain_twin(_net("post", depth=5, block_layers=2))
    x, _ = _batch(5)
    before = net(x)
    with dropped_block(net, 1):
        without = net(x)
    expected = net.output(net.hidden5(net.hidden4(net.hidden1(x))))
    assert torch.allclose(without, expected)
    assert torch.allclose(net(x), before)


def test_the_block_is_restored_after_an_error():
    net = _net("pre", depth=4)
    with pytest.raises(RuntimeError), dropped_block(net, 1):
        raise RuntimeError("inside")
    assert len(net.plan) == 3


@pytest.mark.parametrize("block", [0, 4, 1.5, "2"])
def test_a_block_out_of_range_is_refused_with_its_name(block):
    with pytest.raises(ValueError, match="block"), dropped_block(_net("pre", depth=4), block):
        pass


def test_only_make_mlp_networks_are_accepted():
    with pytest.raises(ValueError, match="model must be a network built by"):
        block_input_gradients(torch.nn.Linear(3, 3), *_batch())


# --- paths --------------------------------------------------------------------------------


def test_path_counts_are_binomial():
    counts = path_length_counts(5)
    assert counts.tolist() == [1, 5, 10, 10, 5, 1]
    assert counts.sum() == 2 ** 5


def test_the_paths_add_up_to_the_full_gradient():
    """Every one of the 2ⁿ paths once: their gradients sum to the true gradient (the
    expansion of ∏(I + J) is exact), for post- and pre-activation blocks."""
    from itertools import combinations

    from utils.residual import _forward_through

    for residual in ("pre", "post"):
        net = _net(residual, depth=4).double().eval()
        x, y = _batch(8)
        x = x.double()
        full = torch.zeros(8, 8, dtype=torch.float64)
        for k in range(4):
            for chosen in combinations(range(1, 4), k):
                out, first = _forward_through(net, x, set(chosen))
                full += torch.autograd.grad(F.cross_entropy(out, y), first)[0]
        out, first = _forward_through(net, x, {1, 2, 3})
        first_plain = net.hidden1(x)
        first_plain.retain_grad()
        h = first_plain
        for _, names in net.plan:
            layer = getattr(net, names[0])
            h = h + layer(h) if residual == "pre" else layer.activate(h + layer.transform(h))
        F.cross_entropy(net.output(h), y).backward()
        assert torch.allclose(full, first_plain.grad, atol=1e-12)


def test_path_gradient_norms_shapes_and_plain_refusal():
    net = _net("post", depth=5).eval()
    paths = path_gradient_norms(net, *_batch(), samples=2)
    assert paths.lengths.tolist() == [0, 1, 2, 3, 4] and paths.blocks == 4
    assert np.allclose(paths.total, paths.per_path * path_length_counts(4))
    with pytest.raises(ValueError, match="needs a residual net"):
        path_gradient_norms(plain_twin(net), *_batch())


# --- transformers -------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_stack_and_its_gradients(norm_first):
    stack = make_transformer_stack(3, norm_first, seed=1)
    assert len(stack.layers) == 3 and stack.layers[0].norm_first is norm_first
    assert stack(torch.randn(2, 5, 32)).shape == (2, 5)
    norms = transformer_layer_gradients(3, norm_first, seed=1)
    assert norms.shape == (3,) and np.all(norms > 0)
    assert np.array_equal(norms, transformer_layer_gradients(3, norm_first, seed=1))
    assert median_transformer_gradients(3, norm_first, inits=3).shape == (3,)


def test_transformer_arguments_are_checked():
    with pytest.raises(ValueError, match="multiple of nhead"):
        make_transformer_stack(2, True, d_model=30, nhead=4)
    with pytest.raises(ValueError, match="init"):
        make_transformer_stack(2, True, init="he")
    with pytest.raises(ValueError, match="depth"):
        make_transformer_stack(0, True)


# --- the explorer -------------------------------------------------------------------------


def test_explorer_plain_bn_explodes_and_residual_does_not():
    plain = residual_gradient_explorer(50, skip=False, placement="pre", norm="batch", seed=0)
    residual = residual_gradient_explorer(50, skip=True, placement="pre", norm="batch", seed=0)
    assert isinstance(plain, ResidualGradientResult) and plain.norms.shape == (50,)
    assert plain.ratio > 1000 > 100 > residual.ratio
    assert "Exploding" in plain.finding()


def test_explorer_draws_on_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    residual_gradient_explorer(5, True, "post", None, seed=0, ax=ax)
    assert ax.get_yscale() == "log" and "5 blocks" in ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize("argument, value", [("depth", 0), ("placement", "middle"),
                                             ("norm", "group"), ("skip", "yes")])
def test_explorer_refuses_bad_arguments_by_name(argument, value):
    arguments = {"depth": 5, "skip": True, "placement": "pre", "norm": "batch"}
    arguments[argument] = value
    with pytest.raises(ValueError, match=argument):
        residual_gradient_explorer(**arguments)


def test_the_widget_recomputes_when_a_control_changes():
    widget = residual_gradient_widget()
    assert widget.result.skip is True
    widget.children[1].value = False
    assert widget.result.skip is False and widget.result.ratio > 100


# --- the exercises ------------------------------------------------------------------------


def test_8_1_a_block_that_crashes_is_reported_not_raised():
    def crashes(x, linear):
        return x + linear(x.T)

    assert check("8.1", crashes).status == ERROR


def test_8_1_numpy_output_is_refused_with_a_reason():
    feedback = check("8.1", lambda x, linear: torch.relu(x + linear(x)).detach().numpy())
    assert feedback.status == WRONG and "torch tensor" in feedback.message


def test_8_1_the_detached_skip_names_the_gradient_it_loses():
    feedback = check("8.1", lambda x, linear: torch.relu(x.detach() + linear(x)))
    assert feedback.status == WRONG and "Through 30 blocks" in feedback.message


def test_8_2_accepts_lists_and_tensors_and_refuses_a_wrong_size():
    assert check("8.2", [5.5, 2.0]).status == CORRECT
    assert check("8.2", torch.tensor([5.5, 2.0])).status == CORRECT
    assert check("8.2", np.array([5.5, 2.0, 0.0])).status == WRONG
    assert check("8.2", None).status == NOT_ATTEMPTED


def test_8_2_the_expected_value_is_the_autograd_gradient():
    x = torch.tensor(nb08.GRAD_X, requires_grad=True)
    (x + torch.tensor(nb08.GRAD_W) @ torch.relu(x)).backward(torch.tensor(nb08.GRAD_G))
    assert np.allclose(x.grad.numpy(), nb08.gradient_through_block(nb08.GRAD_X, nb08.GRAD_W,
                                                                    nb08.GRAD_G))


def test_8_3_the_broken_block_is_the_one_whose_ratio_drops():
    norms = nb08.broken_gradients()
    ratios = {f"block{k}": norms[f"block{k}"] / norms[f"block{k + 1}"] for k in range(1, 8)}
    assert min(ratios, key=ratios.get) == f"block{nb08.BROKEN_MISSING}"
    assert ratios[f"block{nb08.BROKEN_MISSING}"] < 0.6
    assert all(r > 0.95 for name, r in ratios.items() if name != "block5")


@pytest.mark.parametrize("answer", [5, "Block5", " block5 "])
def test_8_3_accepts_a_number_or_a_name(answer):
    assert check("8.3", answer).status == CORRECT


@pytest.mark.parametrize("answer", ["block9", "five", 0, True, 2.5])
def test_8_3_unreadable_answers_are_explained(answer):
    feedback = check("8.3", answer)
    assert feedback.status == WRONG and "should name one block" in feedback.message
