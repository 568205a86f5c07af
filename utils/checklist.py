"""The gradient doctor's checklist: what to measure, in what order, and which fix.

The capstone (notebook 11) ends with this one page, and ``make sync`` writes it to
``docs/checklist.md`` so it can be printed or kept next to one's own code. Its
thresholds are not typed in: they are read from the constants that
``utils.diagnosis`` and ``utils.gradflow`` use to name a condition, so the page
always says what the course's tools check. Each item names the notebooks where
the course measured the symptom and the fix.

    from utils import checklist
    print(checklist.markdown())
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from utils import diagnosis, gradflow
from utils.course import lesson


@dataclass(frozen=True)
class Check:
    """One line of the checklist.

    ``stage`` groups the lines (``STAGES``); ``measure`` says what to look at and with
    which tool; ``healthy`` what a healthy value is (with the threshold the course's
    diagnosis uses); ``fix`` the usual causes and fixes when it is not healthy;
    ``lessons`` the notebooks that measured it; ``conditions`` the names that
    ``diagnose`` or ``diagnose_run`` give the problem (``diagnosis.CONDITIONS``).
    """

    stage: str
    measure: str
    healthy: str
    fix: str
    lessons: tuple[int, ...]
    conditions: tuple[str, ...] = ()


#: The stages, in the order in which to work through them.
STAGES = (
    "Before training",
    "At initialisation, one batch",
    "During training",
    "After training",
)


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def checks() -> list[Check]:
    """The checklist, in order, with the thresholds the course's diagnosis uses."""
    vanishing, exploding = diagnosis.VANISHING_RATIO, diagnosis.EXPLODING_RATIO
    rule = gradflow.UPDATE_RATIO_RULE_OF_THUMB
    spike = diagnosis.SPIKE_FACTOR
    guessing = diagnosis.GUESSING_BAND
    return [
        Check("Before training",
              "Inputs and targets: finite, and each input feature standardised (z-score with "
              "training-set statistics and a floor on the standard deviation).",
              "No NaN/inf; each feature's mean near 0 and spread near 1 (the diagnosis flags "
              "an input scale √(mean² + std²) above "
              f"{diagnosis.UNSCALED_HIGH:g} or below {diagnosis.UNSCALED_LOW:g}).",
              "Scale the inputs; a feature with zero spread needs the floor, or a test image "
              "becomes huge.", (1, 11), ("bad_inputs", "unscaled_inputs")),
        Check("Before training",
              "The loss function gets what it expects: `CrossEntropyLoss` takes raw scores "
              "(logits), not probabilities.",
              "No softmax in front of `CrossEntropyLoss`; with one, a 10-class loss cannot go "
              f"below ln(1 + 9/e) = {math.log(1 + 9 / math.e):.2f}.",
              "Remove the softmax (use `log_softmax` + `nll_loss`, or the fused loss).",
              (11,), ("loss_floor",)),
        Check("At initialisation, one batch",
              "The loss at step 0.",
              f"About ln C for C classes (ln 10 = {math.log(10):.2f}): the net starts by "
              "guessing uniformly.",
              "Much higher: the last layer's init is too large. Run `diagnose(model, batch)`.",
              (3, 5), ()),
        Check("At initialisation, one batch",
              "The gradient reaching each layer's output, first layer against last "
              "(`diagnose(model, batch)`, `GradFlow`).",
              f"First / last between {vanishing:g} and {exploding:g}.",
              "Below: vanishing (saturating activation, too-small init, depth without skips). "
              "Above: exploding (too-large init). Fixes: ReLU-family activations, He or Xavier "
              "init matched to the activation, batch norm, residual connections.",
              (3, 4, 5, 6, 8), ("vanishing", "exploding")),
        Check("At initialisation, one batch",
              "Each activation layer's saturated share (sigmoid/tanh in their flat parts) and "
              "dead share (ReLU units that are zero for every example).",
              f"Saturated ≤ {_percent(diagnosis.SATURATED_LIMIT)} and dead ≤ "
              f"{_percent(diagnosis.DEAD_LIMIT)} in every layer.",
              "Saturation: a smaller init or batch norm. Dead units: a smaller learning rate, "
              "He init, leaky ReLU or ELU.", (4, 5, 6), ("saturated", "dead")),
        Check("At initialisation, one batch",
              "Overfit one small batch for a few hundred steps.",
              "The loss on that batch goes to nearly 0.",
              "If it cannot, look for a bug before tuning anything: the loss, the labels, a "
              "detached layer, a parameter the optimizer does not hold.", (2, 11), ()),
        Check("During training",
              "The update ratio ‖ΔW‖/‖W‖ of every layer at each step (`GradFlow(model, "
              "optimizer=...)`).",
              f"Around {rule:g} (Karpathy's rule of thumb); the diagnosis flags a median "
              f"above {diagnosis.LR_HIGH_RATIO:g}, or below {diagnosis.LR_LOW_RATIO:g} in every "
              "layer.",
              "Far above: the learning rate is too high. Far below in every layer: too low; "
              "in one layer: that layer's gradient vanishes.",
              (7, 11), ("lr_too_high", "lr_too_low", "slow_layer")),
        Check("During training",
              "The loss of every step: finite? When it is not, the first module whose output "
              "was NaN/inf and the step (`diagnose_run`).",
              "Finite at every step.",
              "Lower the learning rate, clip the gradient's norm, use the fused "
              "`cross_entropy` instead of `log(softmax(x))`.", (1, 10, 11), ("diverged",)),
        Check("During training",
              "The total gradient norm of every step (before clipping; "
              "`history.grad_norm`).",
              f"No step above {spike:g} × the run's median; no steady growth.",
              "Spikes: clip by norm at a high percentile of a healthy run's norms. Steady "
              "growth with a loss that does not fall: gradients accumulate — call "
              "`optimizer.zero_grad()` every step.", (10, 11), ("gradient_spikes", "accumulating")),
        Check("During training",
              "When clipping: the share of steps on which it fired.",
              f"Fires on some steps, not on more than {_percent(diagnosis.CLIP_ALWAYS_SHARE)} "
              "of them.",
              "On most steps: `max_norm` too low or the learning rate too high. Never: it does "
              "nothing.", (10,), ("clipping_always", "clipping_never")),
        Check("During training",
              "`model.train()` for training steps, `model.eval()` for evaluation (batch norm "
              "and dropout behave differently).",
              "Every optimizer step in train mode; every evaluation in eval mode.",
              "Call `model.eval()` before evaluating and `model.train()` before training again.",
              (6, 11), ("bn_mode",)),
        Check("During training",
              "Recurrent nets: the gradient reaching each time step, against the lag "
              "(`hidden_state_gradients`).",
              "Falls slowly enough to reach the lags the task needs.",
              "Vanishing: an LSTM or GRU (forget-gate bias 1). Exploding: clip by norm.",
              (9, 10), ()),
        Check("After training",
              "Training loss against ln C, and training against validation loss over the "
              "epochs.",
              f"Training loss well below ln C (the diagnosis calls a final loss within "
              f"{_percent(guessing)} of ln C guessing); validation loss close to it.",
              "Stuck near ln C: an optimisation problem, go back up this list. Validation far "
              "above training: overfitting — early stopping, weight decay, dropout, more data.",
              (11,), ("not_learning", "guessing")),
    ]


