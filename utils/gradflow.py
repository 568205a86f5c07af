"""Gradient health: what flows through each layer of a network, forward and back.

``GradFlow`` attaches hooks to any ``nn.Module`` and records, for every layer
it can read, on every forward and backward pass:

- for layers with weights (Linear, Conv1d/2d/3d, RNN, LSTM, GRU): the norm of
  the gradient of the layer's weight (for recurrent layers, the hidden-to-hidden
  weight) and of its output, and — when an optimizer is watched — the
  update-to-data ratio ‖Δw‖/‖w‖ of each step. For recurrent layers the output
  gradient is the gradient reaching everything the layer returns (the output
  sequence and the final state h_n, plus c_n for an LSTM), so a classifier that
  reads ``h_n`` is measured too; ``state_grad_norm`` is the part reaching the
  final state and ``time_grad_norms`` the norm of the gradient reaching the
  output sequence at each time step from above. The gradient that flows back
  *through time* inside the recurrence, ∂L/∂h_t, is measured by
  ``hidden_state_gradients``;
- for activation modules (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, GELU, SELU):
  the mean and standard deviation of the activations, the fraction of
  saturated values (sigmoid and tanh in their flat parts) and the fraction of
  dead units (ReLU units that are zero for every example seen since the flow
  started, over all batches).

Each forward pass of the whole model starts a new "step"; ``flow.layers()`` shows
the last step that has gradients, with the layers in the order the forward pass
first reached them (the data's path, not the order the model declares them). A
module used twice in one forward pass (one activation module shared by several
layers) is recorded as one layer: give each layer its own module. Samples of
the values (for histograms) are kept only for the most recent steps, so memory
stays bounded over a long run (see ``keep_samples``). Use it as a context
manager; every hook it added is removed on exit::

    with GradFlow(model) as flow:
        loss_fn(model(x), y).backward()
    flow.layers()            # the last step's statistics, input to output
    plot_gradient_norms(flow)

``diagnose(model, (x, y))`` runs a few batches and names what it sees
(vanishing, exploding, saturated, dead units, inputs that are not finite) in
plain words, with the notebook that teaches the fix; it leaves the model as it
found it. Activations computed with functions (e.g. ``torch.sigmoid`` inside
``forward``) are invisible to hooks: use modules.
"""

import math
import numbers
from dataclasses import dataclass, field

import torch
from torch import nn

from utils import checks

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNN, nn.LSTM, nn.GRU)
RECURRENT_LAYERS = (nn.RNN, nn.LSTM, nn.GRU)
WEIGHT_KINDS = ("linear", "conv", "rnn", "lstm", "gru")
ACTIVATION_KINDS = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu",
                    nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.GELU: "gelu", nn.SELU: "selu"}
#: What ``GradFlow.layers(kind=...)`` accepts besides None.
LAYER_FILTERS = ("weights", "activations") + WEIGHT_KINDS + tuple(ACTIVATION_KINDS.values())
#: A sigmoid or tanh output this close to its bounds is "saturated": its slope is
#: below about 6% of the maximum (|tanh| > 0.97: 1 − 0.97² ≈ 0.059; sigmoid outside
#: [0.015, 0.985]: 0.015 · 0.985 ≈ 0.059 · 1/4).
TANH_MARGIN = 0.03
SIGMOID_MARGIN = 0.015
SAMPLE_SIZE = 2000  # values kept per layer and step for histograms
#: A rule of thumb, not a law: in a healthy run each step changes a weight matrix by
#: roughly 1e-3 of its size (‖Δw‖/‖w‖ ≈ 1e-3). From Andrej Karpathy's CS231n notes,
#: "Neural Networks Part 3: Learning and Evaluation" (the ratio of the update to the
#: values "should be somewhere around 1e-3"), and his lecture series *Neural Networks:
#: Zero to Hero* (makemore part 3). Much lower: the layer learns slowly; much higher:
#: the learning rate may be too high.
UPDATE_RATIO_RULE_OF_THUMB = 1e-3


@dataclass
class LayerRecord:
    """Statistics of one layer at one step; fields that do not apply are None."""

    name: str
    kind: str
    act_mean: float = None
    act_std: float = None
    saturated_fraction: float = None
    dead_fraction: float = None
    output_grad_norm: float = None
    weight_grad_norm: float = None
    weight_norm: float = None
    update_ratio: float = None
    time_grad_norms: list = None
    state_grad_norm: float = None  # recurrent layers: the gradient reaching h_n (and c_n)
    activation_sample: torch.Tensor = None
    gradient_sample: torch.Tensor = None
    grad_parts: dict = field(default=None, repr=False)  # recurrent: norm of each output's part


@dataclass
class _Step:
    records: dict = field(default_factory=dict)


def _kind_of(module):
    for layer_type in (nn.LSTM, nn.GRU, nn.RNN):
        if isinstance(module, layer_type):
            return layer_type.__name__.lower()
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    return ACTIVATION_KINDS.get(type(module))


