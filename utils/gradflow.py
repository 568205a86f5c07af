"""Gradient health: what flows through each layer of a network, forward and back.

``GradFlow`` attaches hooks to any ``nn.Module`` and records, for every layer
it can read, on every forward and backward pass:

- for layers with weights (Linear, Conv1d/2d/3d, RNN, LSTM, GRU): the norm of
  the gradient of the layer's weight (for recurrent layers, the hidden-to-hidden
  weight) and of its output, and — when an optimizer is watched — the
  update-to-data ratio ‖Δw‖/‖w‖ of each step; for recurrent layers also the
  norm of the gradient reaching the output at each time step from above
  (``time_grad_norms``). The gradient that flows back *through time* inside the
  recurrence, ∂L/∂h_t, is measured by ``hidden_state_gradients``;
- for activation modules (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, GELU, SELU):
  the mean and standard deviation of the activations, the fraction of
  saturated values (sigmoid and tanh in their flat parts) and the fraction of
  dead units (ReLU units that are zero for every example seen).

Each forward pass of the whole model starts a new "step"; ``flow.layers()`` shows
the last step that has gradients. A module used twice in one forward pass (one
activation module shared by several layers) is recorded as one layer: give each
layer its own module. Use it as a context manager; every hook it added is
removed on exit::

    with GradFlow(model) as flow:
        loss_fn(model(x), y).backward()
    flow.layers()            # the last step's statistics, input to output
    plot_gradient_norms(flow)

``diagnose(model, (x, y))`` runs a few batches and names what it sees
(vanishing, exploding, saturated, dead units) in plain words, with the
notebook that teaches the fix. Activations computed with functions (e.g.
``torch.sigmoid`` inside ``forward``) are invisible to hooks: use modules.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNN, nn.LSTM, nn.GRU)
RECURRENT_LAYERS = (nn.RNN, nn.LSTM, nn.GRU)
WEIGHT_KINDS = ("linear", "conv", "rnn", "lstm", "gru")
ACTIVATION_KINDS = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu",
                    nn.LeakyReLU: "leaky_relu", nn.ELU: "elu", nn.GELU: "gelu", nn.SELU: "selu"}
#: A sigmoid or tanh output this close to its bounds is "saturated": its slope is
#: below about 6% of the maximum (|tanh| > 0.97: 1 − 0.97² ≈ 0.059; sigmoid outside
#: [0.015, 0.985]: 0.015 · 0.985 ≈ 0.059 · 1/4).
TANH_MARGIN = 0.03
SIGMOID_MARGIN = 0.015
SAMPLE_SIZE = 2000  # values kept per layer and step for histograms


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
    activation_sample: torch.Tensor = None
    gradient_sample: torch.Tensor = None


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


class GradFlow:
    """Record per-layer activation and gradient statistics of ``model``.

    Parameters
    ----------
    model : nn.Module
        Any module with parameters; the layers of the types above are read.
    optimizer : torch.optim.Optimizer, optional
        If given, the update-to-data ratio of every weight is recorded at
        each ``optimizer.step()``.
    keep_samples : bool
        Keep up to 2,000 activation and gradient values per layer and step
        (for histograms).
    """

    def __init__(self, model, optimizer=None, keep_samples=True):
        if not isinstance(model, nn.Module):
            raise ValueError(f"GradFlow needs a torch.nn.Module, got {type(model).__name__}.")
        if not any(True for _ in model.parameters()):
            raise ValueError(f"{type(model).__name__} has no parameters: there are no gradients "
                             "to watch. Pass the whole network, not a parameter-free module.")
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

    # --- hooks ---------------------------------------------------------------------

    def __enter__(self):
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
            if isinstance(output, tuple):  # recurrent layers return (output, state)
                output = output[0]
            if not torch.is_tensor(output):
                raise ValueError(f"GradFlow cannot read the output of {name} "
                                 f"({type(output).__name__}); packed sequences are not supported.")
            record = self._record(name, kind)
            with torch.no_grad():
                values = output.detach()
                if kind in ACTIVATION_KINDS.values():
                    self._activation_stats(record, name, kind, values)
            if self.keep_samples:
                record.activation_sample = _sample(values, self._generator)
            if output.requires_grad:
                time_dim = (1 if module.batch_first else 0) if kind in ("rnn", "lstm", "gru") \
                    else None
                output.register_hook(self._output_grad_hook(record, time_dim))

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
                never_active = never_active & previous
            self._dead_since_start[name] = never_active
            record.dead_fraction = never_active.float().mean().item()

    def _output_grad_hook(self, record, time_dim):
        def hook(grad):
            record.output_grad_norm = _norm(grad)
            if time_dim is not None and grad.dim() == 3:  # ‖∂L/∂h_t‖ for every time step t
                other_dims = tuple(d for d in range(3) if d != time_dim)
                record.time_grad_norms = _high_precision(grad).norm(dim=other_dims).cpu().tolist()
            if self.keep_samples:
                record.gradient_sample = _sample(grad, self._generator)

        return hook

    def _weight_grad_hook(self, name, kind):
        def hook(parameter):
            record = self._record(name, kind)
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

    def layers(self, step=None, kind=None):
        """The records of one step, input to output (default: the last step with
        gradients, so an evaluation pass after ``backward()`` does not hide them).

        ``kind`` filters: ``"weights"`` for layers with weights, ``"activations"``
        for activation modules, or a single kind such as ``"tanh"``.
        """
        if not self.steps:
            raise ValueError("Nothing recorded yet: run a forward and backward pass inside "
                             "`with GradFlow(model) as flow:`.")
        if step is None:
            with_gradients = [i for i, s in enumerate(self.steps)
                              if any(r.output_grad_norm is not None or r.weight_grad_norm
                                     is not None for r in s.records.values())]
            step = with_gradients[-1] if with_gradients else -1
        records = self.steps[step].records
        ordered = [records[name] for name, _ in self.watched if name in records]
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


def hidden_state_gradients(rnn, inputs, loss_of_last_state):
    """‖∂L/∂h_t‖ for every time step t, through the recurrence (backprop through time).

    The recurrent layer ``rnn`` (nn.RNN, nn.GRU or nn.LSTM) is run one step at
    a time on ``inputs`` so that every hidden state h_t is a tensor whose
    gradient can be kept; ``loss_of_last_state`` maps the top layer's last
    hidden state (batch, hidden) to a scalar loss. Returns a list of norms,
    one per time step, from the first to the last.
    """
    if not isinstance(rnn, RECURRENT_LAYERS):
        raise ValueError(f"hidden_state_gradients needs nn.RNN, nn.GRU or nn.LSTM, got "
                         f"{type(rnn).__name__}.")
    if not torch.is_tensor(inputs) or inputs.dim() != 3:
        raise ValueError("inputs must be a 3-D tensor (batch, time, features) with "
                         "batch_first=True, or (time, batch, features) otherwise; got "
                         f"{getattr(inputs, 'shape', type(inputs).__name__)}.")
    time_dim = 1 if rnn.batch_first else 0
    if inputs.shape[1 - time_dim] == 0 or inputs.shape[time_dim] == 0:
        raise ValueError(f"inputs is empty (shape {tuple(inputs.shape)}): need at least one "
                         "example and one time step.")
    state, hidden_states = None, []
    for x_t in inputs.unbind(dim=time_dim):
        _, state = rnn(x_t.unsqueeze(time_dim), state)
        hidden = state[0] if isinstance(rnn, nn.LSTM) else state
        hidden.retain_grad()
        hidden_states.append(hidden)
    loss = loss_of_last_state(hidden_states[-1][-1])
    loss.backward()
    return [_norm(h.grad[-1]) for h in hidden_states]


def measure_overhead(model, optimizer, batch, repeats=20, loss_fn=None):
    """Seconds per training step without and with ``GradFlow`` (best of 3 rounds each)."""
    import time

    loss_fn = loss_fn or nn.functional.cross_entropy
    x, y = batch

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

    ax = ax or plt.gca()
    norms = flow.weight_grad_norms(step)
    ax.semilogy(range(1, len(norms) + 1), list(norms.values()), marker="o", label=label)
    ax.set(xlabel="layer (1 = next to the input)", ylabel="‖∂L/∂W‖ (log scale)")
    return ax


def plot_histograms(flow, step=None, max_layers=8):
    """A grid: one column per activation layer, activations on top and gradients below.

    Each row shares its x axis, so a distribution that narrows from layer to
    layer is seen narrowing.
    """
    import matplotlib.pyplot as plt

    layers = [r for r in flow.layers(step, "activations") if r.activation_sample is not None]
    if not layers:
        raise ValueError("No activation samples: create GradFlow(..., keep_samples=True) and "
                         "use activation modules (nn.Tanh, nn.ReLU, ...).")
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
    over the depth (dark = near the input, light = near the output), with the 1e-3 rule
    of thumb."""
    import matplotlib.pyplot as plt

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
    ax.axhline(-3, color="gray", linestyle=":", label="rule of thumb, 1e-3")
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
    """What ``diagnose`` found: a list of (condition, sentence) and the measurements."""

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
        return not self.findings

    def __repr__(self):
        if self.healthy:
            lines = ["Diagnosis: no problem found. Gradient reaching the first / the last layer "
                     f"= {self.gradient_ratio:.2g} (healthy range {VANISHING_RATIO:g} to "
                     f"{EXPLODING_RATIO:g}); no saturated or dead layer among the activation "
                     "modules."]
        else:
            lines = ["Diagnosis:"] + [f"- {sentence}" for _, sentence in self.findings]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _batches_of(data):
    if isinstance(data, tuple) and len(data) == 2 and torch.is_tensor(data[0]):
        return [data]
    batches = list(data)
    if not batches:
        raise ValueError("diagnose needs at least one batch (x, y).")
    return batches


