"""Gradient health: what flows through each layer of a network, forward and back.

``GradFlow`` attaches hooks to any ``nn.Module`` and records, for every layer it
can read, on every forward and backward pass, one ``LayerRecord``. What it reads
is one table, ``KINDS``: each ``LayerKind`` names the module classes it finds,
its family, how to read its weight (and bias) and the statistics of its values
(pure functions: a saturated share, dead units). The families:

- ``"weights"``: Linear, Conv (1-3d, transposed too), RNN / LSTM / GRU (every layer
  of a stacked one, named ``rnn.l0``, ``rnn.l1``, …; a one-layer one keeps its own
  name; ``utils.nets.RecurrentStack``'s one-layer modules are named the same way)
  and RNNCell / LSTMCell / GRUCell. Recorded: ‖∂L/∂W‖ and ‖W‖ (recurrent
  layers and cells: the hidden-to-hidden weight W_hh, the forward direction), the
  gradient reaching the layer's output ‖∂L/∂z‖, and with ``optimizer=`` the update
  ratio ‖ΔW‖/‖W‖ of each step. A recurrent layer's output gradient is the gradient
  reaching everything it returns (the output sequence and h_n, plus c_n for an
  LSTM). A lower layer of a multi-layer ``nn.RNN``/``nn.LSTM``/``nn.GRU`` passes its
  output to the next layer inside the module, where no hook reaches it: its output
  gradient is None and only its own slice of h_n/c_n is read (``state_grad_norm``);
  build the stack with ``utils.nets.make_sequence_model`` (a ``RecurrentStack``)
  to read every layer. ``time_grad_norms`` holds ‖∂L/∂h_t‖ per time step from
  above (a cell: per call, i.e. per time step, through time). The gradient that
  flows back *through time* inside ``nn.RNN``/``nn.LSTM``, ∂L/∂h_t and ∂L/∂c_t, is
  measured by ``hidden_state_gradients``.
- ``"norms"``: BatchNorm, LayerNorm, GroupNorm. The statistics of the values going
  in (``input_mean``, ``input_std``) and coming out (``act_mean``, ``act_std``), the
  gradients of γ (``weight_grad_norm``) and β (``bias_grad_norm``) and ‖∂L/∂z‖.
- ``"residual"``: ``utils.nets.BlockInput``, the marker at the input of a residual
  block. ‖∂L/∂x‖ at the block's input (carried by the identity path and the block)
  and the signal's mean and spread there.
- ``"activations"``: the modules of ``utils.nets.ACTIVATIONS`` (sigmoid, tanh, ReLU,
  leaky ReLU, ELU, GELU, SELU) under the same names. The mean and standard
  deviation of the activations, the share of saturated values (sigmoid and tanh in
  their flat parts, ``saturated_share``) and the share of dead units (ReLU units
  that are zero for every example seen since the flow started, ``dead_share``).

The statistics are pure functions of the values (``moments``, ``saturated_share``,
``never_active``, ``dead_share``), named by each kind (``LayerKind.saturation``,
``LayerKind.dead_units``): a notebook can show them as the definitions.

Each forward pass of the whole model starts a new "step"; ``flow.layers()`` shows
the last step that has gradients, with the layers in the order the forward pass
first reached them (the data's path, not the order the model declares them). A
module used several times in one forward pass (one Linear applied twice, a cell
unrolled over time) is one record: its output gradient is the norm of the
gradient reaching all of its outputs together, its activation statistics cover
every call. ``flow.series(field)`` gives one field over the steps and
``flow.output_grad_norms()`` one step's ‖∂L/∂z‖ per layer. Samples of the values
(for histograms) are kept only with ``keep_samples=True``. Use it as a context
manager; every hook it added is removed on exit, even after an error::

    with GradFlow(model) as flow:
        loss_fn(model(x), y).backward()
    flow.layers()            # the last step's statistics, input to output
    flow.output_grad_norms() # {layer: ‖∂L/∂z‖}

Recording neither changes the model's outputs nor draws from torch's global
random state. Activations computed with functions (``F.relu`` inside
``forward``) are invisible to hooks: use modules. The diagnosis lives in
``utils.diagnosis`` and the figures in ``utils.plots``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from utils import checks
from utils.nets import ACTIVATIONS, BlockInput, RecurrentStack

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
#: ``recent_dead_fraction`` counts a ReLU unit as dead when it is zero for every example of
#: the last this-many forward passes (640 digits in minibatches of 64): long enough that a
#: rarely active unit is seen alive, short enough that a unit that dies mid-run shows up
#: (``dead_fraction``, dead since the flow started, never sees a unit that was alive once).
DEAD_WINDOW = 10


# --- the statistics, as pure functions ----------------------------------------------------


def _high_precision(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor, detached, in float64 (float32 on Apple's MPS, which has no float64):
    squaring the values of a vanishing gradient, about 1e-25 in size, in float32 would
    underflow to 0, and exploding activations overflow float32."""
    return tensor.detach().to(torch.float32 if tensor.device.type == "mps" else torch.float64)


def _norm(tensor: torch.Tensor) -> float:
    """The L2 norm as a Python float, computed in high precision."""
    return _high_precision(tensor).norm().item()


def moments(values: torch.Tensor) -> tuple[float, float]:
    """The mean and the standard deviation (n − 1 in the denominator; 0 for one value) of
    all the values of a non-empty tensor, computed in float64."""
    high = _high_precision(values)
    return high.mean().item(), (high.std().item() if high.numel() > 1 else 0.0)


def saturated_share(values: torch.Tensor, kind: str) -> float | None:
    """The share of the outputs ``values`` of a sigmoid or tanh that sit in its flat parts.

    tanh: |a| > 1 − ``TANH_MARGIN`` (0.97); sigmoid: a < ``SIGMOID_MARGIN`` (0.015) or
    a > 1 − 0.015. In both the slope is below about 6% of its maximum. None for any other
    ``kind`` (an activation name of ``utils.nets.ACTIVATIONS``): it has no flat part.
    """
    if kind == "tanh":
        flat = values.abs() > 1 - TANH_MARGIN
    elif kind == "sigmoid":
        flat = (values < SIGMOID_MARGIN) | (values > 1 - SIGMOID_MARGIN)
    else:
        return None
    return flat.float().mean().item()


