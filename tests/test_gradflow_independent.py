"""GradFlow checked against independent computations, on models it was not written for.

For each model, the reference runs the same weights on the same batch in float64 with
its own forward hooks, asks autograd (``torch.autograd.grad``) for the gradient of the
loss with respect to every output of every module and every parameter, and computes
each norm that GradFlow records from those gradients with plain torch. Every recorded
norm must equal the reference within 1e-6 relative. The models: a conv net with batch
norm, a GRU and an LSTM classifier (plain torch, batch_first, two layers), a model that
reuses one Linear (and one Tanh) several times, functional activations, cells unrolled
by hand, and a TransformerEncoderLayer.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.gradflow import GradFlow

REL = 1e-6


class ConvBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6), nn.Tanh())
        self.head = nn.Linear(6 * 6 * 6, 3)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        output, _ = self.gru(x)
        return self.head(output[:, -1])


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])


class ReusedLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.shared, self.head = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.act = nn.Tanh()

    def forward(self, x):
        h = self.act(self.first(x))
        h = self.act(self.shared(h))
        return self.head(self.act(self.shared(h)))


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.c(torch.sigmoid(self.b(F.relu(self.a(x)))))


class Cells(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm_cell, self.gru_cell = nn.LSTMCell(3, 6), nn.GRUCell(6, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        h = c = torch.zeros(x.shape[0], 6, dtype=x.dtype)
        g = torch.zeros(x.shape[0], 5, dtype=x.dtype)
        for x_t in x.unbind(dim=1):
            h, c = self.lstm_cell(x_t, (h, c))
            g = self.gru_cell(h, g)
        return self.head(g)


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0,
                                                  batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


def batch_for(name, generator):
    shapes = {"conv": (8, 1, 8, 8), "gru": (4, 7, 3), "lstm": (4, 7, 3), "reused": (6, 5),
              "functional": (6, 5), "cells": (4, 5, 3), "transformer": (4, 6, 16)}
    x = torch.randn(*shapes[name], generator=generator)
    return x, torch.randint(0, 3, (shapes[name][0],), generator=generator)


MODELS = {"conv": ConvBatchNorm, "gru": GRUClassifier, "lstm": LSTMClassifier,
          "reused": ReusedLinear, "functional": Functional, "cells": Cells,
          "transformer": Transformer}


def make(name):
    torch.manual_seed(0)
    model = MODELS[name]().double()
    x, y = batch_for(name, torch.Generator().manual_seed(1))
    return model, x.double(), y


# --- the reference ----------------------------------------------------------------------


def tensors_in(value):
    """Every tensor in a module's output (a tensor, or nested tuples of them)."""
    if torch.is_tensor(value):
        return [value]
    return [t for item in value for t in tensors_in(item)] if isinstance(value, tuple) else []


def norm(tensor):
    return 0.0 if tensor is None else tensor.double().norm().item()


def hypot(*norms):
    return math.sqrt(sum(n * n for n in norms))


def reference(model, x, y):
    """{module name: [per call: (outputs, their gradients)]}, {parameter name: gradient},
    from autograd alone (no GradFlow)."""
    calls, handles = {}, []
    for name, module in model.named_modules():
        def hook(module, inputs, output, name=name):
            calls.setdefault(name, []).append(tensors_in(output))
        handles.append(module.register_forward_hook(hook))
    try:
        loss = F.cross_entropy(model(x), y)
    finally:
        for handle in handles:
            handle.remove()
    outputs = [t for per_call in calls.values() for call in per_call for t in call]
    names, parameters = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, outputs + list(parameters), allow_unused=True)
    output_grads = dict(zip(map(id, outputs), grads[:len(outputs)], strict=True))
    per_module = {name: [[(t, output_grads[id(t)]) for t in call] for call in per_call]
                  for name, per_call in calls.items()}
    return per_module, dict(zip(names, grads[len(outputs):], strict=True))


#: The module classes of these models whose statistics GradFlow must record.
READ = (nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.LayerNorm, nn.ReLU, nn.Tanh, nn.GRU, nn.LSTM,
        nn.LSTMCell, nn.GRUCell)