def _high_precision(tensor):
    """The tensor, detached, in float64 (float32 on Apple's MPS, which has no float64):
    squaring the values of a vanishing gradient, about 1e-25 in size, in float32 would
    underflow to 0, and exploding activations overflow float32."""
    return tensor.detach().to(torch.float32 if tensor.device.type == "mps" else torch.float64)


def _norm(tensor):
    """The L2 norm as a Python float, computed in high precision."""
    return _high_precision(tensor).norm().item()


def _sample(tensor, generator):
    flat = tensor.detach().reshape(-1).float()
    if flat.numel() > SAMPLE_SIZE:
        index = torch.randint(flat.numel(), (SAMPLE_SIZE,), generator=generator)
        flat = flat.cpu()[index]
    return flat.cpu()


def _describe(value):
    """A short description of a value for error messages: a tensor's shape, else its type."""
    if torch.is_tensor(value):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def _check_optimizer(optimizer, model):
    """Refuse an optimizer that is not one, or that updates none of the model's parameters."""
    checks.optimizer_for(model, optimizer, also=" or None",
                         purpose="its update ratios would not be this model's")


def _check_callable(function, argument, example):
    if not callable(function):
        raise ValueError(f"{argument} must be a function such as {example}, got "
                         f"{_describe(function)}.")


def _check_flow(flow, function):
    if not isinstance(flow, GradFlow):
        raise ValueError(f"{function} needs the GradFlow object of a run (with GradFlow(model) "
                         f"as flow: ...), got {_describe(flow)}.")


