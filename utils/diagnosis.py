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
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from utils import checks
from utils.course import Lesson, lesson
from utils.gradflow import RECURRENT_LAYERS, UPDATE_RATIO_RULE_OF_THUMB, GradFlow, check_batch

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


def _history_findings(history: History) -> list[Finding]:
    """Diverged, not learning and gradient spikes, from a ``utils.train.History``."""
    findings = []
    step_loss = list(getattr(history, "step_loss", []) or [])
    epoch_loss = list(getattr(history, "train_loss", []) or [])
    losses = step_loss or epoch_loss
    bad = [i for i, loss in enumerate(losses) if not math.isfinite(loss)]
    if getattr(history, "diverged", False) or bad:
        where = f" at {'step' if step_loss else 'epoch'} {bad[0] + 1}" if bad else ""
        findings.append(_finding("diverged", f"The training loss became NaN/inf{where}: the "
                                 "updates blew up. Lower the learning rate, or clip the "
                                 "gradients.", value=float(bad[0] + 1) if bad else None))
        return findings
    if len(losses) >= 2:
        window = max(1, len(losses) // 10)
        start = statistics.median(losses[:window])
        end = min(losses[-window:]) if not step_loss else statistics.median(losses[-window:])
        if start > 0 and end > NOT_LEARNING_SHARE * start:
            findings.append(_finding(
                "not_learning", f"The training loss barely fell: from {start:.3g} at the start "
                f"to {end:.3g} at the end ({100 * end / start:.0f}%). Look at how the gradient "
                "flows (GradFlow): a vanishing gradient, a learning rate far too small or a "
                "stuck layer are the usual causes.", value=end / start))
    norms = [n for n in getattr(history, "grad_norm", []) or [] if math.isfinite(n)]
    if len(norms) >= 10:
        median = statistics.median(norms)
        peak = max(norms)
        if median > 0 and peak > SPIKE_FACTOR * median:
            step = norms.index(peak) + 1
            findings.append(_finding(
                "gradient_spikes", f"Gradient spikes: at step {step} the total gradient norm "
                f"reached {peak / median:.0f} times its median over the run (a cliff in the "
                "loss surface). Clipping the gradient's norm limits such steps.",
                value=peak / median))
    return findings


def _training_steps(flow: GradFlow) -> list[int]:
    """The indices of the steps that received gradients."""
    return [i for i, step in enumerate(flow.steps)
            if any(r.output_grad_norm is not None or r.weight_grad_norm is not None
                   for r in step.records.values())]


def _flow_findings(flow: GradFlow) -> tuple[list[Finding], float, list[str]]:
    """Vanishing/exploding (median over the training steps), saturation (median share),
    dead units (at the end) and slow layers, from a GradFlow that watched a run."""
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
    findings += _activation_findings([_median_saturation(r, saturation) for r in at_end])
    findings += _slow_layers(flow)
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


def diagnose_run(history: History | None = None, flow: GradFlow | None = None) -> Diagnosis:
    """Name what went wrong in a training run, from its ``History`` and/or its ``GradFlow``.

    ``history`` is what ``utils.train.train`` returned (or None); ``flow`` the
    ``GradFlow`` that watched the run (or None; pass ``optimizer=`` to it for the
    update ratios). At least one is needed. From the history: the loss became
    NaN/inf ("diverged"), the training loss fell by less than 10% ("not_learning"),
    a step's gradient norm above 10 times the run's median ("gradient_spikes").
    From the flow: the first/last gradient ratio, median over the training steps
    ("vanishing", "exploding"), the median saturated share ("saturated"), dead units
    at the end ("dead"), a layer whose median update ratio is below 1e-5
    ("slow_layer"). Returns a ``Diagnosis`` whose ``gradient_ratio`` is that median
    (NaN without a flow).
    """
    if history is None and flow is None:
        raise ValueError("diagnose_run needs history= (what train() returned), flow= (the "
                         "GradFlow that watched the run), or both; got neither.")
    if history is not None and not hasattr(history, "train_loss"):
        raise ValueError("history must be the History that utils.train.train returned (or "
                         f"None), got {checks.describe(history)}.")
    if flow is not None and not isinstance(flow, GradFlow):
        raise ValueError("flow must be the GradFlow that watched the run (or None), got "
                         f"{checks.describe(flow)}.")
    findings = _history_findings(history) if history is not None else []
    ratio, notes = float("nan"), []
    if flow is not None:
        flow_findings, ratio, notes = _flow_findings(flow)
        findings += flow_findings
        notes += _coverage_notes(flow.model, flow)
    else:
        notes.append("no GradFlow was given, so the gradients were not looked at (pass flow=).")
    return Diagnosis(findings, ratio, flow, notes)
