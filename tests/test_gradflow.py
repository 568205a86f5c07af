"""utils.gradflow: hooks, statistics, clean-up, figures and the diagnosis."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import diagnosis, gradflow, plots
from utils.nets import make_mlp, make_sequence_model

from conftest import DeclaredOutOfOrder, StateReader


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(128, 16), torch.randint(0, 4, (128,))


def net(**kwargs):
    torch.manual_seed(0)
    arguments = {"depth": 8, "width": 32, "activation": "relu", "init": "he_normal"} | kwargs
    return make_mlp(16, 4, **arguments)


def run(model, batch, optimizer=None, steps=1, keep_samples=False):
    with gradflow.GradFlow(model, optimizer=optimizer, keep_samples=keep_samples) as flow:
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
    sigmoid = diagnosis.diagnose(net(depth=10, activation="sigmoid", init="glorot_standard"), batch)
    assert sigmoid.conditions == ["vanishing"] and sigmoid.gradient_ratio < 1e-5
    assert "notebooks 04 (Activation functions)" in repr(sigmoid)
    healthy = diagnosis.diagnose(net(depth=10), batch)
    assert healthy.healthy and "no problem found" in repr(healthy)


def test_large_init_explodes(batch):
    result = diagnosis.diagnose(net(depth=10, init="normal", init_std=1.0), batch)
    assert "exploding" in result.conditions and result.gradient_ratio > 1e3
    assert "10 (Exploding gradients and clipping)" in repr(result)


def test_large_tanh_init_saturates(batch):
    result = diagnosis.diagnose(net(depth=6, activation="tanh", init="normal", init_std=1.0),
                               batch)
    assert "saturated" in result.conditions


def test_negative_bias_kills_relu_units(batch):
    model = net(depth=4)
    with torch.no_grad():
        model.hidden2.linear.bias.fill_(-20.0)
    result = diagnosis.diagnose(model, batch)
    assert "dead" in result.conditions and "hidden2.activation" in repr(result)


def test_diagnose_changes_no_weight_and_clears_gradients(batch):
    model = net(depth=3)
    before = [p.detach().clone() for p in model.parameters()]
    diagnosis.diagnose(model, [batch, batch])
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
    norms = gradflow.hidden_state_gradients(rnn, torch.randn(8, 40, 3), lambda h: h.sum()).hidden
    assert len(norms) == 40
    assert norms[0] < 1e-3 * norms[-1]


def test_hidden_state_gradients_of_an_lstm_time_first():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 8)
    norms = gradflow.hidden_state_gradients(lstm, torch.randn(10, 4, 3), lambda h: h.sum())
    assert len(norms.hidden) == len(norms.cell) == 10 and norms.hidden[-1] > 0


def test_figures(batch):
    model = net(depth=4)
    flow = run(model, batch, torch.optim.SGD(model.parameters(), lr=0.01), steps=2,
               keep_samples=True)
    fig, ax = plt.subplots()
    plots.plot_gradient_norms(flow, ax, label="he")
    assert len(ax.lines) == 1 and ax.get_yscale() == "log"
    plots.plot_update_ratios(flow, ax)
    plt.close(fig)
    grid = plots.plot_histograms(flow)
    assert len(grid.axes) == 2 * 4
    plt.close(grid)


@pytest.mark.parametrize("make, message", [
    (lambda: gradflow.GradFlow(nn.ReLU()), "has no parameters"),
    (lambda: gradflow.GradFlow(nn.Sequential(nn.Embedding(3, 2))), "cannot read any layer"),
    (lambda: gradflow.GradFlow("model"), "model must be a torch.nn.Module"),
    (lambda: gradflow.GradFlow(nn.Linear(2, 2)).layers(), "Nothing recorded yet"),
    (lambda: diagnosis.diagnose(nn.Linear(2, 2), (torch.zeros(0, 2), torch.zeros(0).long())),
     "empty batch"),
    (lambda: diagnosis.diagnose(nn.Linear(2, 2), []), "at least one batch"),
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
        plots.plot_update_ratios(flow)


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
    result = diagnosis.diagnose(recurrent, (torch.randn(4, 5, 3), torch.tensor([0, 1, 0, 1])))
    assert "hidden_state_gradients" in repr(result)
    assert "no activation modules found" in repr(result)


# --- recurrent classifiers that read the final state h_n --------------------------------


def sequences(batch_first):
    torch.manual_seed(1)
    x = torch.randn(4, 5, 3) if batch_first else torch.randn(5, 4, 3)
    return x, torch.tensor([0, 1, 0, 1])


@pytest.mark.parametrize("layer_type", [nn.RNN, nn.GRU, nn.LSTM])
@pytest.mark.parametrize("batch_first", [True, False])
def test_a_classifier_reading_h_n_is_measured(layer_type, batch_first):
    torch.manual_seed(0)
    model = StateReader(layer_type, batch_first)
    x, y = sequences(batch_first)
    with gradflow.GradFlow(model) as flow:  # the time-major LSTM used to crash here
        F.cross_entropy(model(x), y).backward()
    record = flow.layers(kind=layer_type.__name__.lower())[0]
    _, state = model.rnn(x)  # the reference: autograd's gradient of the loss w.r.t. h_n
    h = state[0] if isinstance(state, tuple) else state
    (expected,) = torch.autograd.grad(F.cross_entropy(model.head(h[-1]), y), h)
    assert record.output_grad_norm == pytest.approx(expected.double().norm().item(), rel=1e-6)
    assert record.state_grad_norm == pytest.approx(record.output_grad_norm)
    assert record.weight_grad_norm > 0


def test_the_output_gradient_of_a_recurrent_layer_counts_every_output_it_returns():
    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 8, batch_first=True)

        def forward(self, x):
            output, h = self.rnn(x)
            return output.sum() + 2 * h.sum()

    torch.manual_seed(0)
    model, x = Both(), torch.randn(4, 5, 3)
    with gradflow.GradFlow(model) as flow:
        model(x).backward()
    record = flow.layers()[0]
    # ∂L/∂output is all ones (4·5·8 values), ∂L/∂h_n all twos (1·4·8 values)
    assert record.state_grad_norm == pytest.approx((4 * 4 * 8) ** 0.5)
    assert record.output_grad_norm == pytest.approx((4 * 5 * 8 + 4 * 4 * 8) ** 0.5)
    assert len(record.time_grad_norms) == 5


# --- order, memory, empty batches ---------------------------------------------------------


def test_layers_follow_the_forward_path_not_the_declaration_order(batch):
    torch.manual_seed(0)
    layers = [nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)]
    model = DeclaredOutOfOrder(layers, declare=[4, 2, 0, 3, 1])
    flow = run(model, batch)
    assert [r.name for r in flow.layers()] == [f"layer{i}" for i in range(5)]
    assert list(flow.weight_grad_norms()) == ["layer0", "layer2", "layer4"]


def count_samples(flow):
    return sum((r.activation_sample is not None) + (r.gradient_sample is not None)
               for step in flow.steps for r in step.records.values())


def test_samples_are_kept_for_the_latest_steps_only(batch):
    model = net(depth=4)
    layers = len(run(model, batch).layers())
    flow = run(model, batch, torch.optim.SGD(model.parameters(), lr=0.01), steps=50,
               keep_samples=True)
    assert len(flow.steps) == 50 and 0 < count_samples(flow) <= 2 * 2 * layers
    assert len(flow.update_ratios()["output"]) == 50  # statistics of every step stay
    everything = gradflow.GradFlow(model, keep_samples="all")
    with everything:
        for _ in range(5):
            F.cross_entropy(model(batch[0]), batch[1]).backward()
    assert count_samples(everything) == 5 * 2 * layers


def test_an_evaluation_pass_keeps_the_samples_of_the_step_with_gradients(batch):
    model = net(depth=3)
    with gradflow.GradFlow(model, keep_samples=True) as flow:
        for _ in range(3):
            F.cross_entropy(model(batch[0]), batch[1]).backward()
        with torch.no_grad():
            model(batch[0])
            model(batch[0])
    assert all(r.gradient_sample is not None for r in flow.layers(kind="activations"))
    plt.close(plots.plot_histograms(flow))


def test_no_samples_are_kept_by_default(batch):
    model = net(depth=3)
    flow = run(model, batch, torch.optim.SGD(model.parameters(), lr=0.01), steps=3)
    assert count_samples(flow) == 0
    with pytest.raises(ValueError, match="keep_samples=True"):
        plots.plot_histograms(flow)


def test_an_empty_batch_is_skipped_not_a_crash(batch):
    model = net(depth=3)
    with gradflow.GradFlow(model) as flow:
        model(batch[0][:64])
        empty = model(torch.zeros(0, 16))
        F.cross_entropy(empty, torch.zeros(0, dtype=torch.long), reduction="sum").backward()
        assert all(r.act_mean is None and r.dead_fraction is None
                   for r in flow.layers(step=-1, kind="activations"))
        F.cross_entropy(model(batch[0][64:]), batch[1][64:]).backward()
    assert all(r.act_mean is not None for r in flow.layers(kind="activations"))


# --- the statistics themselves: thresholds, accumulation, normalisation -------------------


def activation_stats(module, values):
    """What GradFlow records for an activation module whose outputs are ``values``."""
    model = nn.Sequential(nn.Identity(), module)
    model.register_parameter("unused", nn.Parameter(torch.zeros(1)))
    with gradflow.GradFlow(model) as flow, torch.no_grad():
        model(values)
    return flow.layers(kind="activations")[0]


def test_tanh_saturates_beyond_0_97():
    # outputs 0.965 and −0.965 are not saturated; 0.975, −0.975 and 0.999 are
    inputs = torch.atanh(torch.tensor([[0.965, -0.965, 0.975, -0.975, 0.999, 0.0, 0.5, 0.9]]))
    assert activation_stats(nn.Tanh(), inputs).saturated_fraction == pytest.approx(3 / 8)


def test_sigmoid_saturates_outside_0_015_to_0_985():
    outputs = torch.tensor([[0.014, 0.016, 0.5, 0.984, 0.986, 0.1, 0.9, 0.999]],
                           dtype=torch.float64)
    inputs = torch.log(outputs / (1 - outputs))  # the logit: sigmoid(inputs) == outputs
    assert activation_stats(nn.Sigmoid(), inputs).saturated_fraction == pytest.approx(3 / 8)


def test_dead_units_are_counted_over_every_batch_seen():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    with gradflow.GradFlow(model) as flow, torch.no_grad():
        model(torch.tensor([[1.0, -1.0], [2.0, -3.0]]))  # unit 0 alive, unit 1 dead
        assert flow.layers(step=-1, kind="relu")[0].dead_fraction == 0.5
        model(torch.tensor([[-1.0, -1.0]]))  # both zero here, but unit 0 lived in batch 1
        assert flow.layers(step=-1, kind="relu")[0].dead_fraction == 0.5
        model(torch.tensor([[-1.0, 5.0]]))  # unit 1 comes alive: no unit is dead any more
        assert flow.layers(step=-1, kind="relu")[0].dead_fraction == 0.0


def test_the_update_ratio_is_the_change_divided_by_the_weights_norm(batch):
    model = net(depth=2)
    with torch.no_grad():
        model.hidden1.linear.weight.mul_(7.0)  # ‖w‖ far from 1, so leaving out the division shows
    before = model.hidden1.linear.weight.detach().clone()
    flow = run(model, batch, torch.optim.SGD(model.parameters(), lr=0.05))
    change = (model.hidden1.linear.weight.detach() - before).double().norm()
    expected = (change / before.double().norm()).item()
    assert flow.update_ratios()["hidden1.linear"] == [pytest.approx(expected, rel=1e-9)]


# --- hidden_state_gradients ---------------------------------------------------------------


def test_hidden_state_gradients_refuses_a_bidirectional_layer():
    with pytest.raises(ValueError, match="rnn is bidirectional"):
        gradflow.hidden_state_gradients(nn.GRU(3, 4, bidirectional=True), torch.randn(5, 2, 3),
                                        lambda h: h.sum())


@pytest.mark.parametrize("layer_type", [nn.RNN, nn.GRU, nn.LSTM])
def test_hidden_state_gradients_leave_the_parameters_grad_as_they_were(layer_type):
    torch.manual_seed(0)
    rnn = layer_type(3, 6, num_layers=2)
    rnn.weight_hh_l0.grad = torch.full_like(rnn.weight_hh_l0, 0.5)
    kept = rnn.weight_hh_l0.grad
    gradflow.hidden_state_gradients(rnn, torch.randn(7, 2, 3), lambda h: h.pow(2).sum())
    assert rnn.weight_hh_l0.grad is kept and torch.all(kept == 0.5)
    assert all(p.grad is None for name, p in rnn.named_parameters() if name != "weight_hh_l0")


@pytest.mark.parametrize("layer_type", [nn.RNN, nn.GRU, nn.LSTM])
def test_hidden_state_gradients_match_retained_gradients(layer_type):
    """The reference: keep the gradient of every hidden state of a step-by-step run."""
    torch.manual_seed(0)
    rnn, inputs = layer_type(3, 6, num_layers=2, batch_first=True), torch.randn(2, 9, 3)
    norms = gradflow.hidden_state_gradients(rnn, inputs, lambda h: h.pow(2).sum()).hidden
    state, kept = None, []
    for x_t in inputs.unbind(dim=1):
        _, state = rnn(x_t[:, None], state)
        hidden = state[0] if layer_type is nn.LSTM else state
        hidden.retain_grad()
        kept.append(hidden)
    kept[-1][-1].pow(2).sum().backward()
    assert norms == pytest.approx([h.grad[-1].double().norm().item() for h in kept], rel=1e-6)


def test_hidden_state_gradients_of_a_frozen_layer():
    torch.manual_seed(0)
    rnn = nn.RNN(3, 4).requires_grad_(False)
    norms = gradflow.hidden_state_gradients(rnn, torch.randn(6, 2, 3), lambda h: h.sum())
    assert len(norms.hidden) == 6 and norms.hidden[-1] > 0 and norms.cell is None


# --- bad arguments name the argument ------------------------------------------------------


def small():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))


def recorded():
    model = small()
    with gradflow.GradFlow(model) as flow:
        model(torch.randn(4, 2)).sum().backward()
    return flow


@pytest.mark.parametrize("make, message", [
    (lambda: gradflow.GradFlow(small(), optimizer="sgd"), "optimizer must be a torch.optim"),
    (lambda: gradflow.GradFlow(small(), torch.optim.SGD(small().parameters(), lr=0.1)),
     "optimizer holds none of the model's parameters"),
    (lambda: gradflow.GradFlow(small(), keep_samples=2), "keep_samples must be"),
    (lambda: gradflow.GradFlow(small(), keep_samples="some"), "keep_samples must be"),
    (lambda: recorded().layers(step=1), "step must be .* from 0 to 0"),
    (lambda: recorded().layers(step=0.5), "step must be"),
    (lambda: recorded().layers(kind="dense"), "kind must be None or one of weights"),
    (lambda: recorded().weight_grad_norms(step=-2), "step must be"),
    (lambda: recorded().table(step="last"), "step must be"),
    (lambda: plots.plot_gradient_norms("flow"), "plot_gradient_norms needs the GradFlow"),
    (lambda: plots.plot_histograms(None), "plot_histograms needs the GradFlow"),
    (lambda: plots.plot_histograms(recorded(), max_layers=0), "max_layers must be"),
    (lambda: plots.plot_update_ratios([1, 2]), "plot_update_ratios needs the GradFlow"),
    (lambda: gradflow.hidden_state_gradients(nn.RNN(2, 2), torch.zeros(3, 1, 5), sum),
     "inputs has 5 features .* input_size=2"),
    (lambda: gradflow.hidden_state_gradients(nn.RNN(2, 2), torch.zeros(3, 1, 2).long(), sum),
     "inputs must be a floating-point tensor"),
    (lambda: gradflow.hidden_state_gradients(nn.RNN(2, 2), torch.zeros(3, 1, 2), "sum"),
     "loss_of_last_state must be a function"),
    (lambda: gradflow.hidden_state_gradients(nn.RNN(2, 2), torch.zeros(3, 1, 2), lambda h: h),
     "loss_of_last_state must return a single number"),
    (lambda: gradflow.measure_overhead("net", None, None), "model must be a torch.nn.Module"),
    (lambda: gradflow.measure_overhead(small(), torch.optim.SGD(small().parameters(), lr=1),
                                       (torch.zeros(2, 2), torch.zeros(2).long())),
     "optimizer holds none"),
    (lambda: (m := small(), gradflow.measure_overhead(
        m, torch.optim.SGD(m.parameters(), lr=0.1), torch.zeros(2, 2)))[1], "batch must be a pair"),
    (lambda: (m := small(), gradflow.measure_overhead(
        m, torch.optim.SGD(m.parameters(), lr=0.1), (torch.zeros(2, 2), torch.zeros(2).long()),
        repeats=0))[1], "repeats must be"),
])
def test_bad_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- the registry of layer kinds and the pure statistics -----------------------------------


def test_every_activation_of_the_course_table_is_a_kind_of_the_same_name():
    from utils.nets import ACTIVATIONS, BlockInput, make_activation

    for name in ACTIVATIONS:
        kind = gradflow.kind_of(make_activation(name))
        if name == "identity":
            assert kind is None  # nothing to measure
        else:
            assert kind.name == name and kind.family == "activations"
    assert gradflow.kind_of(BlockInput()).name == "residual"
    assert gradflow.kind_of(nn.Dropout()) is None


@pytest.mark.parametrize("module, kind, weight", [
    (nn.Linear(2, 3), "linear", "weight"), (nn.Conv2d(1, 2, 3), "conv", "weight"),
    (nn.BatchNorm1d(3), "batch_norm", "weight"), (nn.LayerNorm(3), "layer_norm", "weight"),
    (nn.LSTM(2, 3, num_layers=2), "lstm", "weight_hh_l1"), (nn.GRUCell(2, 3), "gru_cell",
                                                            "weight_hh"),
])
def test_each_kind_says_how_to_read_its_weight(module, kind, weight):
    found = gradflow.kind_of(module)
    layer = 1 if weight.endswith("l1") else 0
    assert found.name == kind and found.weight(module, layer) is getattr(module, weight)


def test_the_statistics_are_pure_functions():
    values = torch.tensor([[0.0, 0.99, -0.5], [0.0, -0.98, 0.2]])
    assert gradflow.saturated_share(values, "tanh") == pytest.approx(2 / 6)
    assert gradflow.saturated_share(values, "relu") is None
    assert gradflow.never_active(values).tolist() == [True, False, False]
    assert gradflow.dead_share(values) == pytest.approx(1 / 3)
    assert gradflow.dead_share(values, torch.tensor([False, False, True])) == 0.0
    mean, std = gradflow.moments(values)
    assert mean == pytest.approx(values.double().mean().item())
    assert std == pytest.approx(values.double().std().item())
    assert gradflow.moments(torch.tensor([3.0])) == (3.0, 0.0)


def test_batch_norm_records_the_statistics_before_and_after_and_its_gamma_and_beta(batch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    with torch.no_grad():
        model[0].bias.fill_(3.0)  # the values going in are far from mean 0
    flow = run(model, batch)
    record = flow.layers(kind="batch_norm")[0]
    before = model[0](batch[0]).double()
    assert record.input_mean == pytest.approx(before.mean().item(), rel=1e-6)
    assert record.input_std == pytest.approx(before.std().item(), rel=1e-6)
    assert abs(record.act_mean) < 1e-6 and record.act_std == pytest.approx(1.0, abs=0.01)
    assert record.weight_grad_norm == pytest.approx(model[1].weight.grad.norm().item(), rel=1e-6)
    assert record.bias_grad_norm == pytest.approx(model[1].bias.grad.norm().item(), rel=1e-6)
    assert [r.name for r in flow.layers(kind="norms")] == ["1"]
    assert "1" not in flow.weight_grad_norms()  # γ is not a weight matrix


class ResidualNet(nn.Module):
    """``depth`` tanh blocks, each ``x + tanh(linear(x))`` with a BlockInput at its input
    (or, with ``residual=False``, the same layers without the identity path)."""

    def __init__(self, depth, residual=True):
        super().__init__()
        from utils.nets import BlockInput

        self.residual = residual
        self.first = nn.Linear(16, 32)
        self.inputs = nn.ModuleList(BlockInput() for _ in range(depth))
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(32, 32), nn.Tanh())
                                    for _ in range(depth))
        self.output = nn.Linear(32, 4)

    def forward(self, x):
        x = self.first(x)
        for marker, block in zip(self.inputs, self.blocks, strict=True):
            x = marker(x)
            x = x + block(x) if self.residual else block(x)
        return self.output(x)


def test_the_gradient_at_each_residual_block_input_is_recorded(batch):
    torch.manual_seed(0)
    model = ResidualNet(20)
    flow = run(model, batch)
    blocks = flow.layers(kind="residual")
    assert [r.name for r in blocks] == [f"inputs.{i}" for i in range(20)]
    marked = []
    handle = model.inputs[0].register_forward_hook(lambda m, i, out: marked.append(out))
    loss = F.cross_entropy(model(batch[0]), batch[1])
    handle.remove()
    (expected,) = torch.autograd.grad(loss, marked)
    assert blocks[0].output_grad_norm == pytest.approx(expected.double().norm().item(), rel=1e-6)


def test_a_residual_net_passes_at_least_as_much_gradient_to_its_first_layer(batch):
    firsts = {}
    for residual in (True, False):
        torch.manual_seed(0)
        model = ResidualNet(20, residual=residual)
        with torch.no_grad():  # weights that shrink the signal: the plain net vanishes
            for block in model.blocks:
                block[0].weight.mul_(0.5)
        firsts[residual] = run(model, batch).output_grad_norms()["first"]
    assert firsts[True] >= firsts[False]
    assert firsts[True] > 100 * firsts[False]


def test_series_and_output_grad_norms(batch):
    model = net(depth=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradflow.GradFlow(model, optimizer=optimizer) as flow:
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(model(batch[0]), batch[1]).backward()
            optimizer.step()
        with torch.no_grad():
            model(batch[0])  # an evaluation pass: activations, no gradients
    norms = flow.series("output_grad_norm", kind="weights")
    assert list(norms) == ["hidden1.linear", "hidden2.linear", "hidden3.linear", "output"]
    assert [len(v) for v in norms.values()] == [3, 3, 3, 3]
    assert norms["hidden1.linear"] == [flow.layers(step=i)[0].output_grad_norm
                                       for i in range(3)]
    assert len(flow.series("act_std")["hidden1.activation"]) == 4
    assert len(flow.series("act_std", with_gradients=True)["hidden1.activation"]) == 3
    assert flow.series("update_ratio") == flow.update_ratios()
    last = flow.output_grad_norms()
    assert last == {r.name: r.output_grad_norm for r in flow.layers(kind="weights")}
    assert list(flow.output_grad_norms(kind="relu")) == [f"hidden{i}.activation"
                                                       for i in (1, 2, 3)]
    with pytest.raises(ValueError, match="field_name must be one of"):
        flow.series("grad")
    with pytest.raises(ValueError, match="with_gradients must be"):
        flow.series("act_std", with_gradients="yes")


def test_every_layer_of_a_stacked_recurrent_layer_is_recorded():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("rnn", nn.LSTM(3, 8, num_layers=3, batch_first=True))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradflow.GradFlow(model, optimizer=optimizer) as flow:
        output, _ = model(torch.randn(4, 6, 3))
        output.pow(2).mean().backward()
        optimizer.step()
    records = flow.layers(kind="lstm")
    assert [r.name for r in records] == ["rnn.l0", "rnn.l1", "rnn.l2"]
    assert [r.sublayer for r in records] == [0, 1, 2]
    for layer, record in enumerate(records):
        weight = getattr(model.rnn, f"weight_hh_l{layer}")
        assert record.weight_grad_norm == pytest.approx(weight.grad.norm().item(), rel=1e-6)
    # a lower layer's output stays inside nn.LSTM: no hook reads it, and diagnose says so
    assert records[-1].output_grad_norm > 0 and records[0].output_grad_norm is None
    assert set(flow.update_ratios()) == {"rnn.l0", "rnn.l1", "rnn.l2"}
    head = nn.Linear(8, 2)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = model.rnn, head

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    result = diagnosis.diagnose(Classifier(), (torch.randn(4, 6, 3), torch.tensor([0, 1, 0, 1])))
    assert "the output gradient of rnn.l0, rnn.l1 cannot be read" in repr(result)
    assert "make_sequence_model" in repr(result)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_every_layer_of_a_stack_built_by_make_sequence_model_gets_its_output_gradient(kind):
    """The reference: autograd's gradient of the loss w.r.t. each layer's output (float64)."""
    model = make_sequence_model(kind, 3, 6, 2, num_layers=3, seed=0).double()
    x, y = torch.randn(4, 7, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    outputs = {}

    def keep(name):
        def hook(module, args, output):
            outputs[name] = output[0]
        return hook

    for name, layer in model.rnn.named_children():
        if name.startswith("l"):
            layer.register_forward_hook(keep(f"rnn.{name}"))
    with gradflow.GradFlow(model) as flow:
        loss = F.cross_entropy(model(x), y)
        expected = dict(zip(outputs, torch.autograd.grad(loss, list(outputs.values()),
                                                         retain_graph=True), strict=True))
        loss.backward()
    recorded = flow.output_grad_norms()
    assert list(recorded) == ["rnn.l0", "rnn.l1", "rnn.l2", "head"]
    for name, gradient in expected.items():
        assert recorded[name] is not None, name
        assert recorded[name] == pytest.approx(gradient.norm().item(), rel=1e-6), name
    assert all(r.sublayer is None and r.state_grad_norm is None
               for r in flow.layers(kind=kind))
    result = diagnosis.diagnose(model, (x, y))
    assert "cannot be read" not in repr(result) and math.isfinite(result.gradient_ratio)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_hidden_state_gradients_of_a_stack_match_the_multi_layer_module(kind):
    model = make_sequence_model(kind, 3, 5, 1, num_layers=2, seed=0)
    whole = getattr(nn, kind.upper())(3, 5, num_layers=2, batch_first=True)
    with torch.no_grad():
        for index, layer in enumerate(model.rnn.layers()):
            for name, parameter in layer.named_parameters():
                getattr(whole, name.replace("_l0", f"_l{index}")).copy_(parameter)
    inputs = torch.randn(2, 8, 3)
    ours = gradflow.hidden_state_gradients(model.rnn, inputs, lambda h: h.pow(2).sum())
    theirs = gradflow.hidden_state_gradients(whole, inputs, lambda h: h.pow(2).sum())
    assert ours.hidden == pytest.approx(theirs.hidden, rel=1e-5)
    assert (ours.cell is None) == (kind != "lstm")
    if ours.cell is not None:
        assert ours.cell == pytest.approx(theirs.cell, rel=1e-5, abs=1e-30)


def test_a_cell_unrolled_over_time_records_the_gradient_of_each_step():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("cell", nn.RNNCell(3, 5))
    x, kept = torch.randn(6, 2, 3), []
    with gradflow.GradFlow(model) as flow:
        h = None
        for x_t in x:
            h = model(x_t) if h is None else model.cell(x_t, h)
            h.retain_grad()
            kept.append(h)
        h.pow(2).sum().backward()
    record = flow.layers(kind="rnn_cell")[0]
    assert record.time_grad_norms == pytest.approx([k.grad.double().norm().item() for k in kept],
                                                   rel=1e-6)
    assert record.output_grad_norm == pytest.approx(
        sum(k.grad.double().norm().item() ** 2 for k in kept) ** 0.5, rel=1e-6)


@pytest.mark.parametrize("batch_first", [True, False])
def test_hidden_state_gradients_of_an_lstm_include_the_cell_state(batch_first):
    """The reference: keep the gradient of every cell state c_t of a step-by-step run."""
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 6, num_layers=2, batch_first=batch_first)
    inputs = torch.randn(2, 9, 3) if batch_first else torch.randn(9, 2, 3)
    result = gradflow.hidden_state_gradients(lstm, inputs, lambda h: h.pow(2).sum())
    state, kept = None, []
    for x_t in inputs.unbind(dim=1 if batch_first else 0):
        _, state = lstm(x_t.unsqueeze(1 if batch_first else 0), state)
        state[1].retain_grad()
        kept.append(state[1])
    state[0][-1].pow(2).sum().backward()
    cell = [0.0 if c.grad is None else c.grad[-1].double().norm().item() for c in kept]
    assert result.cell == pytest.approx(cell, rel=1e-6, abs=1e-30)
    assert result.cell[-1] == 0.0 and result.cell[-2] > 0  # the loss reads h_T, not c_T


def test_each_kind_carries_its_statistics_and_the_recorder_calls_them(monkeypatch, batch):
    assert gradflow.kind_of(nn.Sigmoid()).saturation is gradflow.sigmoid_saturated_share
    assert gradflow.kind_of(nn.Tanh()).saturation is gradflow.tanh_saturated_share
    assert gradflow.kind_of(nn.ReLU()).dead_units is gradflow.never_active
    assert gradflow.kind_of(nn.GELU()).saturation is None
    assert gradflow.kind_of(nn.GELU()).dead_units is None
    # a kind whose statistics are other functions: the recorder reports what they return
    import dataclasses

    kinds = tuple(dataclasses.replace(kind, saturation=lambda values: 0.25,
                                      dead_units=lambda values: torch.ones(values.shape[1:],
                                                                           dtype=torch.bool))
                  if kind.name == "gelu" else kind for kind in gradflow.KINDS)
    monkeypatch.setattr(gradflow, "KINDS", kinds)
    flow = run(net(depth=2, activation="gelu"), batch)
    records = flow.layers(kind="gelu")
    assert records and all(r.saturated_fraction == 0.25 and r.dead_fraction == 1.0
                           for r in records)


def test_the_kind_error_lists_each_filter_once():
    with pytest.raises(ValueError) as error:
        run(net(depth=2), (torch.randn(4, 16), torch.tensor([0, 1, 2, 3]))).layers(kind="dense")
    listed = str(error.value).split("one of ")[1].split("; got")[0].split(", ")
    assert len(listed) == len(set(listed)) and "residual" in listed