def expected(model, x, y):
    """{record name: {field: value}} for every norm GradFlow should have recorded."""
    per_module, param_grads = reference(model, x, y)
    result = {}
    for name, module in model.named_modules():
        if not isinstance(module, READ):
            continue
        calls = per_module.get(name, [])
        if isinstance(module, (nn.GRU, nn.LSTM, nn.RNN)):
            result.update(recurrent_expectations(name, module, calls, param_grads))
            continue
        fields = {}
        grads = [g for call in calls for _, g in call if g is not None]
        if grads:
            fields["output_grad_norm"] = hypot(*map(norm, grads))
        weight = param_grads.get(f"{name}.weight_hh" if isinstance(
            module, (nn.LSTMCell, nn.GRUCell, nn.RNNCell)) else f"{name}.weight")
        if weight is not None:
            fields["weight_grad_norm"] = norm(weight)
        if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)):
            fields["bias_grad_norm"] = norm(param_grads[f"{name}.bias"])
        if isinstance(module, (nn.LSTMCell, nn.GRUCell)):  # per call (time step): ‖∂L/∂h_t‖
            fields["time_grad_norms"] = [norm(call[0][1]) for call in calls]
        if isinstance(module, nn.Tanh):
            values = torch.cat([t.detach().reshape(-1) for call in calls for t, _ in call])
            fields["act_mean"], fields["act_std"] = values.mean().item(), values.std().item()
            fields["saturated_fraction"] = (values.abs() > 0.97).double().mean().item()
        if fields:
            result[name] = fields
    return result


def recurrent_expectations(name, module, calls, param_grads):
    (call,) = calls
    sequence, *states = call  # (output, g), (h_n, g), [(c_n, g)]
    layers = module.num_layers
    result = {}
    for layer in range(layers):  # h_n and c_n hold one slice per layer
        fields = {"weight_grad_norm": norm(param_grads[f"{name}.weight_hh_l{layer}"])}
        state = [norm(g[layer]) for _, g in states if g is not None]
        if state:  # no entry when the loss does not use h_n (nor c_n)
            fields["state_grad_norm"] = hypot(*state)
        g = sequence[1]
        if layer == layers - 1 and (g is not None or state):
            fields["output_grad_norm"] = hypot(norm(g), *state)
        if layer == layers - 1 and g is not None:
            fields["time_grad_norms"] = [norm(g[:, t]) for t in range(g.shape[1])]
        result[name if layers == 1 else f"{name}.l{layer}"] = fields
    return result


def recorded(model, x, y):
    with GradFlow(model) as flow:
        F.cross_entropy(model(x), y).backward()
    return {r.name: r for r in flow.layers()}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_recorded_norm_equals_autograds(name):
    model, x, y = make(name)
    want = expected(copy.deepcopy(model), x, y)
    got = recorded(model, x, y)
    assert want, "the reference found nothing to compare"
    for layer, fields in want.items():
        assert layer in got, f"{layer} was not recorded (recorded: {sorted(got)})"
        for field, value in fields.items():
            assert getattr(got[layer], field) == pytest.approx(value, rel=REL, abs=1e-300), \
                f"{layer}.{field}"
    for layer, record in got.items():  # and nothing recorded that the reference lacks
        for field in ("output_grad_norm", "weight_grad_norm", "bias_grad_norm",
                      "state_grad_norm"):
            if getattr(record, field) is not None:
                assert field in want.get(layer, {}), f"{layer}.{field} has no reference"


def test_the_models_cover_what_the_brief_lists():
    kinds = {name: {r.kind for r in recorded(*make(name)).values()} for name in MODELS}
    assert {"conv", "batch_norm", "relu", "tanh", "linear"} <= kinds["conv"]
    assert kinds["gru"] == {"gru", "linear"} and kinds["lstm"] == {"lstm", "linear"}
    assert kinds["functional"] == {"linear"}  # F.relu and torch.sigmoid are invisible
    assert {"lstm_cell", "gru_cell"} <= kinds["cells"]
    assert {"linear", "layer_norm"} <= kinds["transformer"]
    lstm = recorded(*make("lstm"))
    assert {"lstm.l0", "lstm.l1"} <= set(lstm)  # every layer of the stack


# --- hooks, outputs and the caller's random state ------------------------------------------


def hook_count(model):
    count = 0
    for module in model.modules():
        count += len(module._forward_hooks) + len(module._forward_pre_hooks)
        count += len(module._backward_hooks) + len(module._forward_hooks_with_kwargs)
    for parameter in model.parameters():
        count += len(getattr(parameter, "_post_accumulate_grad_hooks", None) or {})
        count += len(getattr(parameter, "_backward_hooks", None) or {})
    return count


@pytest.mark.parametrize("name", list(MODELS))
def test_hooks_are_gone_afterwards_even_after_an_exception(name):
    model, x, y = make(name)
    before = hook_count(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradFlow(model, optimizer=optimizer, keep_samples=True):
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert hook_count(model) == before == 0
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks
    with pytest.raises(KeyError), GradFlow(model):
        F.cross_entropy(model(x), y).backward()
        raise KeyError("inside the with-block")
    assert hook_count(model) == 0


@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_and_the_callers_random_state_are_untouched(name):
    model, x, y = make(name)
    plain = model(x)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with GradFlow(model, keep_samples="all") as flow:  # samples are drawn: own generator
        watched = model(x)
        F.cross_entropy(watched, y).backward()
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(plain, watched)
    assert flow.layers()