def sigmoid_saturated_share(values: torch.Tensor) -> float:
    """``saturated_share`` of a sigmoid's outputs."""
    return saturated_share(values, "sigmoid")


def tanh_saturated_share(values: torch.Tensor) -> float:
    """``saturated_share`` of a tanh's outputs."""
    return saturated_share(values, "tanh")


def never_active(values: torch.Tensor) -> torch.Tensor:
    """One flag per unit: True where the unit's output is ≤ 0 for every example of the batch.

    ``values`` has the examples along dimension 0 (batch, units…); every other position
    (a feature, a channel at a pixel) is one unit. A 1-D tensor is one example.
    """
    units = values.reshape(values.shape[0], -1) if values.dim() > 1 else values[None]
    return (units <= 0).all(dim=0)


def dead_share(values: torch.Tensor, dead_before: torch.Tensor | None = None) -> float:
    """The share of ReLU units that are zero for every example in ``values`` (and, when
    ``dead_before`` gives the flags of ``never_active`` over earlier batches, in those too).
    A dead unit passes no gradient back through itself."""
    dead = never_active(values)
    if dead_before is not None and dead_before.shape == dead.shape:
        dead = dead & dead_before
    return dead.float().mean().item()


# --- the registry of layer kinds ----------------------------------------------------------


def _own_weight(module: nn.Module, layer: int) -> torch.Tensor | None:
    return getattr(module, "weight", None)


def _own_bias(module: nn.Module, layer: int) -> torch.Tensor | None:
    return getattr(module, "bias", None)


def _recurrent_weight(module: nn.Module, layer: int) -> torch.Tensor | None:
    return getattr(module, f"weight_hh_l{layer}")


def _recurrent_bias(module: nn.Module, layer: int) -> torch.Tensor | None:
    return getattr(module, f"bias_hh_l{layer}", None)


def _cell_weight(module: nn.Module, layer: int) -> torch.Tensor | None:
    return module.weight_hh


def _cell_bias(module: nn.Module, layer: int) -> torch.Tensor | None:
    return module.bias_hh


@dataclass(frozen=True)
class LayerKind:
    """One kind of layer GradFlow reads: how to find it, read its weights, and which
    statistics of its outputs to record.

    ``family`` is one of ``FAMILIES``; ``types`` the module classes (an instance of
    any of them is this kind); ``weight(module, layer)`` and ``bias(module, layer)``
    return the tensor whose gradient is recorded (``layer`` numbers the layers of a
    stacked recurrent module, 0 otherwise), or None. ``saturation(values)`` gives
    the share of an activation's outputs in its flat parts (``saturated_fraction``),
    ``dead_units(values)`` one flag per unit that is inactive for every example
    (``dead_fraction``); None where the statistic does not apply.
    """

    name: str
    family: str
    types: tuple[type, ...]
    weight: Callable[[nn.Module, int], torch.Tensor | None] | None = None
    bias: Callable[[nn.Module, int], torch.Tensor | None] | None = None
    saturation: Callable[[torch.Tensor], float] | None = None
    dead_units: Callable[[torch.Tensor], torch.Tensor] | None = None


def _activation_classes() -> dict[str, type]:
    """{name: module class} for every activation of ``utils.nets.ACTIVATIONS`` but identity
    (an entry is a table row with ``.module``, a module class, or a function returning one)."""
    classes = {}
    for name, entry in ACTIVATIONS.items():
        if name == "identity":
            continue
        if hasattr(entry, "module"):
            classes[name] = entry.module
        else:
            classes[name] = entry if isinstance(entry, type) else type(entry())
    return classes


#: The statistics of the activations that have them (every other activation: none).
ACTIVATION_STATISTICS: dict[str, dict[str, Callable]] = {
    "sigmoid": {"saturation": sigmoid_saturated_share},
    "tanh": {"saturation": tanh_saturated_share},
    "relu": {"dead_units": never_active},
}
FAMILIES = ("weights", "norms", "residual", "activations")
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
         nn.ConvTranspose3d)
#: Every kind GradFlow reads, looked up in this order (the first that matches wins).
KINDS = (
    LayerKind("linear", "weights", (nn.Linear,), _own_weight),
    LayerKind("conv", "weights", _CONV, _own_weight),
    LayerKind("rnn", "weights", (nn.RNN,), _recurrent_weight),
    LayerKind("lstm", "weights", (nn.LSTM,), _recurrent_weight),
    LayerKind("gru", "weights", (nn.GRU,), _recurrent_weight),
    LayerKind("rnn_cell", "weights", (nn.RNNCell,), _cell_weight),
    LayerKind("lstm_cell", "weights", (nn.LSTMCell,), _cell_weight),
    LayerKind("gru_cell", "weights", (nn.GRUCell,), _cell_weight),
    LayerKind("batch_norm", "norms", (nn.modules.batchnorm._BatchNorm,), _own_weight, _own_bias),
    LayerKind("layer_norm", "norms", (nn.LayerNorm,), _own_weight, _own_bias),
    LayerKind("group_norm", "norms", (nn.GroupNorm,), _own_weight, _own_bias),
    LayerKind("residual", "residual", (BlockInput,)),
    *(LayerKind(name, "activations", (cls,), **ACTIVATION_STATISTICS.get(name, {}))
      for name, cls in _activation_classes().items()),
)
KIND_NAMES = tuple(kind.name for kind in KINDS)
RECURRENT_KINDS = ("rnn", "lstm", "gru")
CELL_KINDS = ("rnn_cell", "lstm_cell", "gru_cell")
#: What ``GradFlow.layers(kind=...)`` accepts besides None: a family or a kind (each once:
#: "residual" is both).
LAYER_FILTERS = tuple(dict.fromkeys(FAMILIES + KIND_NAMES))
#: {activation module class: kind name}.
ACTIVATION_KINDS = {k.types[0]: k.name for k in KINDS if k.family == "activations"}
RECURRENT_LAYERS = (nn.RNN, nn.LSTM, nn.GRU)
#: Modules whose output is finite whenever their input is (the activations of
#: ``utils.nets.ACTIVATIONS``, dropout, identity): the search for the first non-finite
#: output skips them, which halves its cost in an MLP.
_KEEPS_FINITE = (*ACTIVATION_KINDS, nn.Identity, nn.modules.dropout._DropoutNd)


