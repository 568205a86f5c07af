"""Diagnosis: name what the gradients show, in plain words, with the notebook that teaches
the fix.

Two entry points, both returning a ``Diagnosis`` whose ``findings`` are ``Finding``
objects (condition, layer, value, sentence, the lessons that teach the fix, taken
from ``utils.course.CURRICULUM``):

- ``diagnose(model, (x, y))``: one or a few batches at the model's current weights
  (vanishing, exploding, saturated, dead units, inputs or weights that are not
  finite). It leaves the model exactly as it found it.
- ``diagnose_run(history, flow)``: a whole training run, from the ``History`` of
  ``utils.train.train`` (diverged, not learning, gradient spikes) and/or the
  ``GradFlow`` that watched it (vanishing or exploding over the steps, saturated,
  dead units, layers whose updates are far below the rule of thumb).

The conditions and their lessons are in ``CONDITIONS``; the thresholds are the
constants below, each with its reason.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from utils import checks
from utils.course import Lesson, lesson
from utils.gradflow import (
    DEAD_WINDOW,
    RECURRENT_LAYERS,
    UPDATE_RATIO_RULE_OF_THUMB,
    GradFlow,
    check_batch,
)

if TYPE_CHECKING:
    from utils.train import History

#: Every condition a diagnosis can name: (what it is, the notebooks that teach the fix).
CONDITIONS = {
    "vanishing": ("vanishing gradients", (4, 5, 6, 8)),
    "exploding": ("exploding gradients", (5, 10)),
    "saturated": ("saturated sigmoid or tanh units", (4, 5, 6)),
    "dead": ("dead ReLU units", (4,)),
    "bad_inputs": ("inputs or targets that are NaN/inf", (1,)),
    "bad_weights": ("weights that are NaN/inf", (5, 10)),
    "diverged": ("a loss that became NaN/inf during training", (1, 10)),
    "not_learning": ("a training loss that barely falls", (3, 4, 5, 6, 8)),
    "gradient_spikes": ("sudden jumps of the gradient norm", (10,)),
    "slow_layer": ("a layer whose updates are far too small", (4, 5, 6, 7)),
    "guessing": ("a training loss stuck at ln C: uniform predictions", (1, 4, 5, 11)),
    "lr_too_high": ("a learning rate far too high", (1, 7, 10)),
    "lr_too_low": ("a learning rate far too low", (1, 7)),
    "bn_mode": ("batch norm in the wrong mode (train() vs eval())", (6,)),
    "clipping_always": ("gradient clipping that fires on most steps", (10,)),
    "clipping_never": ("gradient clipping that never fires", (10,)),
    "accumulating": ("gradients that add up over the steps: a missing zero_grad()", (1, 11)),
    "unscaled_inputs": ("inputs far from zero mean and unit spread", (1, 4, 11)),
    "loss_floor": ("a softmax before a loss that applies its own", (11,)),
}
VANISHING_RATIO = 1e-3  # first-layer / last-layer gradient norm below this: vanishing
EXPLODING_RATIO = 1e3  # ... above this: exploding
SATURATED_LIMIT = 0.5  # a layer with more than half of its values saturated
DEAD_LIMIT = 0.5  # a layer with more than half of its units dead
#: A run whose loss at the end is above this share of the loss at the start "barely falls".
NOT_LEARNING_SHARE = 0.9
#: A step whose total gradient norm is this many times the run's median is a spike.
SPIKE_FACTOR = 10.0
#: A layer whose median update ratio is this far (100×) below the rule of thumb is slow.
SLOW_UPDATE_RATIO = UPDATE_RATIO_RULE_OF_THUMB / 100


def lessons_for(condition: str) -> tuple[Lesson, ...]:
    """The lessons (``utils.course.Lesson``) that teach the fix of a condition of
    ``CONDITIONS``."""
    checks.one_of("condition", condition, CONDITIONS)
    return tuple(lesson(number) for number in CONDITIONS[condition][1])


def _see(condition: str) -> str:
    """'See notebook 04 (Activation functions) and 05 (…).' for a condition."""
    names = [f"{item.label} ({item.title})" for item in lessons_for(condition)]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"See notebook{'s' if len(names) > 1 else ''} {listed}."


@dataclass(frozen=True)
class Finding:
    """One thing a diagnosis found.

    ``condition`` is a key of ``CONDITIONS``; ``layer`` the layer it was seen in (None
    when it concerns the whole network or run); ``value`` the measurement behind it
    (a ratio, a share, a norm; None when there is none); ``sentence`` says it in plain
    words and ends with the notebooks to see; ``lessons`` are those notebooks.
    """

    condition: str
    sentence: str
    layer: str | None = None
    value: float | None = None
    lessons: tuple[Lesson, ...] = ()

    @property
    def lesson(self) -> Lesson | None:
        """The first notebook that teaches the fix (None when there is none)."""
        return self.lessons[0] if self.lessons else None

    def __repr__(self) -> str:
        where = f" at {self.layer}" if self.layer else ""
        value = f" ({self.value:.3g})" if self.value is not None else ""
        return f"Finding({self.condition}{where}{value}: {self.sentence})"


def _finding(condition: str, sentence: str, layer: str | None = None,
             value: float | None = None) -> Finding:
    """A Finding whose sentence ends with the notebooks that teach the fix."""
    return Finding(condition, f"{sentence} {_see(condition)}", layer, value,
                   lessons_for(condition))


@dataclass
class Diagnosis:
    """What ``diagnose`` or ``diagnose_run`` found: ``Finding`` objects and the measurements.

    ``gradient_ratio`` (‖∂L/∂z‖ at the first layer with weights / at the last; for a
    run, the median over its training steps) is NaN when it could not be measured
    (the notes say why); such a diagnosis is not ``healthy`` even when it found
    nothing.
    """

    findings: list[Finding]
    gradient_ratio: float
    flow: GradFlow | None
    notes: list[str] = field(default_factory=list)  # what the diagnosis could not look at
    #: The numbers behind a run's findings (``diagnose_run``): e.g. ``final_loss``,
    #: ``ln_classes``, ``update_ratio``, ``dead_end``, ``input_scale``, ``clipped_share``.
    measurements: dict[str, float] = field(default_factory=dict)

    @property
    def conditions(self) -> list[str]:
        """The names of the conditions found, e.g. ``["vanishing", "saturated"]``."""
        return [finding.condition for finding in self.findings]

    @property
    def healthy(self) -> bool:
        """No problem found, and the gradient ratio was measured."""
        return not self.findings and math.isfinite(self.gradient_ratio)

    def __repr__(self) -> str:
        if self.healthy:
            activations = ("no saturated or dead layer among the activation modules."
                           if self.flow is not None and _has_activations(self.flow)
                           else "no activation modules to check (see the note).")
            lines = ["Diagnosis: no problem found. Gradient reaching the first / the last layer "
                     f"= {self.gradient_ratio:.2g} (healthy range {VANISHING_RATIO:g} to "
                     f"{EXPLODING_RATIO:g}); {activations}"]
        elif not self.findings:
            lines = ["Diagnosis: no problem found in what could be checked, but the gradient "
                     "ratio between the first and the last layer was not measured (see the "
                     "notes), so this is not a clean bill of health."]
        else:
            lines = ["Diagnosis:"] + [f"- {finding.sentence}" for finding in self.findings]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def summary(self) -> str:
        """One line per finding: the condition, where, the measured value and the notebooks
        that teach the fix (a table a learner can scan; ``repr`` has the full sentences)."""
        if not self.findings:
            return ("no problem found" if self.healthy else
                    "no problem found in what could be checked (see the notes)")
        rows = [("condition", "where", "measured", "what it is", "fix: notebooks")]
        for finding in self.findings:
            value = "–" if finding.value is None else f"{finding.value:.3g}"
            rows.append((finding.condition, finding.layer or "whole run", value,
                         CONDITIONS[finding.condition][0],
                         ", ".join(item.label for item in finding.lessons)))
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                         for row in rows)


# --- one batch: diagnose ------------------------------------------------------------------


def _batches_of(data: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``data`` as a list of checked batches: one pair (x, y), or a list of such pairs."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return [check_batch(data, "data")]
    if torch.is_tensor(data) or isinstance(data, (str, bytes, dict)) \
            or not hasattr(data, "__iter__"):
        raise ValueError("data must be one batch (x, y) of tensors, or a list of such batches; "
                         f"got {checks.describe(data)}.")
    batches = list(data)
    if not batches:
        raise ValueError("diagnose needs at least one batch (x, y) in data.")
    return [check_batch(batch, f"data[{i}]") for i, batch in enumerate(batches)]


def _not_finite(tensor: torch.Tensor) -> int:
    """How many values of a tensor are NaN or infinite (0 for integer tensors)."""
    if not tensor.is_floating_point():
        return 0
    return int((~torch.isfinite(tensor)).sum())


def _bad_data(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> Finding | None:
    """A finding when some input or target is NaN or infinite, else None."""
    for i, (x, y) in enumerate(batches):
        for what, tensor in (("inputs", x), ("targets", y)):
            count = _not_finite(tensor)
            if count:
                return _finding("bad_inputs", f"The {what} contain NaN/inf: {count:,} of "
                                f"{tensor.numel():,} values in batch {i + 1}. Every gradient "
                                "would be NaN, so nothing else was checked. Fix the data first "
                                "(e.g. a division by a zero standard deviation when scaling).",
                                value=float(count))
    return None


def _bad_weights(model: nn.Module) -> Finding | None:
    """A finding when some parameter of the model is NaN or infinite, else None."""
    broken = [name for name, parameter in model.named_parameters() if _not_finite(parameter)]
    if broken:
        more = f" and {len(broken) - 1} more" if len(broken) > 1 else ""
        return _finding("bad_weights", f"The model's parameters already contain NaN/inf "
                        f"({broken[0]}{more}): an earlier update blew up. Re-initialise first.",
                        layer=broken[0], value=float(len(broken)))
    return None


@dataclass
class _SavedState:
    """Everything about a model that running it forward and backward could change."""

    modes: list  # (module, training flag)
    values: list  # (parameter or buffer, a copy of its values)
    grads: list  # (parameter, its .grad tensor or None)
    requires_grad: list  # (parameter, flag)


def _save_state(model: nn.Module) -> _SavedState:
    return _SavedState(
        modes=[(module, module.training) for module in model.modules()],
        values=[(t, t.detach().clone()) for t in (*model.parameters(), *model.buffers())],
        grads=[(p, p.grad) for p in model.parameters()],
        requires_grad=[(p, p.requires_grad) for p in model.parameters()])


def _restore_state(saved: _SavedState) -> None:
    for module, training in saved.modes:
        module.training = training
    with torch.no_grad():
        for tensor, copy in saved.values:
            tensor.copy_(copy)
    for parameter, grad in saved.grads:
        parameter.grad = grad
    for parameter, flag in saved.requires_grad:
        parameter.requires_grad_(flag)


def _run_batches(model: nn.Module, batches: list, loss_fn: Any,
                 device: torch.device) -> Finding | None:
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
                             f"{checks.describe(loss)}.")
        if not torch.isfinite(loss):
            return _finding("exploding", f"The loss is {loss.item()} although the inputs and "
                            "weights are finite: the forward pass overflowed.",
                            value=loss.item())
        loss.reshape(()).backward()
    return None


def _ratio_of(records: list) -> tuple[float, list[str]]:
    """‖∂L/∂z‖ at the first / at the last layer with weights in one step's records, and
    notes on what was missing, including the lower layers of a multi-layer recurrent
    module, whose output gradient no hook can read."""
    inside = [r.name for r in records if r.sublayer is not None and r.output_grad_norm is None]
    weights = [r for r in records if r.name not in inside]
    seen = [r for r in weights if r.output_grad_norm is not None]
    unseen = [r.name for r in weights if r.output_grad_norm is None]
    notes = []
    if inside:
        notes.append(f"the output gradient of {', '.join(inside)} cannot be read: a lower "
                     "layer of a multi-layer nn.RNN/nn.LSTM/nn.GRU passes its output to the next "
                     "layer inside the module, where no hook reaches it, so it is not in the "
                     "gradient ratio (its weight gradients are recorded). Build the stack with "
                     "utils.nets.make_sequence_model (one module per layer) to read every layer.")
    if unseen:
        notes.append(f"no gradient reached the output of {', '.join(unseen)} (its output does "
                     "not lead to the loss, it ran without autograd, or its weight is used "
                     "without calling the module), so it is not in the gradient ratio.")
    if len(seen) < 2:
        notes.append(f"{len(seen)} layer(s) with weights received a gradient at the output "
                     "(2 are needed): the gradient ratio was not measured.")
        return float("nan"), notes
    if seen[-1].output_grad_norm == 0:
        notes.append(f"the gradient reaching the last layer ({seen[-1].name}) is exactly 0: "
                     "the gradient ratio was not measured.")
        return float("nan"), notes
    return seen[0].output_grad_norm / seen[-1].output_grad_norm, notes


def _ratio_finding(ratio: float, norms: list[float], layer: str | None,
                   over: str = "") -> Finding | None:
    """Vanishing or exploding from the first/last gradient ratio, else None."""
    if any(not math.isfinite(n) for n in norms):
        return _finding("exploding", "Some gradients are infinite or NaN.", layer, math.inf)
    if ratio < VANISHING_RATIO:
        return _finding("vanishing", f"Vanishing gradients: the gradient reaching the first "
                        f"layer is {ratio:.1e} times the one at the last layer{over}, so the "
                        "early layers barely learn.", layer, ratio)
    if ratio > EXPLODING_RATIO:
        return _finding("exploding", f"Exploding gradients: the gradient reaching the first "
                        f"layer is {ratio:.1e} times the one at the last layer{over}; updates "
                        "of the early layers will be huge.", layer, ratio)
    return None


def _activation_findings(records: list) -> list[Finding]:
    """Saturated and dead layers among one step's activation records."""
    findings = []
    saturated = [r for r in records
                 if r.saturated_fraction is not None and r.saturated_fraction > SATURATED_LIMIT]
    if saturated:
        first = saturated[0]
        more = len(saturated) - 1
        others = f" (and {more} more layer{'s' if more > 1 else ''})" if more else ""
        findings.append(_finding(
            "saturated", f"Saturation: {100 * first.saturated_fraction:.0f}% of the values of "
            f"{first.name}{others} sit in the flat parts of the {first.kind}, where its slope "
            "is nearly 0.", first.name, first.saturated_fraction))
    dead = [r for r in records if r.dead_fraction is not None and r.dead_fraction > DEAD_LIMIT]
    if dead:
        record = dead[0]
        findings.append(_finding(
            "dead", f"Dead units: {100 * record.dead_fraction:.0f}% of the units of "
            f"{record.name} are zero for every example seen. A dead unit passes no gradient "
            "back through itself, so its own weights and bias stop changing (apart from "
            "momentum or weight decay); it comes back only if the layers below it change "
            "enough to make its input positive for some example.", record.name,
            record.dead_fraction))
    return findings