class GradFlow:
    """Record per-layer activation and gradient statistics of ``model``.

    Parameters
    ----------
    model : nn.Module
        Any module with parameters; the layers of the types above are read.
    optimizer : torch.optim.Optimizer, optional
        If given, the update-to-data ratio of every weight is recorded at
        each ``optimizer.step()``. It must hold parameters of ``model``.
    keep_samples : True, False or "all"
        Keep up to 2,000 activation and gradient values per layer (for
        histograms). ``True`` (the default) keeps them only for the most
        recent step and the most recent step with gradients (what ``layers()``
        and ``plot_histograms`` show); older steps keep their statistics and
        drop their samples, so memory stays bounded however long the run.
        ``"all"`` keeps the samples of every step (memory grows with the
        number of steps); ``False`` keeps none.
    """

    def __init__(self, model, optimizer=None, keep_samples=True):
        checks.module("model", model, example=" (a network)")
        if not any(True for _ in model.parameters()):
            raise ValueError(f"{type(model).__name__} has no parameters: there are no gradients "
                             "to watch. Pass the whole network, not a parameter-free module.")
        if optimizer is not None:
            _check_optimizer(optimizer, model)
        if not (isinstance(keep_samples, bool) or isinstance(keep_samples, str)
                and keep_samples == "all"):
            raise ValueError(f"keep_samples must be True (samples of the latest steps), False or "
                             f"'all' (samples of every step), got {keep_samples!r}.")
        self.model = model
        self.optimizer = optimizer
        self.keep_samples = keep_samples
        self.watched = [(name or type(model).__name__, module)
                        for name, module in model.named_modules() if _kind_of(module)]
        if not self.watched:
            readable = sorted({t.__name__ for t in WEIGHT_LAYERS} |
                              {t.__name__ for t in ACTIVATION_KINDS})
            raise ValueError(f"GradFlow cannot read any layer of {type(model).__name__}: it "
                             f"reads {', '.join(readable)}.")
        self.steps = []
        self._handles = []
        self._snapshots = {}
        self._generator = torch.Generator().manual_seed(0)
        self._dead_since_start = {}
        self._forward_order = []  # layer names in the order the forward pass first ran them
        self._last_gradient_step = None  # index of the latest step that received gradients
        self._steps_with_samples = set()

    # --- hooks ---------------------------------------------------------------------

    def __enter__(self):
        if self._handles:
            raise RuntimeError("This GradFlow is already watching the model; use it in one "
                               "`with` block at a time.")
        self._handles.append(self.model.register_forward_pre_hook(self._start_step))
        for name, module in self.watched:
            self._handles.append(module.register_forward_hook(self._forward_hook(name, module)))
            weight = self._weight_of(module) if _kind_of(module) in WEIGHT_KINDS else None
            if weight is not None and weight.requires_grad:  # frozen weights get no gradient
                self._handles.append(weight.register_post_accumulate_grad_hook(
                    self._weight_grad_hook(name, _kind_of(module))))
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_step))
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Remove every hook this object added (also done on leaving ``with``)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @staticmethod
    def _weight_of(module):
        if isinstance(module, RECURRENT_LAYERS):
            return module.weight_hh_l0
        return module.weight

    def _start_step(self, module, inputs):
        self.steps.append(_Step())
        if self.keep_samples is True:
            self._drop_old_samples()

    def _drop_old_samples(self):
        """Forget the samples of every step but the newest and the latest with gradients."""
        keep = {len(self.steps) - 1, self._last_gradient_step}
        for index in self._steps_with_samples - keep:
            for record in self.steps[index].records.values():
                record.activation_sample = record.gradient_sample = None
        self._steps_with_samples &= keep

    def _record(self, name, kind):
        if not self.steps:
            self.steps.append(_Step())
        step = self.steps[-1]
        if name not in step.records:
            step.records[name] = LayerRecord(name, kind)
        return step.records[name]

    def _forward_hook(self, name, module):
        kind = _kind_of(module)

        def hook(mod, inputs, output):
            state = None
            if isinstance(output, tuple):  # recurrent layers return (output, state)
                output, state = output
            if not torch.is_tensor(output):
                raise ValueError(f"GradFlow cannot read the output of {name} "
                                 f"({type(output).__name__}); packed sequences are not supported.")
            if name not in self._forward_order:
                self._forward_order.append(name)
            record = self._record(name, kind)
            index = len(self.steps) - 1
            with torch.no_grad():
                values = output.detach()
                if kind in ACTIVATION_KINDS.values() and values.numel() > 0:
                    self._activation_stats(record, name, kind, values)
            if self.keep_samples and values.numel() > 0:
                record.activation_sample = _sample(values, self._generator)
                self._steps_with_samples.add(index)
            if kind in ("rnn", "lstm", "gru"):
                self._watch_recurrent_outputs(record, index, output, state, module.batch_first)
            elif output.requires_grad:
                output.register_hook(self._output_grad_hook(record, index))

        return hook

    def _activation_stats(self, record, name, kind, values):
        high = _high_precision(values)
        record.act_mean = high.mean().item()
        record.act_std = high.std().item() if values.numel() > 1 else 0.0
        if kind == "tanh":
            record.saturated_fraction = (values.abs() > 1 - TANH_MARGIN).float().mean().item()
        elif kind == "sigmoid":
            outside = (values < SIGMOID_MARGIN) | (values > 1 - SIGMOID_MARGIN)
            record.saturated_fraction = outside.float().mean().item()
        elif kind == "relu":
            units = values.reshape(values.shape[0], -1) if values.dim() > 1 else values[None]
            never_active = (units <= 0).all(dim=0)
            previous = self._dead_since_start.get(name)
            if previous is not None and previous.shape == never_active.shape:
                never_active = never_active & previous  # dead = zero for every example seen
            self._dead_since_start[name] = never_active
            record.dead_fraction = never_active.float().mean().item()

    def _output_grad_hook(self, record, index):
        def hook(grad):
            if grad is None:  # an output the loss does not use
                return
            self._last_gradient_step = index
            record.output_grad_norm = _norm(grad)
            if self.keep_samples:
                record.gradient_sample = _sample(grad, self._generator)
                self._steps_with_samples.add(index)

        return hook

    def _watch_recurrent_outputs(self, record, index, output, state, batch_first):
        """Hooks on everything a recurrent layer returns: the output sequence and h_n (c_n).

        A classifier may read only the last output, only h_n, or both; the layer's
        output gradient is the norm of the gradient reaching all of them together.
        """
        record.grad_parts = {}
        states = state if isinstance(state, tuple) else (state,)
        parts = [("output", output)] + [(f"state{i}", s) for i, s in enumerate(states)]
        for part, tensor in parts:
            if torch.is_tensor(tensor) and tensor.requires_grad:
                tensor.register_hook(self._recurrent_grad_hook(record, index, part, batch_first))

    def _recurrent_grad_hook(self, record, index, part, batch_first):
        def hook(grad):
            if grad is None:  # an output the loss does not use: no gradient reaches it
                return
            self._last_gradient_step = index
            record.grad_parts[part] = _norm(grad)
            record.output_grad_norm = math.hypot(*record.grad_parts.values())
            states = [norm for name, norm in record.grad_parts.items() if name != "output"]
            record.state_grad_norm = math.hypot(*states) if states else None
            if part != "output":
                return
            if grad.dim() == 3:  # ‖∂L/∂h_t‖ for every time step t, from above
                time_dim = 1 if batch_first else 0
                other_dims = tuple(d for d in range(3) if d != time_dim)
                record.time_grad_norms = _high_precision(grad).norm(dim=other_dims).cpu().tolist()
            if self.keep_samples:
                record.gradient_sample = _sample(grad, self._generator)
                self._steps_with_samples.add(index)

        return hook

    def _weight_grad_hook(self, name, kind):
        def hook(parameter):
            record = self._record(name, kind)
            self._last_gradient_step = len(self.steps) - 1
            record.weight_grad_norm = _norm(parameter.grad)
            record.weight_norm = _norm(parameter)

        return hook

    def _before_step(self, optimizer, args, kwargs):
        self._snapshots = {name: self._weight_of(module).detach().clone()
                           for name, module in self.watched
                           if _kind_of(module) in WEIGHT_KINDS}

    def _after_step(self, optimizer, args, kwargs):
        for name, module in self.watched:
            if name in self._snapshots:
                weight = self._weight_of(module).detach()
                change = _norm(weight - self._snapshots[name])
                record = self._record(name, _kind_of(module))
                record.update_ratio = change / max(_norm(self._snapshots[name]), 1e-300)
        self._snapshots = {}

    # --- results -------------------------------------------------------------------

    def _step_index(self, step):
        """Check ``step`` (None, or a step number, negative from the end) and resolve it."""
        if not self.steps:
            raise ValueError("Nothing recorded yet: run a forward and backward pass inside "
                             "`with GradFlow(model) as flow:`.")
        if step is None:
            return self._last_gradient_step if self._last_gradient_step is not None else -1
        count = len(self.steps)
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) \
                or not -count <= step < count:
            raise ValueError(f"step must be None (the last step with gradients) or a step number "
                             f"from 0 to {count - 1} (negative counts from the end), got "
                             f"{step!r}.")
        return int(step)

    def layers(self, step=None, kind=None):
        """The records of one step, in the order the forward pass first reached the layers
        (input to output; default: the last step with gradients, so an evaluation pass
        after ``backward()`` does not hide them).

        ``kind`` filters: ``"weights"`` for layers with weights, ``"activations"``
        for activation modules, or a single kind such as ``"tanh"``.
        """
        if kind is not None and kind not in LAYER_FILTERS:
            raise ValueError(f"kind must be None or one of {', '.join(LAYER_FILTERS)}; got "
                             f"{kind!r}.")
        records = self.steps[self._step_index(step)].records
        ordered = [records[name] for name in self._forward_order if name in records]
        ordered += [record for name, record in records.items() if name not in self._forward_order]
        if kind == "weights":
            return [r for r in ordered if r.kind in WEIGHT_KINDS]
        if kind == "activations":
            return [r for r in ordered if r.kind in ACTIVATION_KINDS.values()]
        if kind is not None:
            return [r for r in ordered if r.kind == kind]
        return ordered

    def weight_grad_norms(self, step=None):
        """{layer name: ‖∂L/∂W‖} for the layers with weights, input to output."""
        return {r.name: r.weight_grad_norm for r in self.layers(step, "weights")}

    def update_ratios(self):
        """{layer name: [‖Δw‖/‖w‖ at each optimizer step]} (needs ``optimizer=``)."""
        ratios = {}
        for step in self.steps:
            for record in step.records.values():
                if record.update_ratio is not None:
                    ratios.setdefault(record.name, []).append(record.update_ratio)
        return ratios

    def table(self, step=None):
        """A plain-text table of one step's statistics."""
        lines = [f"{'layer':24s} {'kind':10s} {'act mean':>9s} {'act std':>8s} {'sat %':>6s} "
                 f"{'dead %':>6s} {'|dL/dW|':>9s} {'|dL/dout|':>9s}"]

        def fmt(value, spec):
            width = int(spec.split(".")[0])
            return format(value, spec) if value is not None else "–".rjust(width)

        for r in self.layers(step):
            lines.append(
                f"{r.name:24s} {r.kind:10s} {fmt(r.act_mean, '9.3f')} {fmt(r.act_std, '8.3f')} "
                f"{fmt(None if r.saturated_fraction is None else 100 * r.saturated_fraction, '6.1f')} "
                f"{fmt(None if r.dead_fraction is None else 100 * r.dead_fraction, '6.1f')} "
                f"{fmt(r.weight_grad_norm, '9.2e')} {fmt(r.output_grad_norm, '9.2e')}")
        return "\n".join(lines)


