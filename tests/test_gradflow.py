"""utils.gradflow: hooks, statistics, clean-up, figures and the diagnosis."""

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import gradflow
from utils.nets import make_mlp


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(128, 16), torch.randint(0, 4, (128,))


def net(**kwargs):
    torch.manual_seed(0)
    arguments = {"depth": 8, "width": 32, "activation": "relu", "init": "he_normal"} | kwargs
    return make_mlp(16, 4, **arguments)


def run(model, batch, optimizer=None, steps=1):
    with gradflow.GradFlow(model, optimizer=optimizer) as flow:
        for _ in range(steps):
            if optimizer is not None:
                optimizer.zero_grad()
            F.cross_entropy(model(batch[0]), batch[1]).backward()
            if optimizer is not None:
                optimizer.step()
    return flow


def all_hooks(model):
    count = 0
    for module in model.modules():
        count += len(module._forward_hooks) + len(module._forward_pre_hooks)
        for parameter in module.parameters(recurse=False):
            count += len(getattr(parameter, "_post_accumulate_grad_hooks", None) or {})
    return count


def test_records_every_layer_input_to_output(batch):
    flow = run(net(depth=3), batch)
    names = [r.name for r in flow.layers()]
    assert names == ["hidden1.linear", "hidden1.activation", "hidden2.linear",
                     "hidden2.activation", "hidden3.linear", "hidden3.activation", "output"]
    weights = flow.layers(kind="weights")
    assert all(r.weight_grad_norm > 0 and r.output_grad_norm > 0 for r in weights)
    relu = flow.layers(kind="relu")[0]
    assert 0 < relu.act_mean and relu.dead_fraction is not None
    assert "hidden1.linear" in flow.table()


def test_weight_gradient_norm_matches_autograd(batch):
    model = net(depth=2)
    flow = run(model, batch)
    assert flow.weight_grad_norms()["hidden1.linear"] == pytest.approx(
        model.hidden1.linear.weight.grad.norm().item(), rel=1e-6)


def test_every_hook_is_removed(batch):
    model = net(depth=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = all_hooks(model)
    run(model, batch, optimizer)
    assert all_hooks(model) == before == 0
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks


def test_hooks_are_removed_even_after_an_error(batch):
    model = net(depth=2)
    with pytest.raises(RuntimeError), gradflow.GradFlow(model):
        model(torch.zeros(3, 5))  # wrong input size
    assert all_hooks(model) == 0


def test_sigmoid_net_vanishes_and_relu_he_net_does_not(batch):
    sigmoid = gradflow.diagnose(net(depth=10, activation="sigmoid", init="glorot_standard"), batch)
    assert sigmoid.conditions == ["vanishing"] and sigmoid.gradient_ratio < 1e-5
    assert "notebooks 04" in repr(sigmoid)
    healthy = gradflow.diagnose(net(depth=10), batch)
    assert healthy.healthy and "no problem found" in repr(healthy)


def test_large_init_explodes(batch):
    result = gradflow.diagnose(net(depth=10, init="normal", init_std=1.0), batch)
    assert "exploding" in result.conditions and result.gradient_ratio > 1e3
    assert "10 (gradient clipping)" in repr(result)


def test_large_tanh_init_saturates(batch):
    result = gradflow.diagnose(net(depth=6, activation="tanh", init="normal", init_std=1.0),
                               batch)
    assert "saturated" in result.conditions


def test_negative_bias_kills_relu_units(batch):
    model = net(depth=4)
    with torch.no_grad():
        model.hidden2.linear.bias.fill_(-20.0)
    result = gradflow.diagnose(model, batch)
    assert "dead" in result.conditions and "hidden2.activation" in repr(result)


def test_diagnose_changes_no_weight_and_clears_gradients(batch):
    model = net(depth=3)
    before = [p.detach().clone() for p in model.parameters()]
    gradflow.diagnose(model, [batch, batch])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())


def test_update_ratios_are_recorded_per_step(batch):
    model = net(depth=3)
    flow = run(model, batch, torch.optim.SGD(model.parameters(), lr=0.01), steps=3)
    ratios = flow.update_ratios()
    assert set(ratios) == {"hidden1.linear", "hidden2.linear", "hidden3.linear", "output"}
    assert all(len(v) == 3 and all(0 < r < 1 for r in v) for v in ratios.values())