def _first_seen(records: list) -> str | None:
    seen = [r.name for r in records if r.output_grad_norm is not None]
    return seen[0] if seen else None


def diagnose(model: nn.Module, data: Any,
             loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
             ) -> Diagnosis:
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
        checks.function("loss_fn", loss_fn, example="nn.functional.cross_entropy")
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
    weights = flow.layers(kind="weights")
    ratio, notes = _ratio_of(weights)
    norms = [r.output_grad_norm for r in weights if r.output_grad_norm is not None]
    finding = overflow or _ratio_finding(ratio, norms, _first_seen(weights))
    findings = ([finding] if finding else []) + _activation_findings(
        flow.layers(kind="activations"))
    notes += _coverage_notes(model, flow)
    return Diagnosis(findings, ratio, flow, notes)


def _has_activations(flow: GradFlow) -> bool:
    """Whether the flow recorded any activation module (saturation and dead units checked)."""
    return any(record.family == "activations" for step in flow.steps
               for record in step.records.values())


def _coverage_notes(model: nn.Module, flow: GradFlow) -> list[str]:
    """What a diagnosis of this model cannot see."""
    notes = []
    if any(isinstance(module, RECURRENT_LAYERS) for module in model.modules()):
        notes.append("the ratio compares layers, not time steps; to see the gradient vanish "
                     "back through time, use hidden_state_gradients (notebook 09).")
    if not _has_activations(flow):
        notes.append("no activation modules found (functions such as torch.sigmoid inside "
                     "forward are invisible to hooks), so saturation and dead units were not "
                     "checked.")
    return notes