def _initial_state(rnn, inputs):
    """Zero initial state (what nn.RNN/GRU/LSTM use by default) that tracks gradients, so
    the hidden states form a graph even when the layer's weights are frozen."""
    batch = inputs.shape[0 if rnn.batch_first else 1]
    hidden = getattr(rnn, "proj_size", 0) or rnn.hidden_size
    options = {"dtype": inputs.dtype, "device": inputs.device, "requires_grad": True}
    h0 = torch.zeros(rnn.num_layers, batch, hidden, **options)
    if isinstance(rnn, nn.LSTM):
        return h0, torch.zeros(rnn.num_layers, batch, rnn.hidden_size, **options)
    return h0


def hidden_state_gradients(rnn, inputs, loss_of_last_state):
    """‖∂L/∂h_t‖ for every time step t, through the recurrence (backprop through time).

    The recurrent layer ``rnn`` (a one-directional nn.RNN, nn.GRU or nn.LSTM) is
    run one step at a time on ``inputs`` so that every hidden state h_t is a
    tensor whose gradient can be read; ``loss_of_last_state`` maps the top
    layer's last hidden state (batch, hidden) to a scalar loss. Returns a list
    of norms, one per time step, from the first to the last. The parameters'
    ``.grad`` are left as they were.
    """
    if not isinstance(rnn, RECURRENT_LAYERS):
        raise ValueError(f"hidden_state_gradients needs nn.RNN, nn.GRU or nn.LSTM as rnn, got "
                         f"{_describe(rnn)}.")
    if rnn.bidirectional:
        raise ValueError("rnn is bidirectional: its backward direction reads the sequence from "
                         "the end, so running it one step at a time would measure a different "
                         "network. Pass a one-directional layer (bidirectional=False).")
    _check_callable(loss_of_last_state, "loss_of_last_state", "lambda h: h.sum()")
    if not torch.is_tensor(inputs) or inputs.dim() != 3:
        raise ValueError("inputs must be a 3-D tensor (batch, time, features) with "
                         "batch_first=True, or (time, batch, features) otherwise; got "
                         f"{_describe(inputs)}.")
    if not inputs.is_floating_point():
        raise ValueError(f"inputs must be a floating-point tensor, got {inputs.dtype}.")
    if inputs.shape[2] != rnn.input_size:
        raise ValueError(f"inputs has {inputs.shape[2]} features per time step (shape "
                         f"{tuple(inputs.shape)}), but rnn expects input_size={rnn.input_size}.")
    time_dim = 1 if rnn.batch_first else 0
    if inputs.shape[1 - time_dim] == 0 or inputs.shape[time_dim] == 0:
        raise ValueError(f"inputs is empty (shape {tuple(inputs.shape)}): need at least one "
                         "example and one time step.")
    with torch.enable_grad():
        state, hidden_states = _initial_state(rnn, inputs), []
        for x_t in inputs.unbind(dim=time_dim):
            _, state = rnn(x_t.unsqueeze(time_dim), state)
            hidden_states.append(state[0] if isinstance(rnn, nn.LSTM) else state)
        loss = loss_of_last_state(hidden_states[-1][-1])
        if not torch.is_tensor(loss) or loss.numel() != 1:
            raise ValueError("loss_of_last_state must return a single number (a one-element "
                             f"tensor), got {_describe(loss)}.")
        # autograd.grad, not backward(): the parameters' .grad stay untouched.
        gradients = torch.autograd.grad(loss.reshape(()), hidden_states)
    return [_norm(gradient[-1]) for gradient in gradients]