def test_recurrent_layers_are_read():
    torch.manual_seed(0)
    for layer_type in (nn.RNN, nn.GRU, nn.LSTM):
        model = nn.Sequential()
        model.add_module("rnn", layer_type(3, 8, batch_first=True))
        with gradflow.GradFlow(model) as flow:
            output, _ = model(torch.randn(4, 12, 3))
            output.pow(2).mean().backward()
        record = flow.layers()[0]
        assert record.kind == layer_type.__name__.lower()
        assert len(record.time_grad_norms) == 12 and record.weight_grad_norm > 0


def test_hidden_state_gradients_vanish_back_through_time():
    torch.manual_seed(0)
    rnn = nn.RNN(3, 16, batch_first=True)
    norms = gradflow.hidden_state_gradients(rnn, torch.randn(8, 40, 3), lambda h: h.sum())
    assert len(norms) == 40
    assert norms[0] < 1e-3 * norms[-1]


def test_hidden_state_gradients_of_an_lstm_time_first():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 8)
    norms = gradflow.hidden_state_gradients(lstm, torch.randn(10, 4, 3), lambda h: h.sum())
    assert len(norms) == 10 and norms[-1] > 0


def test_figures(batch):
    model = net(depth=4)
    flow = run(model, batch, torch.optim.SGD(model.parameters(), lr=0.01), steps=2)
    fig, ax = plt.subplots()
    gradflow.plot_gradient_norms(flow, ax, label="he")
    assert len(ax.lines) == 1 and ax.get_yscale() == "log"
    gradflow.plot_update_ratios(flow, ax)
    plt.close(fig)
    grid = gradflow.plot_histograms(flow)
    assert len(grid.axes) == 2 * 4
    plt.close(grid)


@pytest.mark.parametrize("make, message", [
    (lambda: gradflow.GradFlow(nn.ReLU()), "has no parameters"),
    (lambda: gradflow.GradFlow(nn.Sequential(nn.Embedding(3, 2))), "cannot read any layer"),
    (lambda: gradflow.GradFlow("model"), "needs a torch.nn.Module"),
    (lambda: gradflow.GradFlow(nn.Linear(2, 2)).layers(), "Nothing recorded yet"),
    (lambda: gradflow.diagnose(nn.Linear(2, 2), (torch.zeros(0, 2), torch.zeros(0).long())),
     "empty batch"),
    (lambda: gradflow.diagnose(nn.Linear(2, 2), []), "at least one batch"),
    (lambda: gradflow.hidden_state_gradients(nn.Linear(2, 2), torch.zeros(1, 2, 2), sum),
     "needs nn.RNN"),
    (lambda: gradflow.hidden_state_gradients(nn.RNN(2, 2), torch.zeros(0, 1, 2), sum),
     "is empty"),
    (lambda: gradflow.hidden_state_gradients(nn.RNN(2, 2), torch.zeros(3, 2), sum), "3-D"),
])
def test_bad_input_is_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_plots_explain_missing_data(batch):
    flow = run(net(depth=2), batch)
    with pytest.raises(ValueError, match="pass optimizer="):
        gradflow.plot_update_ratios(flow)


def test_overhead_measurement(batch):
    """Only that it measures; how large the overhead is, is reported, not asserted."""
    model = net(depth=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    plain, watched = gradflow.measure_overhead(model, optimizer, batch, repeats=3)
    assert plain > 0 and watched > 0
    assert all_hooks(model) == 0


def test_frozen_weights_are_skipped_not_a_crash(batch):
    model = net(depth=3)
    model.hidden1.linear.weight.requires_grad_(False)
    flow = run(model, batch)
    assert flow.weight_grad_norms()["hidden1.linear"] is None
    assert flow.weight_grad_norms()["hidden2.linear"] > 0


def test_an_evaluation_pass_after_backward_does_not_hide_the_gradients(batch):
    model = net(depth=2)
    with gradflow.GradFlow(model) as flow:
        F.cross_entropy(model(batch[0]), batch[1]).backward()
        with torch.no_grad():
            model(batch[0])
    assert flow.layers(kind="weights")[0].output_grad_norm > 0


def test_table_columns_line_up(batch):
    lines = run(net(depth=2), batch).table().splitlines()
    assert len({len(line) for line in lines}) == 1


def test_diagnosis_notes_what_it_cannot_see():
    class LastStep(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(3, 8, batch_first=True)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    torch.manual_seed(0)
    recurrent = LastStep()
    result = gradflow.diagnose(recurrent, (torch.randn(4, 5, 3), torch.tensor([0, 1, 0, 1])))
    assert "hidden_state_gradients" in repr(result)
    assert "no activation modules found" in repr(result)