# --- a training run: diagnose_run ---------------------------------------------------------

#: The loss at the end (median of the last tenth of the steps) within this share of ln C is
#: "guessing": uniform predictions give exactly ln C. Healthy digits runs end near 0.1
#: (0.04 ln C); a net whose units all died sits at 2.30 = ln 10 (within 0.1%).
GUESSING_BAND = 0.1
#: A run whose median update ratio ‖ΔW‖/‖W‖ (the median over the layers at each step, then
#: over the steps) is above this — 100 times the 1e-3 rule of thumb — moves each weight
#: matrix by more than 10% of its size every step: the learning rate is far too high.
#: (Measured on the digits, 10 seeds: healthy runs 0.0016 to 0.011, SGD at lr 10 above 1e3.)
LR_HIGH_RATIO = 100 * UPDATE_RATIO_RULE_OF_THUMB
#: ... below this (1/10 of the rule of thumb) for every layer, even the fastest: far too low
#: (healthy runs: the fastest layer's median above 1e-3).
LR_LOW_RATIO = UPDATE_RATIO_RULE_OF_THUMB / 10
#: A diverged run whose first/last gradient ratio stayed within this factor of 1 had a
#: flat gradient profile: the architecture passes gradients, the step size blew it up.
FLAT_PROFILE = 10.0
#: Clipping that fires on more than this share of the steps is not a safety net but a
#: second learning rate (threshold too low, or the learning rate too high).
CLIP_ALWAYS_SHARE = 0.5
#: Clipping that fires on none of at least this many steps does nothing.
CLIP_MIN_STEPS = 20
#: Gradients that add up (no zero_grad()): the total gradient norm grows steadily with the
#: step count. Steadily: its rank correlation with the step number is above this (1.00 on
#: every seed of a digits run without zero_grad(); healthy runs at most 0.70) ...
ACCUMULATION_RANK = 0.9
#: ... and it grew this many times from the first tenth of the steps to the last (without
#: zero_grad(): 14 or more; healthy runs at most 2.2) ...
ACCUMULATION_GROWTH = 5.0
#: ... and, when the first layer with weights is a Linear layer, its weight gradient broke
#: the bound ‖∂L/∂W‖ ≤ ‖∂L/∂z‖·‖x‖ (∂L/∂W = ∂L/∂zᵀ x) by more than this factor on some
#: step: impossible for a gradient cleared before the step (a loss term on W itself, such
#: as an L2 penalty, could do it too); the 1% covers rounding. Measured over 10 seeds:
#: healthy runs at most 0.93, runs without zero_grad() at least 1.5. An exploding RNN's
#: gradient also grows steadily, but never breaks the bound.
ACCUMULATION_EXCESS = 1.01
#: Inputs whose scale √(mean² + std²) is above this (z-scored inputs: about 1; raw pixel
#: values 0-16: about 7.7) or below ``UNSCALED_LOW`` are not standardised.
UNSCALED_HIGH = 3.0
UNSCALED_LOW = 0.05
#: A run whose model output was probabilities (rows ≥ 0 summing to 1) on more than this
#: share of its training steps has a softmax before the loss.
PROBABILITY_SHARE = 0.9