def measure_overhead(model, optimizer, batch, repeats=20, loss_fn=None):
    """Seconds per training step without and with ``GradFlow`` (best of 3 rounds each).

    It trains ``model`` for 6 × ``repeats`` steps: use a throwaway model.
    """
    import time

    checks.module("model", model, example=" (a network)")
    _check_optimizer(optimizer, model)
    checks.whole_number("repeats", repeats)
    if loss_fn is not None:
        _check_callable(loss_fn, "loss_fn", "nn.functional.cross_entropy")
    loss_fn = loss_fn or nn.functional.cross_entropy
    x, y = _check_batch(batch, "batch")

    def step():
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    def best_time():
        rounds = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeats):
                step()
            rounds.append((time.perf_counter() - start) / repeats)
        return min(rounds)

    plain = best_time()
    with GradFlow(model, optimizer=optimizer):
        watched = best_time()
    return plain, watched


# --- Figures ---------------------------------------------------------------------------


def _short(name):
    return name.replace(".linear", "").replace(".layer", "")


def plot_gradient_norms(flow, ax=None, label=None, step=None):
    """Per-layer ‖∂L/∂W‖ on a log scale, input layer on the left."""
    import matplotlib.pyplot as plt

    _check_flow(flow, "plot_gradient_norms")
    norms = flow.weight_grad_norms(step)
    ax = ax or plt.gca()
    ax.semilogy(range(1, len(norms) + 1), list(norms.values()), marker="o", label=label)
    ax.set(xlabel="layer (1 = next to the input)", ylabel="‖∂L/∂W‖ (log scale)")
    return ax


def plot_histograms(flow, step=None, max_layers=8):
    """A grid: one column per activation layer, activations on top and gradients below.

    Each row shares its x axis, so a distribution that narrows from layer to
    layer is seen narrowing. Samples exist for the latest steps only, unless the
    flow was created with ``keep_samples="all"``.
    """
    import matplotlib.pyplot as plt

    _check_flow(flow, "plot_histograms")
    checks.whole_number("max_layers", max_layers)
    layers = [r for r in flow.layers(step, "activations") if r.activation_sample is not None]
    if not layers:
        raise ValueError("No activation samples for this step: create GradFlow(..., "
                         "keep_samples=True) and use activation modules (nn.Tanh, nn.ReLU, ...); "
                         "samples of older steps are dropped unless keep_samples='all'.")
    layers = _spread(layers, max_layers)
    fig, axes = plt.subplots(2, len(layers), figsize=(2.2 * len(layers), 4.4), squeeze=False,
                             sharex="row")
    for column, record in enumerate(layers):
        axes[0, column].hist(record.activation_sample.numpy(), bins=40, color="#0072B2")
        axes[0, column].set_title(_short(record.name), fontsize=10)
        if record.gradient_sample is not None:
            axes[1, column].hist(record.gradient_sample.numpy(), bins=40, color="#D55E00")
        for row in (0, 1):
            axes[row, column].tick_params(labelsize=8)
            axes[row, column].set_yticks([])
    axes[1, 0].ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    axes[0, 0].set_ylabel("activations")
    axes[1, 0].set_ylabel("gradients ∂L/∂a")
    fig.tight_layout()
    return fig