def kind_of(module: nn.Module) -> LayerKind | None:
    """The ``LayerKind`` of a module, or None when GradFlow does not read it."""
    for kind in KINDS:
        if isinstance(module, kind.types):
            return kind
    return None


def family_of(kind_name: str) -> str:
    """The family (one of ``FAMILIES``) of a kind name such as ``"lstm"``."""
    for kind in KINDS:
        if kind.name == kind_name:
            return kind.family
    raise ValueError(f"kind must be one of {', '.join(KIND_NAMES)}; got {kind_name!r}.")


@dataclass
class LayerRecord:
    """Statistics of one layer at one step; fields that do not apply are None."""

    name: str
    kind: str
    act_mean: float | None = None  # of the layer's outputs (activations, norms, residual)
    act_std: float | None = None
    saturated_fraction: float | None = None
    dead_fraction: float | None = None
    output_grad_norm: float | None = None  # ‖∂L/∂z‖, z = everything the layer returns
    weight_grad_norm: float | None = None  # ‖∂L/∂W‖ (norms: γ)
    weight_norm: float | None = None
    update_ratio: float | None = None  # ‖ΔW‖/‖W‖ at this step's optimizer step
    time_grad_norms: list[float | None] | None = None
    state_grad_norm: float | None = None  # recurrent layers: the gradient reaching h_n (and c_n)
    input_mean: float | None = None  # norms: the values going in
    input_std: float | None = None
    bias_grad_norm: float | None = None  # norms: ‖∂L/∂β‖
    sublayer: int | None = None  # the layer's number inside a stacked recurrent module
    activation_sample: torch.Tensor | None = None
    gradient_sample: torch.Tensor | None = None
    grad_parts: dict[str, float] | None = field(default=None, repr=False)
    #: ReLU: the share of units zero for every example of the last ``DEAD_WINDOW`` forward
    #: passes (units can die during a run; ``dead_fraction`` counts since the flow started).
    recent_dead_fraction: float | None = None
    #: The first layer with weights of each step: ‖x‖ (Frobenius) of the values going in. For
    #: a Linear layer ‖∂L/∂W‖ ≤ ‖∂L/∂z‖·‖x‖ when the gradient was cleared before the step.
    input_norm: float | None = None
    # running sums over the calls of a module used several times in one step
    _calls: int = field(default=0, repr=False, compare=False)
    _count: int = field(default=0, repr=False, compare=False)
    _sum_sq_dev: float = field(default=0.0, repr=False, compare=False)
    _saturated: float = field(default=0.0, repr=False, compare=False)
    _output_sq: float = field(default=0.0, repr=False, compare=False)

    @property
    def family(self) -> str:
        """The family of this record's kind: weights, norms, residual or activations."""
        return family_of(self.kind)

    def _add_moments(self, values: torch.Tensor) -> None:
        """Fold one call's values into act_mean / act_std (Chan et al.'s pairwise update)."""
        high = _high_precision(values).reshape(-1)
        n, mean = high.numel(), high.mean().item()
        sum_sq_dev = (high - mean).pow(2).sum().item()
        if self._count:
            total = self._count + n
            delta = mean - self.act_mean
            sum_sq_dev += self._sum_sq_dev + delta * delta * self._count * n / total
            mean = self.act_mean + delta * n / total
            n = total
        self._count, self._sum_sq_dev, self.act_mean = n, sum_sq_dev, mean
        self.act_std = math.sqrt(sum_sq_dev / (n - 1)) if n > 1 else 0.0

    def _add_output_gradient(self, norm: float) -> None:
        self._output_sq += norm * norm
        self.output_grad_norm = math.sqrt(self._output_sq)


#: The number fields of ``LayerRecord`` that ``GradFlow.series`` follows over the steps.
SERIES_FIELDS = ("output_grad_norm", "weight_grad_norm", "weight_norm", "update_ratio",
                 "act_mean", "act_std", "saturated_fraction", "dead_fraction",
                 "state_grad_norm", "input_mean", "input_std", "bias_grad_norm",
                 "recent_dead_fraction", "input_norm")


@dataclass(frozen=True)
class NonFinite:
    """Where the first NaN/inf value appeared in a forward pass watched by ``GradFlow``.

    ``module`` is the name of the first module (in the order they finished, so a layer
    before the container holding it) whose output held a NaN or inf; ``step`` the index
    of that forward pass in ``flow.steps``; ``training_step`` how many forward passes
    with autograd on (training steps, in ``utils.train.train``: its global step number)
    had begun, this one included (None when autograd was off); ``count`` and ``size``
    the non-finite values and all the values of that output; ``kind`` "nan" or "inf"
    (the first kind found, NaN first).
    """

    module: str
    step: int
    training_step: int | None
    count: int
    size: int
    kind: str


@dataclass
class _Step:
    """One forward pass of the whole model: its records, and the modes it ran in.

    ``training``: ``model.training`` when the pass began; ``grad_enabled``: whether
    autograd was recording; ``batch_norm_training``: True when any batch-norm layer
    ran in training mode, False when all ran in eval mode, None without batch norm;
    ``stepped_in``: ``(model.training, batch_norm_training)`` at this step's
    ``optimizer.step()`` (None when no optimizer step was seen, or without ``optimizer=``).
    """

    records: dict[str, LayerRecord] = field(default_factory=dict)
    training: bool | None = None
    grad_enabled: bool | None = None
    batch_norm_training: bool | None = None
    stepped_in: tuple[bool, bool | None] | None = None
    #: The model's output (2-D) was already probabilities: every row ≥ 0 and sums to 1
    #: (a softmax before a loss that applies its own); None when not a 2-D float output.
    output_is_probability: bool | None = None