def _lesson_links(numbers: tuple[int, ...], prefix: str) -> str:
    """'[04](../notebooks/04_….ipynb), [05](…)' for the notebooks of one check."""
    return ", ".join(f"[{lesson(n).label}]({prefix}{lesson(n).filename})" for n in numbers)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(link_prefix: str = "../notebooks/") -> str:
    """The checklist as one Markdown page (links to the notebooks use ``link_prefix``)."""
    lines = [
        "# The gradient doctor's checklist",
        "",
        "What to measure when a deep network does not learn, in the order to measure it, and "
        "which fix to try. The thresholds are those the course's `diagnose` and `diagnose_run` "
        "use (`utils/diagnosis.py`), and each line names the notebooks that measured the "
        "symptom and its fix. Generated from `utils/checklist.py` by `make sync`.",
    ]
    items = checks()
    number = 0
    for stage in STAGES:
        lines += ["", f"## {stage}", "", "| # | measure | healthy | if not | see |",
                  "|---|---|---|---|---|"]
        for item in (item for item in items if item.stage == stage):
            number += 1
            names = f" Flagged as `{'`, `'.join(item.conditions)}`." if item.conditions else ""
            lines.append(f"| {number} | {_cell(item.measure)} | {_cell(item.healthy)} | "
                         f"{_cell(item.fix + names)} | "
                         f"{_lesson_links(item.lessons, link_prefix)} |")
    return "\n".join(lines) + "\n"
