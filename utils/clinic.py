"""The clinic of notebook 11: broken training runs ("patients") to diagnose and fix.

Each patient is a small, seeded training run on the digits (or, for the recurrent one, on
a running sum of short sequences) with exactly one known fault. ``run_patient(name, seed)`` trains
it as it is and returns a ``PatientRun``: the ``History``, the ``GradFlow`` that watched
it, the diagnosis (``utils.diagnosis.diagnose_run``) and the final evaluation. A fix is
data: the settings the learner changes, passed as keywords::

    from utils.clinic import PATIENTS, run_patient

    sick = run_patient("B", seed=0)                 # as admitted
    sick.diagnosis                                  # what the doctor says
    cured = run_patient("B", seed=0, init="xavier_normal")
    cured.trains, cured.verdict()

Every patient's settings (``PATIENTS[name].settings``) are the knobs a fix may turn;
``SETTINGS`` says what each one means. A run "trains" when its best training loss and its
final test score pass the patient's bounds (sized over seeds); a fix "cures" it when the
run trains *and* the diagnosis no longer names the patient's cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from utils import checks
from utils.data import digits_split
from utils.diagnosis import Diagnosis, diagnose_run
from utils.gradflow import GradFlow, dead_share
from utils.nets import make_mlp, make_sequence_model
from utils.train import History, train

#: ln(1 + 9/e): the lowest cross-entropy a 10-class net can reach when its outputs are
#: already probabilities (softmax applied twice): the best it can do is p = 1 on the right
#: class, whose second softmax gives e/(e + 9).
SOFTMAX_FLOOR = math.log(1 + 9 / math.e)

#: What each setting means (the knobs a fix can turn).
SETTINGS = {
    "lr": "learning rate of the optimizer",
    "optimizer": "'sgd' (plain SGD) or 'adam'",
    "epochs": "passes over the training data",
    "depth": "hidden layers of the MLP",
    "activation": "hidden activation: 'relu', 'leaky_relu', 'tanh', 'sigmoid', ...",
    "init": "weight init: 'default' (PyTorch's), 'he_normal', 'xavier_normal', ...",
    "gain": "multiplies the init's standard deviation (None: the init's own)",
    "norm": "None or 'batch' (batch norm in every hidden layer)",
    "zero_grad": "True: clear the gradients before each step (False: they accumulate)",
    "softmax_output": "True: the net ends with a softmax before CrossEntropyLoss",
    "standardize": "True: z-score each pixel; False: raw pixel values 0 to 16",
    "eval_mode": "True: model.eval() for the evaluation; False: it stays in train mode",
    "clip_norm": "None, or the max norm of the gradient (clipping by norm)",
    "recurrent_gain": "scale of the recurrent weights W_hh (orthogonal × gain)",
    "kind": "'rnn' (vanilla tanh RNN) or 'lstm'",
}

#: The settings of every MLP patient before its fault is put in (a healthy run).
HEALTHY_MLP = {"lr": 0.1, "optimizer": "sgd", "epochs": 6, "depth": 4, "activation": "relu",
               "init": "he_normal", "gain": None, "norm": None, "zero_grad": True,
               "softmax_output": False, "standardize": True, "eval_mode": True,
               "clip_norm": None}
#: The recurrent patient's healthy settings.
HEALTHY_RNN = {"lr": 0.1, "optimizer": "sgd", "epochs": 8, "kind": "rnn",
               "recurrent_gain": 1.0, "clip_norm": None}
WIDTH = 64
BATCH_SIZE = 64
#: The recurrent patient's task (``running_sum_task``): sequences and steps.
SEQUENCES, SEQUENCE_LENGTH = 1024, 10
#: Always predicting 0 on the running sum: a mean squared error of 1/3 (its variance).
SEQUENCE_BASELINE = 1 / 3


@dataclass(frozen=True)
class ClinicPatient:
    """One broken training run: its name, the settings it is admitted with (its fault
    included), its cause (a key of ``CAUSES``), the ``diagnose_run`` conditions that name
    that cause, the notebook that teaches the fix, and fixes that cure it. ``note`` is what