def _is_probability(output: torch.Tensor) -> bool | None:
    """Whether a 2-D output's rows look like probabilities (≥ 0, summing to 1 within 1e-3);
    None for another shape or an integer tensor."""
    if output.dim() != 2 or not output.is_floating_point() or output.shape[1] < 2 \
            or output.shape[0] == 0:
        return None
    with torch.no_grad():
        values = output.detach()
        lowest, deviation = torch.stack([values.amin(), (values.sum(dim=1) - 1).abs().amax()
                                         ]).tolist()
        return lowest >= 0 and deviation < 1e-3


@dataclass
class _Tracked:
    """One weight GradFlow follows: its record's name and kind, the tensors, the sublayer."""

    name: str
    kind: str
    weight: torch.Tensor | None
    bias: torch.Tensor | None
    sublayer: int | None


def _sample(tensor: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flat = tensor.detach().reshape(-1).float()
    if flat.numel() > SAMPLE_SIZE:
        index = torch.randint(flat.numel(), (SAMPLE_SIZE,), generator=generator)
        flat = flat.cpu()[index]
    return flat.cpu()


def _check_optimizer(optimizer: Any, model: nn.Module) -> None:
    """Refuse an optimizer that is not one, or that updates none of the model's parameters."""
    checks.optimizer_for(model, optimizer, also=" or None",
                         purpose="its update ratios would not be this model's")


def check_flow(flow: Any, function: str) -> GradFlow:
    """``flow`` if it is a ``GradFlow``, else a ValueError saying that ``function`` (the
    caller's name, e.g. ``"plot_histograms"``) needs one."""
    if not isinstance(flow, GradFlow):
        raise ValueError(f"{function} needs the GradFlow object of a run (with GradFlow(model) "
                         f"as flow: ...), got {checks.describe(flow)}.")
    return flow


def _stack_size(module: nn.Module, kind: LayerKind) -> int:
    """How many layers a module holds: ``num_layers`` of a recurrent module, else 1."""
    return module.num_layers if kind.name in RECURRENT_KINDS else 1


class GradFlow:
    """Record per-layer activation and gradient statistics of ``model``.

    Parameters
    ----------
    model : nn.Module
        Any module with parameters; the layers of the kinds in ``KINDS`` are read.
    optimizer : torch.optim.Optimizer or None
        If given, the update-to-data ratio of every recorded weight is recorded at
        each ``optimizer.step()``. It must hold parameters of ``model``; an optimizer
        written from scratch as a ``torch.optim.Optimizer`` subclass works too.
    keep_samples : bool or "all"
        ``False`` (the default) keeps only statistics. ``True`` also keeps up to
        2,000 activation and gradient values per layer (for ``plot_histograms``),
        for the most recent step and the most recent step with gradients only, so
        memory stays bounded however long the run; ``"all"`` keeps the samples of
        every step (memory grows with the number of steps).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 keep_samples: bool | str = False) -> None:
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
        #: (name, module) of every module GradFlow reads, in declaration order.
        self.watched: list[tuple[str, nn.Module]] = [
            (name or type(model).__name__, module)
            for name, module in model.named_modules() if kind_of(module)]
        if not self.watched:
            readable = sorted({t.__name__ for kind in KINDS for t in kind.types})
            raise ValueError(f"GradFlow cannot read any layer of {type(model).__name__}: it "
                             f"reads {', '.join(readable)}.")
        self._tracked = [tracked for name, module in self.watched
                         for tracked in self._tracked_weights(name, module)]
        self.steps: list[_Step] = []
        self._handles = []
        self._snapshots = {}
        self._generator = torch.Generator().manual_seed(0)
        self._dead_since_start = {}
        self._forward_order = []  # layer names in the order the forward pass first ran them
        self._last_gradient_step = None  # index of the latest step that received gradients
        self._steps_with_samples = set()
        #: Where the first NaN/inf appeared in a forward pass (a ``NonFinite``), or None.
        self.first_nonfinite: NonFinite | None = None
        self._batch_norms = [module for module in model.modules()
                             if isinstance(module, nn.modules.batchnorm._BatchNorm)]
        self._grad_forwards = 0  # forward passes of the model with autograd on
        self._input_seen = False  # this step's first layer with weights recorded its input
        #: {ReLU layer: (step, steps in a row each unit was inactive, steps seen)}
        self._recent_dead: dict[str, tuple[int, torch.Tensor, int]] = {}
        self._pending: list[tuple[str, torch.Tensor, torch.Tensor]] = []

    @staticmethod
    def _tracked_weights(name: str, module: nn.Module) -> list[_Tracked]:
        """The weights of one module to follow: one per layer of a stacked recurrent module."""
        kind = kind_of(module)
        if kind.weight is None:
            return []
        size = _stack_size(module, kind)
        return [_Tracked(name if size == 1 else f"{name}.l{layer}", kind.name,
                         kind.weight(module, layer),
                         kind.bias(module, layer) if kind.bias is not None else None,
                         None if size == 1 else layer)
                for layer in range(size)]

    # --- hooks ---------------------------------------------------------------------

    def __enter__(self) -> GradFlow:
        if self._handles:
            raise RuntimeError("This GradFlow is already watching the model; use it in one "
                               "`with` block at a time.")
        self._handles.append(self.model.register_forward_pre_hook(self._start_step))
        for name, module in self.watched:
            self._handles.append(module.register_forward_hook(self._forward_hook(name, module)))
        for name, module in self.model.named_modules():
            if module is not self.model and next(module.children(), None) is None \
                    and not isinstance(module, _KEEPS_FINITE):
                self._handles.append(module.register_forward_hook(
                    self._finite_hook(name, root=False)))
        self._handles.append(self.model.register_forward_hook(
            self._finite_hook(self._root_name(), root=True)))
        for tracked in self._tracked:
            for tensor, field_name in ((tracked.weight, "weight"), (tracked.bias, "bias")):
                if tensor is not None and tensor.requires_grad:  # frozen: no gradient
                    self._handles.append(tensor.register_post_accumulate_grad_hook(
                        self._parameter_grad_hook(tracked, field_name)))
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_step))
        return self

    def __exit__(self, *exc: object) -> bool:
        self.close()
        return False

    def close(self) -> None:
        """Remove every hook this object added (also done on leaving ``with``)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _batch_norm_training(self) -> bool | None:
        """True when any batch-norm layer is in training mode, False when all are in eval
        mode, None when the model has none."""
        if not self._batch_norms:
            return None
        return any(module.training for module in self._batch_norms)

    def _start_step(self, module: nn.Module, inputs: tuple) -> None:
        grad_enabled = torch.is_grad_enabled()
        self._grad_forwards += grad_enabled
        self._input_seen = False
        self._pending = []
        self.steps.append(_Step(training=self.model.training, grad_enabled=grad_enabled,
                                batch_norm_training=self._batch_norm_training()))
        if self.keep_samples is True:
            self._drop_old_samples()

    def _drop_old_samples(self) -> None:
        """Forget the samples of every step but the newest and the latest with gradients."""
        keep = {len(self.steps) - 1, self._last_gradient_step}
        for index in self._steps_with_samples - keep:
            for record in self.steps[index].records.values():
                record.activation_sample = record.gradient_sample = None
        self._steps_with_samples &= keep

    def _record(self, name: str, kind: str, sublayer: int | None = None) -> LayerRecord:
        if not self.steps:
            self.steps.append(_Step())
        step = self.steps[-1]
        if name not in step.records:
            step.records[name] = LayerRecord(name, kind, sublayer=sublayer)
        return step.records[name]

    def _seen(self, name: str) -> None:
        if name not in self._forward_order:
            self._forward_order.append(name)

    def _forward_hook(self, name: str, module: nn.Module) -> Callable:
        kind = kind_of(module)

        def hook(mod, inputs, output):
            if kind.family == "weights" and not self._input_seen:
                self._input_seen = True
                self._record_input(name, module, kind, inputs)
            if kind.name in RECURRENT_KINDS:
                self._recurrent_forward(name, module, kind, output)
                return
            if kind.name == "lstm_cell":
                output, state = output
            else:
                state = None
            if not torch.is_tensor(output):
                raise ValueError(f"GradFlow cannot read the output of {name} "
                                 f"({type(output).__name__}).")
            self._seen(name)
            record = self._record(name, kind.name)
            index, call = len(self.steps) - 1, record._calls
            record._calls += 1
            if output.numel() > 0:
                with torch.no_grad():
                    self._forward_statistics(record, name, kind, inputs, output.detach())
                if self.keep_samples:
                    record.activation_sample = _sample(output, self._generator)
                    self._steps_with_samples.add(index)
            time_call = call if kind.name in CELL_KINDS else None
            for part, tensor in (("output", output), ("cell", state)):
                if torch.is_tensor(tensor) and tensor.requires_grad:
                    tensor.register_hook(self._output_grad_hook(record, index, time_call, part))

        return hook

    def _record_input(self, name: str, module: nn.Module, kind: LayerKind,
                      inputs: tuple) -> None:
        """The mean and spread of the values going into the step's first layer with weights
        (the data, for a plain network): ``input_mean``, ``input_std`` of its record."""
        if inputs and torch.is_tensor(inputs[0]) and inputs[0].is_floating_point() \
                and inputs[0].numel() > 0:
            stacked = kind.name in RECURRENT_KINDS and _stack_size(module, kind) > 1
            record = self._record(f"{name}.l0" if stacked else name, kind.name,
                                  0 if stacked else None)
            with torch.no_grad():
                values = _high_precision(inputs[0])
                if values.numel() > 1:
                    std, mean = torch.std_mean(values)
                    record.input_mean, record.input_std, record.input_norm = torch.stack(
                        [mean, std, values.norm()]).tolist()
                else:
                    record.input_mean, record.input_std = values.item(), 0.0
                    record.input_norm = abs(record.input_mean)

    def _root_name(self) -> str:
        return type(self.model).__name__

    def _finite_hook(self, name: str, root: bool) -> Callable:
        """A forward hook for the first module whose output holds NaN or inf.

        Each module's hook only adds a float64 sum of its output to a list (one small
        kernel; a sum of float32 values in float64 is NaN/inf exactly when a value is);
        the model's own hook, last in the forward pass, checks them all at once, so a
        run pays one synchronisation per forward pass, and nothing after the first hit.
        """

        def hook(module, inputs, output):
            if root and torch.is_tensor(output) and self.steps:
                self.steps[-1].output_is_probability = _is_probability(output)
            if self.first_nonfinite is not None:
                return
            tensors = output if isinstance(output, (tuple, list)) else (output,)
            for tensor in tensors:
                if torch.is_tensor(tensor) and tensor.is_floating_point() \
                        and tensor.numel() > 0:
                    values = tensor.detach()
                    self._pending.append((name, values, values.sum(dtype=torch.float64)))
            if root:
                self._check_pending()
            elif len(self._pending) > 10_000:  # submodules run without the model
                self._check_pending()

        return hook

    def _check_pending(self) -> None:
        """Find the first non-finite output among this forward pass's modules."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        sums = torch.stack([total for _, _, total in pending])
        if bool(torch.isfinite(sums).all()):
            return
        first = int((~torch.isfinite(sums)).nonzero()[0])
        name, values, _ = pending[first]
        if not self.steps:
            self.steps.append(_Step())
        nan = bool(torch.isnan(values).any())
        self.first_nonfinite = NonFinite(
            name, len(self.steps) - 1,
            self._grad_forwards if torch.is_grad_enabled() else None,
            int((~torch.isfinite(values)).sum()), values.numel(), "nan" if nan else "inf")

    def _forward_statistics(self, record: LayerRecord, name: str, kind: LayerKind,
                            inputs: tuple, values: torch.Tensor) -> None:
        if kind.family == "weights":
            return  # the common case (Linear) stays as cheap as possible
        record._add_moments(values)
        if kind.family == "norms" and inputs and torch.is_tensor(inputs[0]):
            record.input_mean, record.input_std = moments(inputs[0])
        if kind.family != "activations":
            return
        if kind.saturation is not None:  # over every call of this step (_count includes it)
            record._saturated += kind.saturation(values) * values.numel()
            record.saturated_fraction = record._saturated / record._count
        if kind.dead_units is not None:
            dead = flags = kind.dead_units(values)
            previous = self._dead_since_start.get(name)
            if previous is not None and previous.shape == dead.shape:
                dead = dead & previous  # dead = zero for every example seen
            self._dead_since_start[name] = dead
            shares = torch.stack([dead.float().mean(), self._recent_dead_share(name, flags)])
            record.dead_fraction, record.recent_dead_fraction = shares.tolist()  # one sync

    def _recent_dead_share(self, name: str, flags: torch.Tensor) -> torch.Tensor:
        """The share of units inactive in every call of the last ``DEAD_WINDOW`` steps (of
        every step so far, before that many): a count per unit of the steps in a row it
        was inactive, reset when it fires."""
        index = len(self.steps) - 1
        state = self._recent_dead.get(name)
        if state is None or state[1].shape != flags.shape:
            since, seen = flags.to(torch.int32), 1
        elif state[0] == index:  # another call in the same step: active now resets it
            since, seen = torch.where(flags, state[1], 0), state[2]
        else:
            since, seen = torch.where(flags, state[1] + 1, 0), state[2] + 1
        self._recent_dead[name] = (index, since, seen)
        return (since >= min(DEAD_WINDOW, seen)).float().mean()

    def _output_grad_hook(self, record: LayerRecord, index: int, call: int | None,
                          part: str) -> Callable:
        def hook(grad):
            if grad is None:  # an output the loss does not use
                return
            self._last_gradient_step = index
            norm = _norm(grad)
            record._add_output_gradient(norm)
            if call is not None and part == "output":  # a cell: one call per time step
                norms = record.time_grad_norms = record.time_grad_norms or []
                norms.extend([None] * (call + 1 - len(norms)))
                norms[call] = norm
            if self.keep_samples and part == "output":
                record.gradient_sample = _sample(grad, self._generator)
                self._steps_with_samples.add(index)

        return hook

    def _recurrent_forward(self, name: str, module: nn.Module, kind: LayerKind,
                           output: Any) -> None:
        """Hooks on everything a recurrent layer returns: the output sequence and h_n (c_n).

        A classifier may read only the last output, only h_n, or both; the layer's
        output gradient is the norm of the gradient reaching all of them together. In
        a stack of layers the output sequence is the top layer's and h_n, c_n hold one
        slice per layer.
        """
        output, state = output
        if not torch.is_tensor(output):
            raise ValueError(f"GradFlow cannot read the output of {name} "
                             f"({type(output).__name__}); packed sequences are not supported.")
        size = module.num_layers
        names = [name] if size == 1 else [f"{name}.l{layer}" for layer in range(size)]
        index = len(self.steps) - 1
        records = []
        for layer, layer_name in enumerate(names):
            self._seen(layer_name)
            records.append(self._record(layer_name, kind.name, None if size == 1 else layer))
        for record in records:
            record.grad_parts = {}
        top = records[-1]
        if self.keep_samples and output.numel() > 0:
            top.activation_sample = _sample(output, self._generator)
            self._steps_with_samples.add(index)
        if output.requires_grad:
            output.register_hook(self._recurrent_grad_hook(top, index, "output",
                                                           module.batch_first))
        directions = 2 if module.bidirectional else 1
        states = state if isinstance(state, tuple) else (state,)
        for number, tensor in enumerate(states):
            if torch.is_tensor(tensor) and tensor.requires_grad:
                tensor.register_hook(self._state_grad_hook(records, index, f"state{number}",
                                                           directions))

    def _recurrent_grad_hook(self, record: LayerRecord, index: int, part: str,
                             batch_first: bool) -> Callable:
        def hook(grad):
            if grad is None:  # an output the loss does not use: no gradient reaches it
                return
            self._last_gradient_step = index
            self._set_part(record, part, _norm(grad), top=True)
            if grad.dim() == 3:  # ‖∂L/∂h_t‖ for every time step t, from above
                time_dim = 1 if batch_first else 0
                other_dims = tuple(d for d in range(3) if d != time_dim)
                record.time_grad_norms = _high_precision(grad).norm(dim=other_dims).cpu().tolist()
            if self.keep_samples:
                record.gradient_sample = _sample(grad, self._generator)
                self._steps_with_samples.add(index)

        return hook

    def _state_grad_hook(self, records: list[LayerRecord], index: int, part: str,
                         directions: int) -> Callable:
        def hook(grad):
            if grad is None:
                return
            self._last_gradient_step = index
            for layer, record in enumerate(records):  # h_n: (layers · directions, batch, hidden)
                self._set_part(record, part, _norm(grad[layer * directions:
                                                        (layer + 1) * directions]),
                               top=layer == len(records) - 1)

        return hook

    @staticmethod
    def _set_part(record: LayerRecord, part: str, norm: float, top: bool) -> None:
        """Store the gradient norm of one output of a recurrent layer and update the totals.

        Only the top layer of a multi-layer module returns the output sequence, so only
        its record has an output gradient (its sequence and its slices of h_n, c_n); a
        lower layer's output feeds the next layer inside the module and is not seen
        (``utils.nets.RecurrentStack`` makes each layer a module of its own).
        """
        record.grad_parts[part] = norm
        states = [value for key, value in record.grad_parts.items() if key != "output"]
        record.state_grad_norm = math.hypot(*states) if states else None
        if top:
            record.output_grad_norm = math.hypot(*record.grad_parts.values())

    def _parameter_grad_hook(self, tracked: _Tracked, field_name: str) -> Callable:
        def hook(parameter):
            record = self._record(tracked.name, tracked.kind, tracked.sublayer)
            self._last_gradient_step = len(self.steps) - 1
            if field_name == "weight":
                record.weight_grad_norm = _norm(parameter.grad)
                record.weight_norm = _norm(parameter)
            else:
                record.bias_grad_norm = _norm(parameter.grad)

        return hook

    def _before_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if self.steps:
            self.steps[-1].stepped_in = (self.model.training, self._batch_norm_training())
        self._snapshots = {tracked.name: tracked.weight.detach().clone()
                           for tracked in self._tracked if tracked.weight is not None}

    def _after_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        for tracked in self._tracked:
            if tracked.name in self._snapshots:
                before = self._snapshots[tracked.name]
                change = _norm(tracked.weight.detach() - before)
                record = self._record(tracked.name, tracked.kind, tracked.sublayer)
                record.update_ratio = change / max(_norm(before), 1e-300)
        self._snapshots = {}

    # --- results -------------------------------------------------------------------

    def _step_index(self, step: int | None) -> int:
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

    @staticmethod
    def _check_kind(kind: str | None) -> None:
        if kind is not None and kind not in LAYER_FILTERS:
            raise ValueError(f"kind must be None or one of {', '.join(LAYER_FILTERS)}; got "
                             f"{kind!r}.")

    def _ordered(self, records: dict[str, LayerRecord], kind: str | None) -> list[LayerRecord]:
        """The records in forward order (then any never reached forward), filtered by kind."""
        ordered = [records[name] for name in self._forward_order if name in records]
        ordered += [record for name, record in records.items() if name not in self._forward_order]
        if kind in FAMILIES:
            return [r for r in ordered if family_of(r.kind) == kind]
        if kind is not None:
            return [r for r in ordered if r.kind == kind]
        return ordered

    def layers(self, step: int | None = None, kind: str | None = None) -> list[LayerRecord]:
        """The records of one step, in the order the forward pass first reached the layers
        (input to output; default: the last step with gradients, so an evaluation pass
        after ``backward()`` does not hide them).

        ``kind`` filters: a family (``"weights"``, ``"norms"``, ``"residual"``,
        ``"activations"``) or a single kind such as ``"tanh"`` (see ``LAYER_FILTERS``).
        """
        self._check_kind(kind)
        return self._ordered(self.steps[self._step_index(step)].records, kind)

    def weight_grad_norms(self, step: int | None = None) -> dict[str, float | None]:
        """{layer name: ‖∂L/∂W‖} for the layers with weights, input to output."""
        return {r.name: r.weight_grad_norm for r in self.layers(step, "weights")}

    def output_grad_norms(self, step: int | None = None,
                          kind: str | None = "weights") -> dict[str, float | None]:
        """{layer name: ‖∂L/∂z‖}, the gradient reaching each layer's output, input to output.

        ``kind`` as in ``layers`` (default: the layers with weights; ``"activations"``
        gives the gradient at each activation's output, ``None`` every layer).
        """
        return {r.name: r.output_grad_norm for r in self.layers(step, kind)}

    def series(self, field_name: str, kind: str | None = None,
               with_gradients: bool = False) -> dict[str, list[float]]:
        """{layer name: [the field's value at each step where it was recorded]}.

        ``field_name`` is a number field of ``LayerRecord`` (one of ``SERIES_FIELDS``, e.g.
        ``"output_grad_norm"``, ``"update_ratio"``, ``"act_std"``, ``"dead_fraction"``);
        ``kind`` filters as in ``layers``. Steps where the layer has no value (an
        evaluation pass has no gradients) are left out; ``with_gradients=True`` keeps
        only the steps that received gradients (the training steps), also for
        forward statistics such as ``act_std``.
        """
        if field_name not in SERIES_FIELDS:
            raise ValueError(f"field_name must be one of {', '.join(SERIES_FIELDS)}; got "
                             f"{field_name!r}.")
        self._check_kind(kind)
        checks.boolean("with_gradients", with_gradients)
        values = {}
        for step in self.steps:
            records = self._ordered(step.records, kind)
            if with_gradients and not any(r.output_grad_norm is not None
                                          or r.weight_grad_norm is not None for r in records):
                continue
            for record in records:
                value = getattr(record, field_name)
                if value is not None:
                    values.setdefault(record.name, []).append(value)
        return values

    def update_ratios(self, kind: str | None = None) -> dict[str, list[float]]:
        """{layer name: [‖Δw‖/‖w‖ at each optimizer step]} (needs ``optimizer=``)."""
        return self.series("update_ratio", kind)

    def table(self, step: int | None = None) -> str:
        """A plain-text table of one step's statistics."""
        lines = [f"{'layer':24s} {'kind':10s} {'act mean':>9s} {'act std':>8s} {'sat %':>6s} "
                 f"{'dead %':>6s} {'|dL/dW|':>9s} {'|dL/dout|':>9s}"]

        def fmt(value, spec):
            width = int(spec.split(".")[0])
            return format(value, spec) if value is not None else "–".rjust(width)

        for r in self.layers(step):
            saturated = None if r.saturated_fraction is None else 100 * r.saturated_fraction
            dead = None if r.dead_fraction is None else 100 * r.dead_fraction
            lines.append(
                f"{r.name:24s} {r.kind:10s} {fmt(r.act_mean, '9.3f')} {fmt(r.act_std, '8.3f')} "
                f"{fmt(saturated, '6.1f')} {fmt(dead, '6.1f')} "
                f"{fmt(r.weight_grad_norm, '9.2e')} {fmt(r.output_grad_norm, '9.2e')}")
        return "\n".join(lines)


def _is_lstm(rnn: nn.Module) -> bool:
    """An nn.LSTM or a RecurrentStack of LSTMs (whose state is a pair (h, c))."""
    return isinstance(rnn, nn.LSTM) or getattr(rnn, "kind", None) == "lstm"


def _initial_state(rnn: nn.Module, inputs: torch.Tensor) -> Any:
    """Zero initial state (what nn.RNN/GRU/LSTM use by default) that tracks gradients, so
    the hidden states form a graph even when the layer's weights are frozen."""
    batch = inputs.shape[0 if rnn.batch_first else 1]
    hidden = getattr(rnn, "proj_size", 0) or rnn.hidden_size
    options = {"dtype": inputs.dtype, "device": inputs.device, "requires_grad": True}
    h0 = torch.zeros(rnn.num_layers, batch, hidden, **options)
    if _is_lstm(rnn):
        return h0, torch.zeros(rnn.num_layers, batch, rnn.hidden_size, **options)
    return h0


@dataclass
class StateGradients:
    """What ``hidden_state_gradients`` measured, one value per time step, first to last.

    ``hidden``: ‖∂L/∂h_t‖; ``cell``: ‖∂L/∂c_t‖ for an LSTM (the cell state, the
    constant-error carousel), None for an RNN or a GRU. Both are of the top layer.
    """

    hidden: list[float]
    cell: list[float] | None = None


def _check_sequence_inputs(rnn: nn.Module, inputs: Any) -> int:
    """Check the inputs of ``hidden_state_gradients``; return the time dimension."""
    if not torch.is_tensor(inputs) or inputs.dim() != 3:
        raise ValueError("inputs must be a 3-D tensor (batch, time, features) with "
                         "batch_first=True, or (time, batch, features) otherwise; got "
                         f"{checks.describe(inputs)}.")
    if not inputs.is_floating_point():
        raise ValueError(f"inputs must be a floating-point tensor, got {inputs.dtype}.")
    if inputs.shape[2] != rnn.input_size:
        raise ValueError(f"inputs has {inputs.shape[2]} features per time step (shape "
                         f"{tuple(inputs.shape)}), but rnn expects input_size={rnn.input_size}.")
    time_dim = 1 if rnn.batch_first else 0
    if inputs.shape[1 - time_dim] == 0 or inputs.shape[time_dim] == 0:
        raise ValueError(f"inputs is empty (shape {tuple(inputs.shape)}): need at least one "
                         "example and one time step.")
    return time_dim


def hidden_state_gradients(rnn: nn.Module, inputs: torch.Tensor,
                           loss_of_last_state: Callable[[torch.Tensor], torch.Tensor]
                           ) -> StateGradients:
    """‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for an LSTM) for every time step t, back through time.

    The recurrent layer ``rnn`` (a one-directional nn.RNN, nn.GRU or nn.LSTM, any
    number of layers, or a ``utils.nets.RecurrentStack``) is run one step at a time
    on ``inputs`` (batch, time, features) — (time, batch, features) without
    ``batch_first`` — so that every
    hidden state h_t (and cell state c_t) is a tensor whose gradient can be read;
    ``loss_of_last_state`` maps the top layer's last hidden state (batch, hidden) to
    a scalar loss. Returns a ``StateGradients`` of the top layer, first time step to
    last. The parameters' ``.grad`` are left as they were.
    """
    if not isinstance(rnn, (*RECURRENT_LAYERS, RecurrentStack)):
        raise ValueError(f"hidden_state_gradients needs nn.RNN, nn.GRU, nn.LSTM or a "
                         f"utils.nets.RecurrentStack as rnn, got {checks.describe(rnn)}.")
    if rnn.bidirectional:
        raise ValueError("rnn is bidirectional: its backward direction reads the sequence from "
                         "the end, so running it one step at a time would measure a different "
                         "network. Pass a one-directional layer (bidirectional=False).")
    checks.function("loss_of_last_state", loss_of_last_state, example="lambda h: h.sum()")
    time_dim = _check_sequence_inputs(rnn, inputs)
    lstm = _is_lstm(rnn)
    with torch.enable_grad():
        state, hidden_states, cell_states = _initial_state(rnn, inputs), [], []
        for x_t in inputs.unbind(dim=time_dim):
            _, state = rnn(x_t.unsqueeze(time_dim), state)
            hidden_states.append(state[0] if lstm else state)
            if lstm:
                cell_states.append(state[1])
        loss = loss_of_last_state(hidden_states[-1][-1])
        if not torch.is_tensor(loss) or loss.numel() != 1:
            raise ValueError("loss_of_last_state must return a single number (a one-element "
                             f"tensor), got {checks.describe(loss)}.")
        # autograd.grad, not backward(): the parameters' .grad stay untouched. A state the
        # loss does not reach (c_T of the last step) gets a zero gradient.
        gradients = torch.autograd.grad(loss.reshape(()), hidden_states + cell_states,
                                        allow_unused=True, materialize_grads=True)
    norms = [_norm(gradient[-1]) for gradient in gradients]
    steps = len(hidden_states)
    return StateGradients(norms[:steps], norms[steps:] if lstm else None)


def check_batch(batch: Any, argument: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch: a pair (x, y) of non-empty tensors, as a tuple or a list, or a ValueError
    naming ``argument``. (x may be time-major, so its rows are not compared with y's:
    the loss function checks that.)"""
    x, y = checks.tensor_pair(argument, batch)
    if x.numel() == 0 or y.numel() == 0:
        raise ValueError(f"{argument} is an empty batch (x of shape {tuple(x.shape)}, y of shape "
                         f"{tuple(y.shape)}); give it real data.")
    return x, y


def measure_overhead(model: nn.Module, optimizer: torch.optim.Optimizer,
                     batch: tuple[torch.Tensor, torch.Tensor], repeats: int = 20,
                     loss_fn: Callable | None = None) -> tuple[float, float]:
    """Seconds per training step without and with ``GradFlow`` (best of 3 rounds each).

    ``batch`` is one pair (x, y); ``loss_fn(output, y)`` defaults to cross-entropy.
    It trains ``model`` for 6 × ``repeats`` steps: use a throwaway model.
    """
    import time

    checks.module("model", model, example=" (a network)")
    _check_optimizer(optimizer, model)
    checks.whole_number("repeats", repeats)
    if loss_fn is not None:
        checks.function("loss_fn", loss_fn, example="nn.functional.cross_entropy")
    loss_fn = loss_fn or nn.functional.cross_entropy
    x, y = check_batch(batch, "batch")

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