def _tail(values: list[float]) -> list[float]:
    """The last tenth (at least one) of a list."""
    return values[-max(1, len(values) // 10):]


def _head(values: list[float]) -> list[float]:
    """The first tenth (at least one) of a list."""
    return values[:max(1, len(values) // 10)]


def classes_of(flow: GradFlow | None) -> int | None:
    """The number of classes C: the outputs of the last layer with weights the forward
    pass reached (``out_features`` of a Linear), or None."""
    if flow is None or not flow.steps:
        return None
    modules = dict(flow.watched)
    weights = [r for r in flow.layers(kind="weights")]
    if not weights:
        return None
    module = modules.get(weights[-1].name)
    size = getattr(module, "out_features", None)
    return int(size) if isinstance(size, int) and size >= 2 else None


def _step_losses(history: History) -> tuple[list[float], bool]:
    step_loss = list(getattr(history, "step_loss", []) or [])
    return (step_loss, True) if step_loss else (list(history.train_loss or []), False)


def _diverged(history: History | None, flow: GradFlow | None) -> Finding | None:
    """The loss became NaN/inf: when, and where the first non-finite value appeared."""
    step, unit, losses = None, "step", []
    if history is not None:
        losses, per_step = _step_losses(history)
        unit = "step" if per_step else "epoch"
        bad = [i for i, loss in enumerate(losses) if not math.isfinite(loss)]
        if bad:
            step = bad[0] + 1
        elif history.diverged and per_step:
            step = len(losses) + 1  # train() stops before recording the non-finite loss
        if not (history.diverged or bad):
            history = None
    first = flow.first_nonfinite if flow is not None else None
    if history is None and first is None:
        return None
    where = f" at {unit} {step}" if step else ""
    sentence = f"The training loss became NaN/inf{where}: the updates blew up."
    layer = None
    if first is not None:
        at = f" at training step {first.training_step}" if first.training_step else ""
        sentence += (" The first non-finite value appeared in the output of the module "
                     f"'{first.module}'{at} ({first.kind}: {first.count:,} of "
                     f"{first.size:,} values).")
        layer = first.module
        step = step or first.training_step
    elif flow is not None:
        sentence += (" Every module's output was finite in the forward passes the GradFlow "
                     "saw: the loss function itself produced it (a log of 0, a division by "
                     "0), or the step was not watched.")
    sentence += " Lower the learning rate, or clip the gradients."
    return _finding("diverged", sentence, layer, float(step) if step else None)


def _not_learning(losses: list[float], per_step: bool) -> Finding | None:
    if len(losses) < 2:
        return None
    window = max(1, len(losses) // 10)
    start = statistics.median(losses[:window])
    end = min(losses[-window:]) if not per_step else statistics.median(losses[-window:])
    if start > 0 and end > NOT_LEARNING_SHARE * start:
        return _finding(
            "not_learning", f"The training loss barely fell: from {start:.3g} at the start "
            f"to {end:.3g} at the end ({100 * end / start:.0f}%). Look at how the gradient "
            "flows (GradFlow): a vanishing gradient, a learning rate far too small or a "
            "stuck layer are the usual causes.", value=end / start)
    return None


def steps_per_epoch(history: History) -> int | None:
    """How many steps each epoch of a ``utils.train.train`` run took (None when unknown)."""
    steps, epochs = len(getattr(history, "grad_norm", []) or []), len(history.train_loss or [])
    if not epochs or not steps:
        return None
    if not history.diverged:
        return steps // epochs if steps % epochs == 0 else None
    found = re.search(r"epoch (\d+), step (\d+)", history.message or "")
    if found and int(found.group(1)) == epochs + 1 and epochs:
        per_epoch = (steps - int(found.group(2)) + 1) / epochs
        return int(per_epoch) if per_epoch == int(per_epoch) and per_epoch > 0 else None
    return None


def _spikes(history: History) -> Finding | None:
    """The largest gradient norm against the run's median. The last step of each epoch is
    left out: its minibatch may hold only a few rows (1,347 digits in minibatches of 64
    leave 3), whose mean gradient is noisy and large by chance (up to 25 times the median
    in healthy digits runs)."""
    norms = list(getattr(history, "grad_norm", []) or [])
    per_epoch = steps_per_epoch(history)
    candidates = [(i, n) for i, n in enumerate(norms) if math.isfinite(n)
                  and not (per_epoch and (i + 1) % per_epoch == 0)]
    if len(candidates) < 10:
        return None
    median = statistics.median([n for _, n in candidates])
    index, peak = max(candidates, key=lambda pair: pair[1])
    if median > 0 and peak > SPIKE_FACTOR * median:
        step = index + 1
        return _finding(
            "gradient_spikes", f"Gradient spikes: at step {step} the total gradient norm "
            f"reached {peak / median:.0f} times its median over the run (a cliff in the "
            "loss surface). Clipping the gradient's norm limits such steps.",
            value=peak / median)
    return None


def _guessing(history: History, classes: int | None,
              measured: dict[str, float]) -> Finding | None:
    """The loss at the end within ``GUESSING_BAND`` of ln C."""
    losses, _ = _step_losses(history)
    losses = [loss for loss in losses if math.isfinite(loss)]
    if classes is None or not losses:
        return None
    end, chance = statistics.median(_tail(losses)), math.log(classes)
    measured["final_loss"], measured["ln_classes"] = end, chance
    if abs(end - chance) > GUESSING_BAND * chance:
        return None
    return _finding(
        "guessing", f"Guessing: the training loss ends at {end:.3f}, where ln C = ln "
        f"{classes} = {chance:.3f} is the loss of uniform predictions (1/{classes} for every "
        "class): by its loss, the net does no better than a uniform guess on its training "
        "data (its accuracy can still be above chance when confident mistakes cost as much as "
        "the right answers gain). Usual causes: dead ReLUs after a too-high learning rate, "
        "saturated units from a bad init, a softmax before "
        "CrossEntropyLoss, labels that do not match the inputs. Check that the loss at init "
        "is about ln C, then try to overfit one batch.", value=end)


def _clipping(history: History, measured: dict[str, float]) -> Finding | None:
    """Clipping that fires on most steps, or never."""
    clipped = list(getattr(history, "clipped_grad_norm", []) or [])
    norms = list(getattr(history, "grad_norm", []) or [])[:len(clipped)]
    if not clipped or len(norms) != len(clipped):
        return None
    fired = [after < before * (1 - 1e-6) for before, after in zip(norms, clipped)]
    share = sum(fired) / len(fired)
    measured["clipped_share"] = share
    if share > CLIP_ALWAYS_SHARE:
        limit = statistics.median([after for after, hit in zip(clipped, fired) if hit])
        return _finding(
            "clipping_always", f"Clipping fired on {100 * share:.0f}% of the {len(fired)} "
            f"steps (the clipped norm is about {limit:.3g}; the median norm before clipping "
            f"was {statistics.median(norms):.3g}): it is no longer a safety net for rare "
            "spikes but rescales almost every step. Raise the threshold (e.g. a high "
            "percentile of the gradient norms of a healthy run) or lower the learning rate.",
            value=share)
    if not any(fired) and len(fired) >= CLIP_MIN_STEPS:
        return _finding(
            "clipping_never", f"Clipping never fired in {len(fired)} steps (the largest "
            f"gradient norm was {max(norms):.3g}, below the threshold): it does nothing here. "
            "That is fine as a safety net, but it is not what keeps this run stable.",
            value=0.0)
    return None


def rank_correlation(values: list[float]) -> float:
    """Spearman's rank correlation between the values and their positions 0, 1, 2, …
    (1: always rising, −1: always falling; ties get their mean rank); NaN below 3 values."""
    n = len(values)
    if n < 3:
        return float("nan")
    order = sorted(range(n), key=values.__getitem__)
    ranks = [0.0] * n
    start = 0
    while start < n:
        end = start
        while end + 1 < n and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2
        start = end + 1
    mean = (n - 1) / 2
    covariance = sum((r - mean) * (i - mean) for i, r in enumerate(ranks))
    spread = math.sqrt(sum((r - mean) ** 2 for r in ranks) * sum((i - mean) ** 2
                                                                   for i in range(n)))
    return covariance / spread if spread > 0 else float("nan")


def _gradient_norms(history: History | None, flow: GradFlow, steps: list[int]) -> list[float]:
    """The total gradient norm per training step: the history's, else from the flow (the
    weights it follows)."""
    norms = list(getattr(history, "grad_norm", []) or []) if history is not None else []
    if not norms:
        for index in steps:
            weights = [r.weight_grad_norm for r in flow.steps[index].records.values()
                       if r.weight_grad_norm is not None]
            norms.append(math.hypot(*weights) if weights else float("nan"))
    return [norm for norm in norms if math.isfinite(norm)]


def bound_excess(flow: GradFlow, steps: list[int]) -> float | None:
    """The largest ‖∂L/∂W‖ / (‖∂L/∂z‖·‖x‖) of the first layer with weights over the steps,
    when it is a Linear layer called once per step (None otherwise). At most 1 when the
    gradient was cleared before each step."""
    excess = []
    for index in steps:
        records = flow.layers(step=index, kind="weights")
        first = records[0] if records else None
        if first is None or first.kind != "linear" or first._calls != 1 \
                or None in (first.weight_grad_norm, first.output_grad_norm, first.input_norm):
            return None
        bound = first.output_grad_norm * first.input_norm
        if bound > 0:
            excess.append(first.weight_grad_norm / bound)
    return max(excess) if excess else None


def _accumulating(flow: GradFlow, steps: list[int], history: History | None,
                  measured: dict[str, float], exploding: bool) -> Finding | None:
    """A gradient that adds up over the steps. Without the bound (the first layer is not a
    Linear layer), a run whose gradient explodes or diverged is not called accumulating:
    its steady growth is the explosion."""
    excess = bound_excess(flow, steps)
    if excess is not None:
        measured["gradient_bound_excess"] = excess
        if excess <= ACCUMULATION_EXCESS:
            return None
    elif exploding:
        return None
    norms = _gradient_norms(history, flow, steps)
    if len(norms) < 10:
        return None
    start, end = statistics.median(_head(norms)), statistics.median(_tail(norms))
    rank, growth = rank_correlation(norms), (end / start if start > 0 else math.inf)
    measured["gradient_norm_rank"], measured["gradient_norm_growth"] = rank, growth
    if not (rank > ACCUMULATION_RANK and growth > ACCUMULATION_GROWTH):
        return None
    return _finding(
        "accumulating", f"Gradients add up over the steps: the total gradient norm grew "
        f"steadily with the step count (rank correlation {rank:.2f} with the step number), "
        f"from {start:.3g} in the first tenth of the run to {end:.3g} in the last "
        f"({growth:.0f} times), as if each step added its gradient to all the earlier ones"
        f"{excess_text(excess)}. "
        "A missing optimizer.zero_grad() (or model.zero_grad()) before backward() does that: "
        "every step then moves the weights by the sum of all the gradients so far.",
        value=growth)


def excess_text(excess: float | None) -> str:
    """The evidence of the broken bound, for the sentence ("" when not measured)."""
    if excess is None:
        return ""
    return (f"; the first layer's weight gradient reached {excess:.1f} times "
            "‖∂L/∂z‖·‖x‖, a bound no single step's gradient can exceed")


def _input_scale(flow: GradFlow, steps: list[int]) -> float | None:
    """The median over the training steps of √(mean² + std²) of the values going into the
    first layer with weights (None when not recorded)."""
    scales = []
    for index in steps:
        records = flow.layers(step=index, kind="weights")
        if records and records[0].input_mean is not None:
            scales.append(math.hypot(records[0].input_mean, records[0].input_std))
    return statistics.median(scales) if scales else None


def _unscaled(flow: GradFlow, steps: list[int], measured: dict[str, float]) -> Finding | None:
    scale = _input_scale(flow, steps)
    if scale is None:
        return None
    measured["input_scale"] = scale
    if UNSCALED_LOW <= scale <= UNSCALED_HIGH:
        return None
    first = flow.layers(step=steps[-1], kind="weights")[0]
    return _finding(
        "unscaled_inputs", f"Unscaled inputs: the values going into {first.name} have mean "
        f"{first.input_mean:.3g} and standard deviation {first.input_std:.3g} (scale "
        f"√(mean² + std²) = {scale:.3g}; z-scored inputs have about 1). Standardise each "
        "input feature with the training set's mean and standard deviation (with a floor on "
        "the standard deviation, for constant features), and apply the same to the test set.",
        first.name, scale)


def _update_ratio_per_step(flow: GradFlow) -> list[float]:
    """At each optimizer step, the median update ratio ‖ΔW‖/‖W‖ over the layers."""
    values = []
    for step in flow.steps:
        ratios = [r.update_ratio for r in step.records.values() if r.update_ratio is not None]
        if ratios:
            values.append(statistics.median(ratios))
    return values


def _learning_rate(flow: GradFlow, history: History | None, ratio: float, dead: bool,
                   measured: dict[str, float]) -> list[Finding]:
    """Updates far above the rule of thumb (or a diverged run with a flat gradient profile);
    or every layer's updates far below it."""
    per_step = _update_ratio_per_step(flow)
    diverged = history is not None and (history.diverged or any(
        not math.isfinite(v) for v in _step_losses(history)[0]))
    if per_step:
        median = statistics.median(per_step)
        measured["update_ratio"] = median
        measured["early_update_ratio"] = statistics.median(_head(per_step))
        if median > LR_HIGH_RATIO:
            return [_finding(
                "lr_too_high", f"The learning rate is far too high: each step changes the "
                f"weights by a median of {median:.2g} of their size, "
                f"{median / UPDATE_RATIO_RULE_OF_THUMB:.0f} times the rule of thumb of about "
                f"{UPDATE_RATIO_RULE_OF_THUMB:g} (Karpathy). Lower it (try 10 times smaller).",
                value=median)]
    if diverged and math.isfinite(ratio) and 1 / FLAT_PROFILE < ratio < FLAT_PROFILE:
        return [_finding(
            "lr_too_high", f"The loss diverged although the gradient profile is flat (first/"
            f"last layer gradient ratio {ratio:.2g}): the layers pass gradients fine, the "
            "steps are too large. Lower the learning rate (try 10 times smaller), or clip.",
            value=ratio)]
    layers = flow.update_ratios(kind="weights")
    medians = {name: statistics.median(values) for name, values in layers.items() if values}
    if medians:
        measured["fastest_layer_update_ratio"] = max(medians.values())
    if medians and not dead and len(medians) >= 2 \
            and max(medians.values()) < LR_LOW_RATIO:
        fastest = max(medians.values())
        return [_finding(
            "lr_too_low", f"The learning rate is far too low: even the fastest layer changes "
            f"by a median of {fastest:.1e} of its size per step, far below the rule of thumb "
            f"of about {UPDATE_RATIO_RULE_OF_THUMB:g} (Karpathy), in every layer. Raise it "
            "(try 10 times larger).", value=fastest)]
    return []


def _dead_over_run(flow: GradFlow, steps: list[int],
                   measured: dict[str, float]) -> Finding | None:
    """The ReLU layer with the largest share of units dead over the last ``DEAD_WINDOW``
    forward passes at the end, above ``DEAD_LIMIT``, and how that share grew."""
    series: dict[str, list[float]] = {}
    for index in steps:
        for record in flow.steps[index].records.values():
            if record.recent_dead_fraction is not None:
                series.setdefault(record.name, []).append(record.recent_dead_fraction)
    if not series:
        return None
    name = max(series, key=lambda key: series[key][-1])
    values = series[name]
    end = values[-1]
    early = values[min(len(values) - 1, DEAD_WINDOW - 1)]
    measured["dead_end"], measured["dead_early"] = end, early
    if end <= DEAD_LIMIT:
        return None
    grew = (f"grew from {100 * early:.0f}% to {100 * end:.0f}%" if end > early
            else f"was {100 * end:.0f}% from early on")
    per_step = _update_ratio_per_step(flow)
    first_steps = statistics.median(_head(per_step)) if per_step else None
    fast = ""
    if first_steps is not None and first_steps > 10 * UPDATE_RATIO_RULE_OF_THUMB:
        times = first_steps / UPDATE_RATIO_RULE_OF_THUMB
        fast = (f" In the first tenth of the run each step changed the weights by a median "
                f"of {first_steps:.2g} of their size ({times:.0f} times the rule of thumb of "
                f"{UPDATE_RATIO_RULE_OF_THUMB:g}): steps that large can push a unit's input "
                "below 0 for every example.")
    return _finding(
        "dead", f"Dead units: the share of units of {name} that are zero for every example "
        f"of {DEAD_WINDOW} minibatches in a row {grew} over the run. A dead unit passes no "
        "gradient back through itself, so its own weights and bias stop changing (apart "
        "from momentum or weight decay); it comes back only if the layers below it change "
        f"enough to make its input positive for some example.{fast} A too-high learning rate "
        "is the usual cause; a lower one, or leaky ReLU, prevents it.", name, end)


def _batch_norm_mode(flow: GradFlow, steps: list[int]) -> Finding | None:
    """Forward passes in training mode that no backward pass followed (evaluation in train
    mode), or training steps taken with batch norm in eval mode."""
    trained = set(steps)
    first = flow.first_nonfinite.step if flow.first_nonfinite is not None else None
    evaluated = [i for i, step in enumerate(flow.steps)
                 if step.batch_norm_training and i not in trained and i != first]
    frozen = [i for i in steps if flow.steps[i].batch_norm_training is False
              or (flow.steps[i].stepped_in or (True, True))[1] is False]
    explain = ("In train() mode batch norm normalises with the statistics of the current "
               "minibatch and updates its running mean and variance; in eval() mode it uses "
               "the running statistics and leaves them alone. Call model.eval() before "
               "evaluating (and model.train() before training again).")
    if evaluated:
        return _finding(
            "bn_mode", f"Batch norm in the wrong mode: {len(evaluated)} forward pass"
            f"{'es' if len(evaluated) > 1 else ''} ran in training mode with no backward pass "
            "after (an evaluation left in train mode): batch norm used each evaluation "
            "batch's own statistics, and its running statistics were updated with the "
            f"evaluation data. {explain}", value=float(len(evaluated)))
    if frozen:
        return _finding(
            "bn_mode", f"Batch norm in the wrong mode: {len(frozen)} of {len(steps)} "
            "training steps ran with batch norm in eval mode (a model.eval() with no "
            "model.train() after it): it normalised with frozen running statistics instead "
            f"of the minibatch's. {explain}", value=float(len(frozen)))
    return None


def _loss_floor(flow: GradFlow, steps: list[int], classes: int | None) -> Finding | None:
    """The model's outputs were probabilities on most training steps."""
    flags = [flow.steps[i].output_is_probability for i in steps]
    flags = [flag for flag in flags if flag is not None]
    if not flags or sum(flags) <= PROBABILITY_SHARE * len(flags):
        return None
    floor = (f" For C = {classes} classes the loss cannot fall below ln(1 + {classes - 1}/e) "
             f"= {math.log(1 + (classes - 1) / math.e):.3f}, and the gradients reaching the "
             "logits shrink." if classes else "")
    return _finding(
        "loss_floor", "The model's outputs are already probabilities (every row ≥ 0, summing "
        "to 1) on the training steps: a softmax before CrossEntropyLoss, which applies its "
        f"own log-softmax, so the net is squashed twice.{floor} Return the logits (no "
        "softmax in the model); apply softmax only to read probabilities.",
        value=sum(flags) / len(flags))


def _training_steps(flow: GradFlow) -> list[int]:
    """The indices of the steps that received gradients."""
    return [i for i, step in enumerate(flow.steps)
            if any(r.output_grad_norm is not None or r.weight_grad_norm is not None
                   for r in step.records.values())]


def _flow_findings(flow: GradFlow) -> tuple[list[Finding], float, list[str]]:
    """Vanishing/exploding (median over the training steps), saturation (median share)
    and slow layers, from a GradFlow that watched a run."""
    steps = _training_steps(flow)
    if not steps:
        return [], float("nan"), ["the flow recorded no step with gradients."]
    ratios, notes = [], []
    for index in steps:
        ratio, step_notes = _ratio_of(flow.layers(step=index, kind="weights"))
        if math.isfinite(ratio):
            ratios.append(ratio)
        notes = notes or step_notes
    ratio = statistics.median(ratios) if ratios else float("nan")
    findings = []
    if ratios:
        last = flow.layers(step=steps[-1], kind="weights")
        norms = [r.output_grad_norm for r in last if r.output_grad_norm is not None]
        finding = _ratio_finding(ratio, norms, _first_seen(last),
                                 f" (median over {len(ratios)} training steps)")
        findings += [finding] if finding else []
    saturation = flow.series("saturated_fraction", with_gradients=True)
    at_end = flow.layers(step=steps[-1], kind="activations")
    findings += [f for f in _activation_findings(
        [_median_saturation(r, saturation) for r in at_end]) if f.condition != "dead"]
    return findings, ratio, notes


def _median_saturation(record: Any, saturation: dict[str, list[float]]) -> Any:
    """A copy of an activation record whose saturated share is its median over the run."""
    import copy

    if record.name not in saturation:
        return record
    median = copy.copy(record)
    median.saturated_fraction = statistics.median(saturation[record.name])
    return median


def _slow_layers(flow: GradFlow) -> list[Finding]:
    """The first layer whose median update ratio is below ``SLOW_UPDATE_RATIO``."""
    for name, ratios in flow.update_ratios(kind="weights").items():
        median = statistics.median(ratios)
        if median < SLOW_UPDATE_RATIO:
            return [_finding(
                "slow_layer", f"{name} barely learns: each step changes it by a median of "
                f"{median:.1e} of its size, far below the rule of thumb of about "
                f"{UPDATE_RATIO_RULE_OF_THUMB:g} (Karpathy).", name, median)]
    return []


def _check_run_arguments(history: Any, flow: Any, classes: Any) -> int | None:
    if history is None and flow is None:
        raise ValueError("diagnose_run needs history= (what train() returned), flow= (the "
                         "GradFlow that watched the run), or both; got neither.")
    if history is not None and not hasattr(history, "train_loss"):
        raise ValueError("history must be the History that utils.train.train returned (or "
                         f"None), got {checks.describe(history)}.")
    if flow is not None and not isinstance(flow, GradFlow):
        raise ValueError("flow must be the GradFlow that watched the run (or None), got "
                         f"{checks.describe(flow)}.")
    if classes is None:
        return None
    return checks.whole_number("classes", classes, minimum=2)


def diagnose_run(history: History | None = None, flow: GradFlow | None = None, *,
                 classes: int | None = None) -> Diagnosis:
    """Name what went wrong in a training run, from its ``History`` and/or its ``GradFlow``.

    ``history`` is what ``utils.train.train`` returned (or None); ``flow`` the
    ``GradFlow`` that watched the run (or None; pass ``optimizer=`` to it for the
    update ratios). At least one is needed. ``classes`` is the number of classes C
    (default: the outputs of the last layer with weights, when the history records an
    accuracy, i.e. a classification run).

    From the history: the loss became NaN/inf ("diverged", with the step and, from the
    flow, the first module whose output was NaN/inf), the training loss fell by less
    than 10% ("not_learning"), it ends within 10% of ln C ("guessing"), a step's
    gradient norm above 10 times the run's median ("gradient_spikes"), clipping that
    fired on more than half of the steps or on none ("clipping_always",
    "clipping_never"). From the flow: the first/last gradient ratio, median over the
    training steps ("vanishing", "exploding"), the median saturated share
    ("saturated"), a ReLU layer with more than half of its units dead over the last
    ``DEAD_WINDOW`` minibatches at the end ("dead", with how the share grew), the
    median update ratio far above the rule of thumb or a diverged run with a flat
    gradient profile ("lr_too_high"), every layer far below it ("lr_too_low"), one
    layer far below it ("slow_layer"), a gradient that adds up over the steps
    ("accumulating"), batch norm run in the wrong mode ("bn_mode"), inputs far from
    unit scale ("unscaled_inputs"), outputs that are already probabilities
    ("loss_floor"). The thresholds are the module's constants. Returns a ``Diagnosis``
    whose ``gradient_ratio`` is the median ratio (NaN without a flow) and whose
    ``measurements`` hold the numbers behind the findings.
    """
    classes = _check_run_arguments(history, flow, classes)
    findings: list[Finding] = []
    measured: dict[str, float] = {}
    diverged = _diverged(history, flow)
    if history is not None and classes is None and getattr(history, "train_accuracy", None):
        classes = classes_of(flow)
    if history is not None:
        losses, per_step = _step_losses(history)
        if diverged is None:
            findings += [f for f in (_guessing(history, classes, measured),
                                     _not_learning(losses, per_step), _spikes(history)) if f]
        findings += [f for f in (_clipping(history, measured),) if f]
    if diverged is not None:
        findings.insert(0, diverged)
    ratio, notes = float("nan"), []
    if flow is not None:
        flow_findings, ratio, notes = _flow_findings(flow)
        if math.isfinite(ratio):
            measured["gradient_ratio"] = ratio
        steps = _training_steps(flow)
        dead = _dead_over_run(flow, steps, measured) if steps else None
        findings += flow_findings + ([dead] if dead else [])
        if steps:
            findings += _learning_rate(flow, history, ratio, dead is not None, measured)
            if "lr_too_low" not in [f.condition for f in findings]:
                findings += _slow_layers(flow)
            exploding = any(f.condition in ("exploding", "diverged") for f in findings)
            findings += [f for f in (_accumulating(flow, steps, history, measured, exploding),
                                     _batch_norm_mode(flow, steps),
                                     _unscaled(flow, steps, measured),
                                     _loss_floor(flow, steps, classes)) if f]
        notes += _coverage_notes(flow.model, flow)
    else:
        notes.append("no GradFlow was given, so the gradients were not looked at (pass flow=).")
    return Diagnosis(findings, ratio, flow, notes, measured)