def diagnose(model, data, loss_fn=None):
    """Run ``model`` on a few batches and name what the gradients show, in plain words.

    ``data`` is one batch ``(x, y)`` or a list of them. No weight is changed;
    the gradients are cleared afterwards. Returns a ``Diagnosis``.
    """
    batches = _batches_of(data)
    loss_fn = loss_fn or nn.functional.cross_entropy
    device = next(model.parameters(), torch.empty(0)).device
    findings = []
    with GradFlow(model, keep_samples=False) as flow:
        for x, y in batches:
            if len(x) == 0:
                raise ValueError("diagnose got an empty batch (0 examples); give it real data.")
            model.zero_grad(set_to_none=True)
            loss = loss_fn(model(x.to(device)), y.to(device))
            if not torch.isfinite(loss):
                findings.append(("exploding", f"The loss is {loss.item()}: the forward pass "
                                 f"overflowed. See {FIXES['exploding']}."))
                break
            loss.backward()
    model.zero_grad(set_to_none=True)
    # The back-propagated gradient ∂L/∂z at each layer's output (Glorot & Bengio's Fig. 7):
    # weight gradients can stay level while it vanishes or explodes.
    norms = [r.output_grad_norm for r in flow.layers(kind="weights")
             if r.output_grad_norm is not None]
    ratio = norms[0] / norms[-1] if len(norms) >= 2 and norms[-1] > 0 else float("nan")
    if not findings:
        if any(not torch.isfinite(torch.tensor(n)) for n in norms):
            findings.append(("exploding", "Some gradients are infinite or NaN. "
                             f"See {FIXES['exploding']}."))
        elif ratio < VANISHING_RATIO:
            findings.append(("vanishing", f"Vanishing gradients: the gradient reaching the first "
                             f"layer is {ratio:.1e} times the one at the last layer, so the early "
                             f"layers barely learn. See {FIXES['vanishing']}."))
        elif ratio > EXPLODING_RATIO:
            findings.append(("exploding", f"Exploding gradients: the gradient reaching the first "
                             f"layer is {ratio:.1e} times the one at the last layer; updates of the "
                             f"early layers will be huge. See {FIXES['exploding']}."))
    saturated = [r for r in flow.layers(kind="activations")
                 if r.saturated_fraction is not None and r.saturated_fraction > SATURATED_LIMIT]
    if saturated:
        first = saturated[0]
        others = f" (and {len(saturated) - 1} more layers)" if len(saturated) > 1 else ""
        findings.append(("saturated", f"Saturation: {100 * first.saturated_fraction:.0f}% of the "
                         f"values of {first.name}{others} sit in the flat parts of the "
                         f"{first.kind}, where its slope is nearly 0. See {FIXES['saturated']}."))
    for record in flow.layers(kind="activations"):
        if record.dead_fraction is not None and record.dead_fraction > DEAD_LIMIT:
            findings.append(("dead", f"Dead units: {100 * record.dead_fraction:.0f}% of the "
                             f"units of {record.name} are zero for every example, so they get "
                             f"no gradient and never recover. See {FIXES['dead']}."))
            break
    notes = []
    if len(norms) < 2:
        notes.append("fewer than two layers with weights: no gradient ratio to compare.")
    if any(isinstance(module, RECURRENT_LAYERS) for module in model.modules()):
        notes.append("the ratio compares layers, not time steps; to see the gradient vanish "
                     "back through time, use hidden_state_gradients (notebook 09).")
    if not flow.layers(kind="activations"):
        notes.append("no activation modules found (functions such as torch.sigmoid inside "
                     "forward are invisible to hooks), so saturation and dead units were not "
                     "checked.")
    return Diagnosis(findings, ratio, flow, notes)