the check of exercise 11.2 adds when the fault is gone but the run still does not train."""

    name: str
    cause: str
    conditions: tuple[str, ...]
    fixed_in: int
    settings: dict[str, Any]
    fixes: tuple[dict[str, Any], ...]
    task: str = "digits"
    note: str = ""


#: The causes a learner can name (exercise 11.1), each with what it means.
CAUSES = {
    "dead relus": "ReLU units that died after a too-high learning rate",
    "vanishing": "a deep sigmoid net with PyTorch's default init: the gradient vanishes",
    "no zero_grad": "a missing zero_grad(): the gradients of all steps add up",
    "softmax before loss": "softmax applied before CrossEntropyLoss (which applies its own)",
    "init gain": "a wrong init gain: activations saturate or blow up",
    "bn train mode": "batch norm left in train mode at evaluation",
    "exploding rnn": "a recurrent net with large recurrent weights and no clipping",
    "unscaled inputs": "inputs that are not standardised (raw 0-16 pixels)",
    "lr too high": "a learning rate so high that the loss becomes NaN/inf (section 1)",
}


def _mlp(**fault: Any) -> dict[str, Any]:
    return {**HEALTHY_MLP, **fault}


PATIENTS: dict[str, ClinicPatient] = {patient.name: patient for patient in (
    ClinicPatient("A", "dead relus", ("dead",), 4,
                  _mlp(optimizer="adam", lr=0.1),
                  ({"lr": 0.01}, {"lr": 0.001})),
    ClinicPatient("B", "vanishing", ("vanishing",), 5,
                  _mlp(depth=10, activation="sigmoid", init="default", lr=0.5),
                  ({"init": "xavier_normal", "norm": "batch"},)),
    ClinicPatient("C", "no zero_grad", ("accumulating",), 11,
                  _mlp(zero_grad=False, lr=0.02),
                  ({"zero_grad": True, "lr": 0.1},),
                  note="C's author lowered its learning rate from 0.1 to 0.02 to tame the "
                       "blow-ups; with the gradients cleared, 0.02 is too small to train in "
                       "6 epochs: give it back the healthy run's."),
    ClinicPatient("D", "softmax before loss", ("loss_floor",), 11,
                  _mlp(softmax_output=True),
                  ({"softmax_output": False},)),
    ClinicPatient("E", "init gain", ("saturated", "exploding"), 5,
                  _mlp(activation="tanh", init="xavier_normal", gain=5.0, depth=6, lr=0.05),
                  ({"gain": None}, {"gain": 1.0})),
    ClinicPatient("F", "bn train mode", ("bn_mode",), 6,
                  _mlp(norm="batch", eval_mode=False),
                  ({"eval_mode": True},)),
    ClinicPatient("G", "exploding rnn", ("exploding", "diverged"), 10,
                  {**HEALTHY_RNN, "recurrent_gain": 2.5},
                  ({"recurrent_gain": 1.0},),
                  task="sequence"),
    ClinicPatient("H", "unscaled inputs", ("unscaled_inputs",), 11,
                  _mlp(standardize=False),
                  ({"standardize": True},)),
)}


class _Softmaxed(nn.Module):
    """A network whose output goes through a softmax (the fault of patient D)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def _without_zero_grad(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The same optimizer, but its ``zero_grad()`` leaves the gradients as they are (the
    fault of patient C: each step's gradient is added to all the earlier ones)."""
    optimizer.zero_grad = lambda set_to_none=True: None  # type: ignore[method-assign]
    return optimizer


#: A digits run trains when its best epoch's training loss is below this and ...
TRAINED_LOSS = 0.5
#: ... its test accuracy (as the patient evaluates) is above this.
TRAINED_ACCURACY = 0.8
#: The sequence run trains when its best test MSE is below this share of the baseline.
TRAINED_MSE_SHARE = 0.3


@dataclass
class PatientRun:
    """One run of a patient: its settings, ``history``, ``flow``, ``diagnosis``, the
    ``model`` at the end, and ``evidence``: the measurements a doctor reads (see
    ``EVIDENCE``). ``trains`` says whether it passed the patient's bounds, ``cured``
    whether it also no longer shows the patient's cause."""

    patient: ClinicPatient
    settings: dict[str, Any]
    history: History
    flow: GradFlow
    diagnosis: Diagnosis
    model: nn.Module
    evidence: dict[str, float] = field(default_factory=dict)

    @property
    def named(self) -> list[str]:
        """The patient's conditions that the diagnosis names."""
        return [c for c in self.diagnosis.conditions if c in self.patient.conditions]

    @property
    def trains(self) -> bool:
        """The run trains: best training loss and test score within the patient's bounds."""
        return trains(self.patient, self.evidence["best_loss"], self.evidence["test_score"])

    @property
    def cured(self) -> bool:
        """The run trains and the diagnosis no longer names the patient's cause."""
        return self.trains and not self.named and not shows_cause(self)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.settings.items() if v != self.patient.settings[k]}
        score = ("test accuracy" if self.patient.task == "digits" else "best test MSE")
        return (f"PatientRun({self.patient.name}{', ' + str(changed) if changed else ''}: "
                f"best training loss {self.evidence['best_loss']:.3g}, {score} "
                f"{self.evidence['test_score']:.3g}, trains={self.trains}, "
                f"diagnosis names {self.diagnosis.conditions or 'nothing'})")


def trains(patient: ClinicPatient, best_loss: float, test_score: float) -> bool:
    """Whether a run of ``patient`` with this best training loss and test score trained."""
    if not (math.isfinite(best_loss) and math.isfinite(test_score)):
        return False
    if patient.task == "sequence":
        return test_score < TRAINED_MSE_SHARE * SEQUENCE_BASELINE
    return best_loss < TRAINED_LOSS and test_score > TRAINED_ACCURACY


_DIGITS: dict[bool, Any] = {}


def patient_digits(standardize: bool = True) -> Any:
    """The digits split (tensors), z-scored per pixel or as raw pixel values 0–16 (cached)."""
    standardize = checks.boolean("standardize", standardize)
    if standardize not in _DIGITS:
        split = digits_split(standardized=standardize).tensors()
        if not standardize:
            split.x_train, split.x_test = split.x_train * 16, split.x_test * 16
        _DIGITS[standardize] = split
    return _DIGITS[standardize]


def _check_settings(patient: ClinicPatient, changes: dict[str, Any]) -> dict[str, Any]:
    unknown = [key for key in changes if key not in patient.settings]
    if unknown:
        raise ValueError(f"Patient {patient.name} has no setting {unknown[0]!r}; its settings "
                         f"are {', '.join(patient.settings)}.")
    settings = {**patient.settings, **changes}
    for key in ("lr", "clip_norm", "gain", "recurrent_gain"):
        value = settings[key] if key in settings else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise ValueError(f"{key} must be a positive number{' or None' if key != 'lr' else ''}"
                             f", got {value!r}.")
    for key in ("zero_grad", "softmax_output", "standardize", "eval_mode"):
        if key in settings:
            checks.boolean(key, settings[key])
    for key, limit in (("epochs", 30), ("depth", 20)):
        if key in settings:
            settings[key] = checks.whole_number(key, settings[key], maximum=limit)
    if "optimizer" in settings:
        checks.one_of("optimizer", settings["optimizer"], ("sgd", "adam"))
    if "kind" in settings:
        checks.one_of("kind", settings["kind"], ("rnn", "lstm"))
    if "norm" in settings and settings["norm"] not in (None, "batch"):
        raise ValueError(f"norm must be None or 'batch', got {settings['norm']!r}.")
    return settings


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eval_mode: bool) -> float:
    """Test accuracy, the way the patients evaluate: one class at a time, in minibatches of
    up to 16 images, in eval mode or (the fault of patient F) left in train mode."""
    model.train(not eval_mode)
    correct = 0
    with torch.no_grad():
        for label in range(10):
            rows = (y == label).nonzero().flatten()
            for start in range(0, len(rows), 16):
                index = rows[start:start + 16]
                correct += (model(x[index]).argmax(dim=1) == label).sum().item()
    model.train()
    return correct / len(y)


