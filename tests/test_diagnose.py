"""utils.gradflow.diagnose: what it finds, what it cannot see, and that it changes nothing."""

import copy

import pytest
import torch
from torch import nn

from utils import gradflow
from utils.nets import make_mlp

from conftest import DeclaredOutOfOrder, StateReader


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(128, 16), torch.randint(0, 4, (128,))


def sigmoid_chain():
    """A 10-layer sigmoid net (PyTorch's default init) as a flat list of layers."""
    torch.manual_seed(0)
    layers = [nn.Linear(16, 32), nn.Sigmoid()]
    for _ in range(9):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    return layers + [nn.Linear(32, 4)]


def test_the_declaration_order_does_not_change_the_diagnosis(batch):
    layers = sigmoid_chain()
    forward = DeclaredOutOfOrder(copy.deepcopy(layers), declare=range(len(layers)))
    backward = DeclaredOutOfOrder(copy.deepcopy(layers), declare=reversed(range(len(layers))))
    first, second = gradflow.diagnose(forward, batch), gradflow.diagnose(backward, batch)
    assert first.conditions == second.conditions == ["vanishing"]
    assert first.gradient_ratio == second.gradient_ratio < 1e-3


@pytest.mark.parametrize("layer_type", [nn.RNN, nn.GRU, nn.LSTM])
@pytest.mark.parametrize("batch_first", [True, False])
def test_a_recurrent_classifier_reading_h_n_gets_a_measured_ratio(layer_type, batch_first):
    torch.manual_seed(0)
    model = StateReader(layer_type, batch_first)
    x = torch.randn(4, 5, 3) if batch_first else torch.randn(5, 4, 3)
    result = gradflow.diagnose(model, (x, torch.tensor([0, 1, 0, 1])))
    rnn, head = result.flow.layers(kind="weights")
    assert result.gradient_ratio == rnn.output_grad_norm / head.output_grad_norm > 0
    assert result.healthy and "not measured" not in repr(result)
    assert "hidden_state_gradients" in repr(result)


def test_an_unmeasured_ratio_is_never_called_healthy():
    class OneLayerSeen(nn.Module):  # the first layer's output is cut off from the loss
        def __init__(self):
            super().__init__()
            self.first, self.second = nn.Linear(3, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.second(self.first(x).detach())

    torch.manual_seed(0)
    result = gradflow.diagnose(OneLayerSeen(), (torch.randn(4, 3), torch.tensor([0, 1, 0, 1])))
    assert result.findings == [] and not result.healthy
    assert "no problem found." not in repr(result) and "not measured" in repr(result)
    assert "no gradient reached the output of first" in repr(result)


def test_diagnose_leaves_the_model_exactly_as_it_found_it(batch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4))
    model[5].eval()  # a mixture of modes
    model[4].bias.requires_grad_(False)
    model[0].weight.grad = torch.full_like(model[0].weight, 0.25)
    kept_grad = model[0].weight.grad
    state = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    rng = torch.get_rng_state()
    gradflow.diagnose(model, [batch, batch])
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert model[0].weight.grad is kept_grad and torch.all(kept_grad == 0.25)
    assert all(p.grad is None for p in list(model.parameters())[1:])
    assert torch.equal(torch.get_rng_state(), rng)


def test_nan_inputs_are_named_not_blamed_on_overflow(batch):
    x, y = batch[0].clone(), batch[1]
    x[3, 5] = float("nan")
    x[7, 0] = float("inf")
    result = gradflow.diagnose(make_mlp(16, 4, depth=2), (x, y))
    assert result.conditions == ["bad_inputs"]
    assert "inputs contain NaN/inf: 2 of" in repr(result) and "overflow" not in repr(result)
    assert not result.healthy


def test_nan_weights_are_named(batch):
    model = make_mlp(16, 4, depth=2)
    with torch.no_grad():
        model.hidden2.linear.weight[0, 0] = float("nan")
    result = gradflow.diagnose(model, batch)
    assert result.conditions == ["bad_weights"] and "hidden2.linear.weight" in repr(result)


def test_a_batch_given_as_a_list_is_accepted(batch):
    model = make_mlp(16, 4, depth=3, init="he_normal")
    as_tuple = gradflow.diagnose(model, batch)
    as_list = gradflow.diagnose(model, list(batch))
    of_lists = gradflow.diagnose(model, [list(batch), list(batch)])
    assert as_tuple.gradient_ratio == as_list.gradient_ratio == of_lists.gradient_ratio


def test_dead_units_are_those_dead_in_every_batch():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]]))
        model[0].bias.zero_()
    y = torch.tensor([0, 1])
    all_alive = (torch.tensor([[1.0, 1], [-1, -1]]), y)  # every unit positive for one row
    one_alive = (torch.tensor([[1.0, 0], [2, 0]]), y[:2])  # only unit 0 positive: 3/4 zero
    result = gradflow.diagnose(model, [all_alive, one_alive])
    assert "dead" not in result.conditions  # each unit lived in batch 1: none is dead
    assert result.flow.layers(kind="relu")[0].dead_fraction == 0
    result = gradflow.diagnose(model, [one_alive, one_alive])
    assert "dead" in result.conditions and result.flow.layers(kind="relu")[0].dead_fraction == 0.75


def test_the_dead_unit_message_says_what_is_true(batch):
    model = make_mlp(16, 4, depth=4, init="he_normal")
    with torch.no_grad():
        model.hidden2.linear.bias.fill_(-20.0)
    text = repr(gradflow.diagnose(model, batch))
    assert "never recover" not in text
    assert "no gradient back through itself" in text and "comes back only if" in text


def test_the_update_ratio_rule_of_thumb_is_attributed():
    documented = gradflow.plot_update_ratios.__doc__ + gradflow.__doc__ + open(
        gradflow.__file__, encoding="utf-8").read()
    assert "rule of thumb" in gradflow.plot_update_ratios.__doc__
    assert "Karpathy" in documented and "CS231n" in documented and "Zero to Hero" in documented
    assert gradflow.UPDATE_RATIO_RULE_OF_THUMB == 1e-3


@pytest.mark.parametrize("make, message", [
    (lambda b: gradflow.diagnose("model", b), "model must be a torch.nn.Module"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), b[0]), "data must be one batch"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), "batch"), "data must be one batch"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), (b[0], b[1][:5])),
     r"data: loss_fn could not compare the model's output \(shape \(128, 4\)\) with y"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), [b, (b[0], None)]), r"data\[1\] must hold"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), [b, (b[0],)]), r"data\[1\] must be a pair"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), (b[0][:, :3], b[1])),
     "data: the model could not run on batch 1"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), b, loss_fn="cross_entropy"),
     "loss_fn must be a function"),
    (lambda b: gradflow.diagnose(nn.Linear(16, 4), b, loss_fn=lambda out, y: out),
     "loss_fn must return a single number"),
])
def test_bad_arguments_name_the_argument(batch, make, message):
    with pytest.raises(ValueError, match=message):
        make(batch)