def _spread(items, limit):
    """At most ``limit`` items, evenly spread from the first to the last."""
    if len(items) <= limit:
        return items
    picks = torch.linspace(0, len(items) - 1, limit).round().long().tolist()
    return [items[i] for i in picks]


def plot_update_ratios(flow, ax=None, max_layers=6):
    """log10 of ‖Δw‖/‖w‖ over the optimizer steps for up to ``max_layers`` layers spread
    over the depth (dark = near the input, light = near the output), with a line at the
    rule of thumb ‖Δw‖/‖w‖ ≈ 1e-3 (Karpathy's CS231n notes and *Neural Networks: Zero to
    Hero*; see ``UPDATE_RATIO_RULE_OF_THUMB``)."""
    import matplotlib.pyplot as plt

    _check_flow(flow, "plot_update_ratios")
    checks.whole_number("max_layers", max_layers)
    ratios = flow.update_ratios()
    if not ratios:
        raise ValueError("No update ratios recorded: pass optimizer= to GradFlow and call "
                         "optimizer.step() inside the `with` block.")
    ax = ax or plt.gca()
    names = _spread(list(ratios), max_layers)
    colours = plt.get_cmap("viridis")(torch.linspace(0, 0.9, len(names)).numpy())
    for name, colour in zip(names, colours, strict=True):
        values = torch.tensor(ratios[name], dtype=torch.float64).clamp_min(1e-300)
        ax.plot(torch.log10(values).numpy(), color=colour, linewidth=1.2, label=_short(name))
    ax.axhline(math.log10(UPDATE_RATIO_RULE_OF_THUMB), color="gray", linestyle=":",
               label="rule of thumb ≈ 1e-3 (Karpathy)")
    ax.set(xlabel="optimizer step", ylabel="log10 ‖Δw‖ / ‖w‖")
    return ax


# --- Diagnosis -------------------------------------------------------------------------

#: Where the course teaches the fix for each condition.
FIXES = {
    "vanishing": "notebooks 04 (activations), 05 (initialization), 06 (batch norm) and "
                 "08 (residual connections); notebook 03 explains the cause",
    "exploding": "notebooks 05 (initialization) and 10 (gradient clipping)",
    "saturated": "notebooks 04 (activations), 05 (initialization) and 06 (batch norm)",
    "dead": "notebook 04 (leaky ReLU, ELU, a smaller learning rate)",
}
VANISHING_RATIO = 1e-3  # first-layer / last-layer gradient norm below this: vanishing
EXPLODING_RATIO = 1e3  # ... above this: exploding
SATURATED_LIMIT = 0.5  # a layer with more than half of its values saturated
DEAD_LIMIT = 0.5  # a layer with more than half of its units dead


@dataclass
class Diagnosis:
    """What ``diagnose`` found: a list of (condition, sentence) and the measurements.

    ``gradient_ratio`` is NaN when it could not be measured (the notes say why);
    such a diagnosis is not ``healthy`` even when it found nothing.
    """

    findings: list
    gradient_ratio: float  # ‖∂L/∂z‖ at the first layer / at the last layer
    flow: GradFlow
    notes: list = field(default_factory=list)  # what the diagnosis could not look at

    @property
    def conditions(self):
        """The names of the conditions found, e.g. ``["vanishing", "saturated"]``."""
        return [condition for condition, _ in self.findings]

    @property
    def healthy(self):
        """No problem found, and the gradient ratio was measured."""
        return not self.findings and math.isfinite(self.gradient_ratio)

    def __repr__(self):
        if self.healthy:
            lines = ["Diagnosis: no problem found. Gradient reaching the first / the last layer "
                     f"= {self.gradient_ratio:.2g} (healthy range {VANISHING_RATIO:g} to "
                     f"{EXPLODING_RATIO:g}); no saturated or dead layer among the activation "
                     "modules."]
        elif not self.findings:
            lines = ["Diagnosis: no problem found in what could be checked, but the gradient "
                     "ratio between the first and the last layer was not measured (see the "
                     "notes), so this is not a clean bill of health."]
        else:
            lines = ["Diagnosis:"] + [f"- {sentence}" for _, sentence in self.findings]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _check_batch(batch, argument):
    """One batch: a pair (x, y) of non-empty tensors, as a tuple or a list. (x may be
    time-major, so its rows are not compared with y's: the loss function checks that.)"""
    x, y = checks.tensor_pair(argument, batch)
    if x.numel() == 0 or y.numel() == 0:
        raise ValueError(f"{argument} is an empty batch (x of shape {tuple(x.shape)}, y of shape "
                         f"{tuple(y.shape)}); give it real data.")
    return x, y