def _optimizer(model: nn.Module, s: dict[str, Any]) -> torch.optim.Optimizer:
    """Plain SGD or Adam at the settings' learning rate."""
    if s["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=s["lr"])
    return torch.optim.SGD(model.parameters(), lr=s["lr"])


def _run_digits(s: dict[str, Any], seed: int) -> tuple[nn.Module, GradFlow, History,
                                                         dict[str, float]]:
    data = patient_digits(bool(s["standardize"]))
    model: nn.Module = make_mlp(64, 10, depth=s["depth"], width=WIDTH,
                                activation=s["activation"], init=s["init"], gain=s["gain"],
                                norm=s["norm"], seed=seed)
    if s["softmax_output"]:
        model = _Softmaxed(model)
    optimizer = _optimizer(model, s)
    if not s["zero_grad"]:
        optimizer = _without_zero_grad(optimizer)
    with GradFlow(model, optimizer=optimizer) as flow:
        history = train(model, optimizer, (data.x_train, data.y_train), epochs=s["epochs"],
                        batch_size=BATCH_SIZE, seed=seed, progress=False,
                        clip_norm=s["clip_norm"], drop_last=True)
        extra = {"test_score": float("nan"), "eval_mode_accuracy": float("nan")}
        if not history.diverged:
            extra["eval_mode_accuracy"] = _accuracy(model, data.x_test, data.y_test, True)
            extra["test_score"] = (extra["eval_mode_accuracy"] if s["eval_mode"] else
                                   _accuracy(model, data.x_test, data.y_test, False))
    extra["input_mean"] = data.x_train.mean().item()
    extra["input_std"] = data.x_train.std().item()
    shares = dead_shares(model, data.x_train) if s["activation"] == "relu" else []
    extra["dead_share"] = max(shares) if shares else 0.0
    return model, flow, history, extra


_SEQUENCES: dict[str, Any] = {}


def running_sum_task(n: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``length`` numbers drawn from U(−1, 1); the target is their sum
    divided by √length (variance 1/3: predicting 0 gives a mean squared error of 1/3)."""
    n = checks.whole_number("n", n)
    length = checks.whole_number("length", length)
    generator = torch.Generator().manual_seed(checks.seed("seed", seed))
    x = torch.rand(n, length, 1, generator=generator) * 2 - 1
    return x, x.sum(dim=1) / math.sqrt(length)


def _run_sequence(s: dict[str, Any], seed: int) -> tuple[nn.Module, GradFlow, History,
                                                           dict[str, float]]:
    if "data" not in _SEQUENCES:
        _SEQUENCES["data"] = (running_sum_task(SEQUENCES, SEQUENCE_LENGTH, seed=1),
                              running_sum_task(256, SEQUENCE_LENGTH, seed=2))
    (x, y), (x_test, y_test) = _SEQUENCES["data"]
    model = make_sequence_model(s["kind"], 1, 32, 1, recurrent_init="orthogonal",
                                recurrent_gain=s["recurrent_gain"], seed=seed)
    optimizer = _optimizer(model, s)
    with GradFlow(model, optimizer=optimizer) as flow:
        history = train(model, optimizer, (x, y), test_data=(x_test, y_test),
                        epochs=s["epochs"], batch_size=BATCH_SIZE, seed=seed, progress=False,
                        clip_norm=s["clip_norm"])
    finite = [v for v in history.test_loss if math.isfinite(v)]
    extra = {"test_score": min(finite) if finite and not history.diverged else float("nan"),
             "input_mean": x.mean().item(), "input_std": x.std().item(), "dead_share": 0.0,
             "eval_mode_accuracy": float("nan")}
    return model, flow, history, extra


#: What each entry of ``PatientRun.evidence`` measures.
EVIDENCE = {
    "best_loss": "the lowest epoch-mean training loss",
    "test_score": "test accuracy (digits, as the patient evaluates) or best test MSE",
    "train_accuracy": "the best epoch's training accuracy (digits)",
    "diverged_step": "the step whose loss was NaN/inf (NaN: it never happened)",
    "gradient_ratio": "median over the steps of ‖∂L/∂z‖ first layer / last layer",
    "dead_share": "the largest share of dead ReLU units in a hidden layer at the end",
    "saturated_share": "the largest median share of saturated sigmoid/tanh units",
    "grad_growth": "median gradient norm of the last fifth of the steps / the first fifth",
    "max_grad_norm": "the largest total gradient norm of a step",
    "input_mean": "mean of the training inputs",
    "input_std": "standard deviation of the training inputs",
    "eval_mode_accuracy": "test accuracy of the same weights in eval mode",
    "has_batch_norm": "1 when the net has batch norm",
    "recurrent": "1 when the net is recurrent",
}


def _median(values: list[float]) -> float:
    values = sorted(v for v in values if math.isfinite(v))
    return values[len(values) // 2] if values else float("nan")


def _evidence(patient: ClinicPatient, model: nn.Module, flow: GradFlow, history: History,
              diagnosis: Diagnosis, extra: dict[str, float]) -> dict[str, float]:
    losses = [v for v in history.train_loss if math.isfinite(v)]
    norms = [v for v in history.grad_norm if math.isfinite(v)]
    fifth = max(1, len(norms) // 5)
    saturation = flow.series("saturated_fraction", with_gradients=True)
    evidence = {
        "best_loss": min(losses) if losses and not history.diverged else float("nan"),
        "train_accuracy": max(history.train_accuracy) if history.train_accuracy else
        float("nan"),
        "diverged_step": float(len(history.step_loss) + 1) if history.diverged else float("nan"),
        "gradient_ratio": diagnosis.gradient_ratio,
        "saturated_share": max((_median(v) for v in saturation.values()), default=0.0),
        "grad_growth": (_median(norms[-fifth:]) / _median(norms[:fifth])
                        if len(norms) >= 10 else float("nan")),
        "max_grad_norm": max(norms) if norms else float("nan"),
        "has_batch_norm": float(any(isinstance(m, nn.BatchNorm1d) for m in model.modules())),
        "recurrent": float(patient.task == "sequence"),
    }
    evidence.update(extra)
    return evidence


#: The healthy run every MLP patient departs from (``HEALTHY_MLP``): not a patient.
HEALTHY = ClinicPatient("healthy", "", (), 11, HEALTHY_MLP, ())


def run_healthy(seed: int = 0, **changes: Any) -> PatientRun:
    """The healthy MLP run (``HEALTHY_MLP``, optionally changed), diagnosed like a patient."""
    return _run(HEALTHY, checks.seed("seed", seed), changes)


def run_patient(name: str, seed: int = 0, **changes: Any) -> PatientRun:
    """Train patient ``name`` (a key of ``PATIENTS``) from ``seed`` with its settings changed
    by ``changes`` (a fix, e.g. ``lr=0.01``), diagnose the run and measure its evidence.

    Runs are cached by (name, seed, settings): the same call twice trains once.
    """
    checks.one_of("name", name, PATIENTS)
    return _run(PATIENTS[name], checks.seed("seed", seed), changes)


def _run(patient: ClinicPatient, seed: int, changes: dict[str, Any]) -> PatientRun:
    """Train, diagnose and measure one run. Runs are cached by (task, seed, settings): two
    patients with the same settings (a fixed patient and the healthy run) share one run."""
    settings = _check_settings(patient, changes)
    key = (patient.task, seed, tuple(sorted((k, repr(v)) for k, v in settings.items())))
    if key not in _CACHE:
        runner = _run_sequence if patient.task == "sequence" else _run_digits
        model, flow, history, extra = runner(settings, seed)
        diagnosis = diagnose_run(history, flow)
        evidence = _evidence(patient, model, flow, history, diagnosis, extra)
        _CACHE[key] = PatientRun(patient, settings, history, flow, diagnosis, model, evidence)
    run = _CACHE[key]
    if run.patient is not patient:
        run = PatientRun(patient, settings, run.history, run.flow, run.diagnosis, run.model,
                         run.evidence)
    return run


_CACHE: dict[tuple, PatientRun] = {}  # (task, seed, settings) -> the first run


def dead_shares(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Per hidden layer of an MLP, the share of units that output ≤ 0 on every row of ``x``
    (dead ReLU units: they pass no gradient back), measured in eval mode; the model's mode
    is restored."""
    from utils.nets import hidden_layers

    checks.module("model", model)
    shares, values = [], x
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            net = model.net if isinstance(model, _Softmaxed) else model
            for layer in hidden_layers(net):
                values = layer(values)
                shares.append(dead_share(values))
    finally:
        model.train(training)
    return shares


#: A run shows its patient's cause by the clinic's own measurements when (evidence, test):
#: used with the diagnosis, so a fix is judged even where ``diagnose_run`` names nothing.
DEAD_LIMIT = 0.5  # more than half of a layer's units dead
SATURATED_LIMIT = 0.5  # more than half of a layer's units saturated (median over the run)
GROWTH_LIMIT = 3.0  # gradient norm at the end ≥ 3 × at the start
INPUT_LIMIT = 2.0  # |mean| or std of the inputs above 2 (standardised: 0 and 1)
MODE_GAP = 0.2  # eval-mode accuracy above the patient's by more than 0.2


def shows_cause(run: PatientRun) -> bool:
    """Whether the run still shows its patient's cause in the clinic's own evidence."""
    e, cause = run.evidence, run.patient.cause
    tests = {
        "dead relus": e["dead_share"] > DEAD_LIMIT,
        "vanishing": e["gradient_ratio"] < 1e-3,
        "no zero_grad": e["grad_growth"] > GROWTH_LIMIT,
        "softmax before loss": bool(run.settings.get("softmax_output")),
        "init gain": e["saturated_share"] > SATURATED_LIMIT or e["gradient_ratio"] > 1e3,
        "bn train mode": e["eval_mode_accuracy"] - e["test_score"] > MODE_GAP,
        "exploding rnn": math.isfinite(e["diverged_step"]) or e["gradient_ratio"] > 1e3,
        "unscaled inputs": abs(e["input_mean"]) > INPUT_LIMIT or e["input_std"] > INPUT_LIMIT,
        "lr too high": math.isfinite(e["diverged_step"]),
    }
    return bool(tests[cause])


def gradient_profile(run: PatientRun) -> list[float]:
    """Per layer with weights, input to output: the median over the training steps of the
    gradient norm reaching its output, ‖∂L/∂z‖ (what ``diagnose_run``'s ratio compares)."""
    series = run.flow.series("output_grad_norm", kind="weights", with_gradients=True)
    return [_median(values) for values in series.values()]


def plot_run(run: PatientRun, ax_loss: Any, ax_profile: Any, label: str,
             colour: str) -> None:
    """A run's minibatch loss per step (log scale) on ``ax_loss`` and its per-layer gradient
    profile (``gradient_profile``) on ``ax_profile``, in one colour; a NaN/inf loss is
    marked with an ×."""
    losses = run.history.step_loss
    ax_loss.semilogy(range(1, len(losses) + 1), losses, color=colour, label=label, lw=1.2)
    if run.history.diverged:
        ax_loss.semilogy([len(losses) + 1], [max(losses[-1], 1e-3)], "x", color=colour, ms=10,
                         mew=2)
    profile = gradient_profile(run)
    ax_profile.semilogy(range(1, len(profile) + 1), profile, "o-", color=colour, label=label)