def _batches_of(data):
    """``data`` as a list of checked batches: one pair (x, y), or a list of such pairs."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return [_check_batch(data, "data")]
    if torch.is_tensor(data) or isinstance(data, (str, bytes, dict)) \
            or not hasattr(data, "__iter__"):
        raise ValueError("data must be one batch (x, y) of tensors, or a list of such batches; "
                         f"got {_describe(data)}.")
    batches = list(data)
    if not batches:
        raise ValueError("diagnose needs at least one batch (x, y) in data.")
    return [_check_batch(batch, f"data[{i}]") for i, batch in enumerate(batches)]


def _not_finite(tensor):
    """How many values of a tensor are NaN or infinite (0 for integer tensors)."""
    if not tensor.is_floating_point():
        return 0
    return int((~torch.isfinite(tensor)).sum())


def _bad_data(batches):
    """A finding when some input or target is NaN or infinite, else None."""
    for i, (x, y) in enumerate(batches):
        for what, tensor in (("inputs", x), ("targets", y)):
            count = _not_finite(tensor)
            if count:
                return ("bad_inputs", f"The {what} contain NaN/inf: {count:,} of "
                        f"{tensor.numel():,} values in batch {i + 1}. Every gradient would be "
                        "NaN, so nothing else was checked. Fix the data first (e.g. a division "
                        "by a zero standard deviation when scaling).")
    return None


def _bad_weights(model):
    """A finding when some parameter of the model is NaN or infinite, else None."""
    broken = [name for name, parameter in model.named_parameters() if _not_finite(parameter)]
    if broken:
        return ("bad_weights", f"The model's parameters already contain NaN/inf ({broken[0]}"
                f"{f' and {len(broken) - 1} more' if len(broken) > 1 else ''}): an earlier "
                f"update blew up. Re-initialise, then see {FIXES['exploding']}.")
    return None


@dataclass
class _SavedState:
    """Everything about a model that running it forward and backward could change."""

    modes: list  # (module, training flag)
    values: list  # (parameter or buffer, a copy of its values)
    grads: list  # (parameter, its .grad tensor or None)
    requires_grad: list  # (parameter, flag)


def _save_state(model):
    return _SavedState(
        modes=[(module, module.training) for module in model.modules()],
        values=[(t, t.detach().clone()) for t in (*model.parameters(), *model.buffers())],
        grads=[(p, p.grad) for p in model.parameters()],
        requires_grad=[(p, p.requires_grad) for p in model.parameters()])


def _restore_state(saved):
    for module, training in saved.modes:
        module.training = training
    with torch.no_grad():
        for tensor, copy in saved.values:
            tensor.copy_(copy)
    for parameter, grad in saved.grads:
        parameter.grad = grad
    for parameter, flag in saved.requires_grad:
        parameter.requires_grad_(flag)


def _run_batches(model, batches, loss_fn, device):
    """Forward and backward on each batch; a finding if the loss is not finite."""
    for i, (x, y) in enumerate(batches):
        model.zero_grad(set_to_none=True)
        try:
            output = model(x.to(device))
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            raise ValueError(f"data: the model could not run on batch {i + 1} (x of shape "
                             f"{tuple(x.shape)}): {error}") from error
        try:
            loss = loss_fn(output, y.to(device))
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            raise ValueError(f"data: loss_fn could not compare the model's output (shape "
                             f"{tuple(output.shape)}) with y (shape {tuple(y.shape)}) in batch "
                             f"{i + 1}: {error}") from error
        if not torch.is_tensor(loss) or loss.numel() != 1:
            raise ValueError("loss_fn must return a single number (a one-element tensor), got "
                             f"{_describe(loss)}.")
        if not torch.isfinite(loss):
            return ("exploding", f"The loss is {loss.item()} although the inputs and weights "
                    f"are finite: the forward pass overflowed. See {FIXES['exploding']}.")
        loss.reshape(()).backward()
    return None


def _gradient_ratio(flow):
    """‖∂L/∂z‖ at the first / at the last layer with weights, and notes on what was missing.

    The back-propagated gradient at each layer's output (Glorot & Bengio's Fig. 7):
    weight gradients can stay level while it vanishes or explodes.
    """
    weights = flow.layers(kind="weights")
    seen = [r for r in weights if r.output_grad_norm is not None]
    unseen = [r.name for r in weights if r.output_grad_norm is None]
    notes = []
    if unseen:
        notes.append(f"no gradient reached the output of {', '.join(unseen)} (its output does "
                     "not lead to the loss, or it ran without autograd), so it is not in the "
                     "gradient ratio.")
    if len(seen) < 2:
        notes.append(f"{len(seen)} layer(s) with weights received a gradient at the output "
                     "(2 are needed): the gradient ratio was not measured.")
        return float("nan"), notes
    if seen[-1].output_grad_norm == 0:
        notes.append(f"the gradient reaching the last layer ({seen[-1].name}) is exactly 0: "
                     "the gradient ratio was not measured.")
        return float("nan"), notes
    return seen[0].output_grad_norm / seen[-1].output_grad_norm, notes


def _ratio_finding(ratio, norms):
    if any(not math.isfinite(n) for n in norms):
        return ("exploding", f"Some gradients are infinite or NaN. See {FIXES['exploding']}.")
    if ratio < VANISHING_RATIO:
        return ("vanishing", f"Vanishing gradients: the gradient reaching the first layer is "
                f"{ratio:.1e} times the one at the last layer, so the early layers barely "
                f"learn. See {FIXES['vanishing']}.")
    if ratio > EXPLODING_RATIO:
        return ("exploding", f"Exploding gradients: the gradient reaching the first layer is "
                f"{ratio:.1e} times the one at the last layer; updates of the early layers "
                f"will be huge. See {FIXES['exploding']}.")
    return None


def _activation_findings(flow):
    findings = []
    activations = flow.layers(kind="activations")
    saturated = [r for r in activations
                 if r.saturated_fraction is not None and r.saturated_fraction > SATURATED_LIMIT]
    if saturated:
        first = saturated[0]
        more = len(saturated) - 1
        others = f" (and {more} more layer{'s' if more > 1 else ''})" if more else ""
        findings.append(("saturated", f"Saturation: {100 * first.saturated_fraction:.0f}% of the "
                         f"values of {first.name}{others} sit in the flat parts of the "
                         f"{first.kind}, where its slope is nearly 0. See {FIXES['saturated']}."))
    dead = [r for r in activations if r.dead_fraction is not None and r.dead_fraction > DEAD_LIMIT]
    if dead:
        record = dead[0]
        findings.append(("dead", f"Dead units: {100 * record.dead_fraction:.0f}% of the units "
                         f"of {record.name} are zero for every example seen. A dead unit passes "
                         "no gradient back through itself, so its own weights and bias stop "
                         "changing (apart from momentum or weight decay); it comes back only if "
                         "the layers below it change enough to make its input positive for some "
                         f"example. See {FIXES['dead']}."))
    return findings


def diagnose(model, data, loss_fn=None):
    """Run ``model`` on a few batches and name what the gradients show, in plain words.

    ``data`` is one batch ``(x, y)`` (a tuple or a list) or a list of them;
    ``loss_fn(output, y)`` defaults to cross-entropy. The inputs and weights are
    checked for NaN/inf first. The model is left exactly as it was found: its
    weights and buffers (e.g. batch-norm running statistics), train/eval modes,
    the parameters' ``.grad`` and ``requires_grad``, and the global random state.
    The model runs in the mode it is in. Returns a ``Diagnosis``.
    """
    checks.module("model", model, example=" (a network)")
    batches = _batches_of(data)
    if loss_fn is not None:
        _check_callable(loss_fn, "loss_fn", "nn.functional.cross_entropy")
    loss_fn = loss_fn or nn.functional.cross_entropy
    flow = GradFlow(model, keep_samples=False)
    broken = _bad_data(batches) or _bad_weights(model)
    if broken:
        return Diagnosis([broken], float("nan"), flow, [])
    device = next(model.parameters()).device
    cuda = [device.index or 0] if device.type == "cuda" else []
    saved = _save_state(model)
    try:
        with torch.random.fork_rng(devices=cuda), flow:  # dropout must not move the caller's RNG
            overflow = _run_batches(model, batches, loss_fn, device)
    finally:
        _restore_state(saved)
    ratio, notes = _gradient_ratio(flow)
    norms = [r.output_grad_norm for r in flow.layers(kind="weights")
             if r.output_grad_norm is not None]
    findings = [overflow] if overflow else [f for f in [_ratio_finding(ratio, norms)] if f]
    findings += _activation_findings(flow)
    if any(isinstance(module, RECURRENT_LAYERS) for module in model.modules()):
        notes.append("the ratio compares layers, not time steps; to see the gradient vanish "
                     "back through time, use hidden_state_gradients (notebook 09).")
    if not flow.layers(kind="activations"):
        notes.append("no activation modules found (functions such as torch.sigmoid inside "
                     "forward are invisible to hooks), so saturation and dead units were not "
                     "checked.")
    return Diagnosis(findings, ratio, flow, notes)
