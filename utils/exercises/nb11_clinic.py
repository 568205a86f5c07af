"""Exercises of 11_capstone, the clinic: name each patient's cause (11.1), then fix patients
and let the check re-run them (11.2). The patients are ``utils.clinic.PATIENTS``; the check
reads each run's evidence (``PatientRun.evidence``) at the course seed, so a wrong guess is
explained by what that run measured."""

from __future__ import annotations

import math
from typing import Any

from utils.exercises.core import Exercise, Slip, Unreadable, Wrong, register

# --- shared -------------------------------------------------------------------------------


def _run(name: str, **changes: Any):
    """The patient's run at the course seed (cached by utils.clinic)."""
    from utils.clinic import run_patient
    from utils.setup import current_seed

    return run_patient(name, current_seed(), **changes)


def _patients() -> dict:
    from utils.clinic import PATIENTS

    return PATIENTS


def _causes() -> dict:
    from utils.clinic import CAUSES

    return CAUSES


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _step(e: dict) -> str:
    return f"{e['diverged_step']:.0f}"


# --- 11.1 · Name the cause ---------------------------------------------------------------

#: Other words a learner may use for a cause (lower case, spaces for _ and -).
ALIASES = {
    "dead relu": "dead relus", "dead units": "dead relus", "dead": "dead relus",
    "dying relu": "dead relus", "dying relus": "dead relus",
    "vanishing gradient": "vanishing", "vanishing gradients": "vanishing",
    "missing zero grad": "no zero grad", "accumulating": "no zero grad",
    "no zerograd": "no zero grad", "zero grad": "no zero grad",
    "double softmax": "softmax before loss", "loss floor": "softmax before loss",
    "softmax": "softmax before loss",
    "wrong init gain": "init gain", "init": "init gain", "gain": "init gain",
    "bn mode": "bn train mode", "batch norm train mode": "bn train mode",
    "batch norm": "bn train mode",
    "exploding": "exploding rnn", "exploding gradient": "exploding rnn",
    "exploding gradients": "exploding rnn",
    "unscaled inputs": "unscaled inputs", "unstandardized inputs": "unscaled inputs",
    "unstandardised inputs": "unscaled inputs", "inputs": "unscaled inputs",
    "lr": "lr too high", "learning rate": "lr too high",
    "learning rate too high": "lr too high", "too high learning rate": "lr too high",
}


def _plain(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").replace("-", " ").split())


def cause_of(value: object, patient: str) -> str:
    """The cause a learner named for ``patient``, as a key of ``utils.clinic.CAUSES``."""
    causes = {_plain(c): c for c in _causes()}
    text = _plain(value) if isinstance(value, str) else None
    if text in causes:
        return causes[text]
    if text in ALIASES and _plain(ALIASES[text]) in causes:
        return causes[_plain(ALIASES[text])]
    listed = ", ".join(f'"{c}"' for c in _causes())
    raise Unreadable(f"The cause of patient {patient} should be one of {listed}; got "
                     f"{str(value)[:40]!r}.", expected="a cause from the list",
                     got=repr(value)[:60])


def _settings(patient: str) -> dict:
    return _patients()[patient].settings


def _against(guess: str, patient: str, e: dict) -> str | None:
    """Why the evidence of ``patient``'s run rules ``guess`` out (None: it does not)."""
    s = _settings(patient)
    diverged = math.isfinite(e["diverged_step"])
    recurrent = e["recurrent"] > 0
    if guess == "dead relus":
        if recurrent or s.get("activation") != "relu":
            kind = "a recurrent tanh net" if recurrent else f"{s['activation']} units"
            return f"{patient} has {kind}, no ReLU: no unit can die."
        if diverged:
            return (f"{patient}'s loss became NaN/inf at step {_step(e)}; dead units leave a "
                    "finite loss that stops falling, they do not make it blow up.")
        if e["dead_share"] <= 0.5:
            return (f"At the end no hidden layer of {patient} has more than "
                    f"{_pct(e['dead_share'])} dead units (silent on every training image).")
        return None
    if guess == "vanishing":
        if diverged:
            return (f"{patient}'s loss became NaN/inf at step {_step(e)}: something grew, "
                    "a vanishing gradient only stalls training.")
        if e["gradient_ratio"] >= 1e-3:
            return (f"{patient}'s first layer receives {e['gradient_ratio']:.2g} × the last "
                    "layer's gradient (median over the steps): nothing vanishes, which would "
                    "take a ratio far below 1e-3.")
        return None
    if guess == "no zero_grad":
        if diverged and not e["grad_growth"] > 3:
            return (f"{patient}'s loss became NaN/inf already at step {_step(e)}, before "
                    "gradients could pile up over many steps.")
        if not e["grad_growth"] > 3:
            return (f"{patient}'s gradient norm in the last fifth of the steps is "
                    f"{e['grad_growth']:.2g} × the first fifth's: gradients that add up "
                    "grow step after step.")
        return None
    if guess == "softmax before loss":
        if recurrent:
            return f"{patient} is a regression (mean squared error): there is no softmax."
        if diverged:
            return (f"{patient}'s loss became NaN/inf; after a double softmax the loss stays "
                    "between ln(1 + 9/e) ≈ 1.46 and ln(e + 9) ≈ 2.46, it cannot blow up.")
        if e["best_loss"] < 1.46:
            return (f"{patient}'s best training loss, {e['best_loss']:.3g}, is below "
                    "ln(1 + 9/e) ≈ 1.46, the lowest a softmax before CrossEntropyLoss allows.")
        if e["train_accuracy"] < 0.2:
            return (f"{patient}'s training accuracy stays at {_pct(e['train_accuracy'])} (chance "
                    "is 10%): it learns nothing, while a double softmax still learns to "
                    "classify, only its loss cannot fall below 1.46.")
        return None
    if guess == "init gain":
        if recurrent:
            return None
        if e["saturated_share"] <= 0.5 and 1e-3 <= e["gradient_ratio"] <= 1e3:
            return (f"{patient}'s units are not saturated (at most "
                    f"{_pct(e['saturated_share'])} in a layer, median over the steps) and its "
                    f"first / last layer gradient ratio is {e['gradient_ratio']:.2g}: a "
                    "too-large gain saturates tanh units or grows the gradient by orders of "
                    "magnitude.")
        return None
    if guess == "bn train mode":
        if not e["has_batch_norm"]:
            return f"{patient} has no batch norm layer."
        if not e["eval_mode_accuracy"] - e["test_score"] > 0.2:
            return (f"{patient} scores {_pct(e['test_score'])} as it is evaluated and "
                    f"{_pct(e['eval_mode_accuracy'])} in eval mode: the mode makes no "
                    "difference.")
        return None
    if guess == "exploding rnn":
        return None if recurrent else f"{patient} is not a recurrent net (an MLP on the digits)."
    if guess == "unscaled inputs":
        if abs(e["input_mean"]) <= 2 and e["input_std"] <= 2:
            return (f"{patient}'s inputs have mean {e['input_mean']:.2g} and standard "
                    f"deviation {e['input_std']:.2g}: already on the scale of a standardised "
                    "input.")
        return None
    if guess == "lr too high":
        if not diverged:
            return (f"{patient}'s loss stayed finite for the whole run (best "
                    f"{e['best_loss']:.3g}): in this clinic \"lr too high\" is the run whose "
                    "loss becomes NaN/inf.")
        return None
    return None


def signature(cause: str, patient: str, e: dict) -> str:
    """The evidence that points to ``cause`` in ``patient``'s run, as a sentence."""
    sentences = {
        "dead relus": f"{_pct(e['dead_share'])} of the units of one of {patient}'s layers are "
                      "dead at the end (silent on every training image)",
        "vanishing": f"{patient}'s first layer receives {e['gradient_ratio']:.1e} × the last "
                     "layer's gradient",
        "no zero_grad": f"{patient}'s gradient norm grows {e['grad_growth']:.3g}-fold from the "
                        "first fifth of the steps to the last",
        "softmax before loss": f"{patient}'s training accuracy reaches "
                               f"{_pct(e['train_accuracy'])} while its loss never goes below "
                               f"{e['best_loss']:.3g}",
        "init gain": f"a median {_pct(e['saturated_share'])} of the units of one of "
                     f"{patient}'s tanh layers are saturated",
        "bn train mode": f"the same weights score {_pct(e['eval_mode_accuracy'])} in eval mode "
                         f"and {_pct(e['test_score'])} as {patient} is evaluated",
        "exploding rnn": f"{patient} is recurrent, its gradient norm reached "
                         f"{e['max_grad_norm']:.2g} and its loss became NaN/inf at step "
                         f"{_step(e)}",
        "unscaled inputs": f"{patient}'s inputs have mean {e['input_mean']:.2g} and standard "
                           f"deviation {e['input_std']:.2g}",
        "lr too high": f"{patient}'s loss became NaN/inf at step {_step(e)}, with standardised "
                       "inputs, a shallow ReLU net and nothing saturated or dead before",
    }
    return sentences[cause]


def explain_guess(guess: str, patient: str) -> str:
    """Why ``guess`` is not ``patient``'s cause, from what its run measured."""
    e = _run(patient).evidence
    truth = _patients()[patient].cause
    against = _against(guess, patient, e)
    if against is not None:
        return f"{patient}: not \"{guess}\". {against}"
    return (f"{patient}: not \"{guess}\". Its evidence could fit at first sight, but look "
            f"closer: {signature(truth, patient, e)}.")


_NAME_NUDGE = ("Read each patient's evidence in the order of section 1: did the loss become "
               "NaN (and where first)? Is the loss stuck, and where (ln 10, or higher "
               "accuracy with a high loss)? Then the gradient profile, then the units (dead, "
               "saturated), then the setup (inputs, modes, zero_grad).")
_NAME_FORMULA = ("The signatures: loss NaN/inf with standardised inputs and a shallow net → "
                 "lr too high; NaN with inputs of mean ≈ 5, std ≈ 6 → unscaled inputs; NaN in "
                 "a recurrent net → exploding rnn; first/last gradient ≪ 1e-3 → vanishing; "
                 "> 50% of a ReLU layer dead → dead relus; > 50% of tanh units saturated → "
                 "init gain; gradient norm growing step after step → no zero_grad; loss "
                 "stuck above ln(1 + 9/e) with rising accuracy → softmax before loss; "
                 "eval-mode accuracy far above the reported one → bn train mode.")
_DICT = ("causes should be a dict {patient: cause} with the patients A to H as keys and a "
         "cause from the list as each value.")


def _check_causes(causes: object) -> str:
    patients = _patients()
    if not isinstance(causes, dict):
        raise Unreadable(_DICT, expected="{patient: cause}", got=type(causes).__name__)
    unknown = [k for k in causes if k not in patients]
    if unknown:
        raise Unreadable(f"There is no patient {str(unknown[0])[:20]!r}; the patients are "
                         f"{', '.join(patients)}.", expected=", ".join(patients),
                         got=", ".join(map(str, causes))[:60])
    named = {p: cause_of(value, p) for p, value in causes.items()}
    wrong = [p for p in named if named[p] != patients[p].cause]
    missing = [p for p in patients if p not in named]
    if wrong:
        right = len(named) - len(wrong)
        lines = [explain_guess(named[p], p) for p in wrong]
        raise Wrong(f"{right} of {len(patients)} causes are right; not right: "
                    + " ".join(lines), expected=f"{len(patients)} right causes",
                    got=f"{right} right")
    if missing:
        raise Unreadable(f"All {len(named)} causes you named are right; still to name: "
                         f"{', '.join(missing)}.", expected=f"{len(patients)} causes",
                         got=f"{len(named)}")
    return ("Right, all eight. Each cause left its own trace in the evidence: where the loss "
            "went (NaN, ln 10, a floor), the gradient profile, the units, and the setup. "
            "Exercise 11.2 asks you to fix them.")


_RIGHT_CAUSES = {"A": "dead relus", "B": "vanishing", "C": "no zero_grad",
                 "D": "softmax before loss", "E": "init gain", "F": "bn train mode",
                 "G": "exploding rnn", "H": "unscaled inputs"}


def _with(**changes: str) -> dict:
    return {**_RIGHT_CAUSES, **changes}


register(Exercise(
    id="11.1",
    title="Name the cause",
    answer_name="causes",
    checker=_check_causes,
    hints=[_NAME_NUDGE, _NAME_FORMULA],
    wrong_answers=[
        Slip("the raw inputs called a learning rate", _with(H="lr too high"),
             message="7 of 8 causes are right; not right: H: not \"lr too high\". Its "
                     "evidence could fit at first sight, but look closer: H's inputs have "
                     "mean", compared=False, varies=True),
        Slip("the dead ReLUs called a learning rate", _with(A="lr too high"),
             message="7 of 8 causes are right; not right: A: not \"lr too high\". A's loss "
                     "stayed finite", compared=False, varies=True),
        Slip("vanishing for the saturated net", _with(E="vanishing"),
             message="7 of 8 causes are right; not right: E: not \"vanishing\". E's first "
                     "layer receives", compared=False, varies=True),
        Slip("the BN patient called vanishing", _with(F="vanishing"),
             message="7 of 8 causes are right; not right: F: not \"vanishing\".",
             compared=False, varies=True),
        Slip("the softmax patient called vanishing", _with(D="vanishing"),
             message="7 of 8 causes are right; not right: D: not \"vanishing\". D's first "
                     "layer receives", compared=False, varies=True),
        Slip("the exploding RNN called lr too high", _with(G="lr too high"),
             message="7 of 8 causes are right; not right: G: not \"lr too high\".",
             compared=False, varies=True),
        Slip("a symptom instead of a cause", _with(C="gradient spikes"),
             message="The cause of patient C should be one of", compared=False, varies=True),
        Slip("an unknown patient", {"Z": "vanishing"},
             message="There is no patient 'Z'; the patients are A, B, C, D, E, F, G, H.",
             compared=False),
        Slip("a list instead of a dict", list(_RIGHT_CAUSES.values()), message=_DICT,
             compared=False),
    ],
))

# --- 11.2 · Fix the patients ---------------------------------------------------------------

MIN_FIXED = 3
_FIX_NUDGE = ("A fix changes the settings that are the fault, and only those: look at the "
              "patient's settings (PATIENTS[name].settings) next to a healthy run's "
              "(HEALTHY_MLP) and at the cause you named in 11.1.")
_FIX_FORMULA = ("Undo the fault itself: zero_grad=True (and give back the learning rate that "
                "was lowered to hide the blow-ups), softmax_output=False, eval_mode=True, "
                "standardize=True; for dying units a learning rate 10 times smaller; an init "
                "whose gain keeps the signal's variance (gain None: the init's own) or a net "
                "that keeps it (batch norm); recurrent weights of scale 1.")
_FIXES_DICT = ("fixes should be a dict {patient: {setting: value}}, e.g. a patient's name "
               "and the settings you change (keyword arguments of run_patient).")


def _fix_verdict(patient: str, changes: dict) -> str | None:
    """None when the fix cures the patient, else what is still wrong (from the re-run)."""
    from utils.clinic import SEQUENCE_BASELINE, TRAINED_ACCURACY, TRAINED_LOSS

    run = _run(patient, **changes)
    e = run.evidence
    if run.cured:
        return None
    if run.patient.task == "sequence":
        trained = (f"best test MSE {e['test_score']:.3g} (it trains below "
                   f"{0.3 * SEQUENCE_BASELINE:.3g}, 0.3 × the baseline)")
    else:
        trained = (f"best training loss {e['best_loss']:.3g} (needs < {TRAINED_LOSS}), "
                   f"test accuracy {e['test_score']:.3g} (needs > {TRAINED_ACCURACY})")
    if math.isfinite(e["diverged_step"]):
        return (f"{patient} with {changes}: the loss still became NaN/inf, at step "
                f"{_step(e)}.")
    if run.trains:
        return (f"{patient} with {changes} trains ({trained}), but the fault is still there: "
                f"{signature(run.patient.cause, patient, e)}. The fix works around it; undo "
                "the fault itself.")
    from utils.clinic import shows_cause

    if not run.named and not shows_cause(run):
        return (f"{patient} with {changes}: the symptom is gone, but the run does not learn: "
                f"{trained}. "
                + (run.patient.note if changes.get("zero_grad") is True and run.patient.note
                   else "That hides the problem instead of fixing it."))
    return (f"{patient} with {changes} is still ill: {trained}; the doctor says: "
            f"{', '.join(run.diagnosis.conditions) or 'nothing'}.")


def _check_fixes(fixes: object) -> str:
    from utils.clinic import PATIENTS

    if not isinstance(fixes, dict) or not fixes:
        raise Unreadable(_FIXES_DICT, expected="{patient: {setting: value}}",
                         got=type(fixes).__name__)
    for patient, changes in fixes.items():
        if patient not in PATIENTS:
            raise Unreadable(f"There is no patient {str(patient)[:20]!r}; the patients are "
                             f"{', '.join(PATIENTS)}.", expected=", ".join(PATIENTS),
                             got=str(patient)[:20])
        if not isinstance(changes, dict) or not changes:
            raise Unreadable(f"The fix of patient {patient} should be a dict of the settings "
                             f"you change, got {changes!r}."[:200],
                             expected="{setting: value}", got=type(changes).__name__)
        unknown = [k for k in changes if k not in PATIENTS[patient].settings]
        if unknown:
            raise Unreadable(f"Patient {patient} has no setting {str(unknown[0])[:30]!r}; its "
                             f"settings are {', '.join(PATIENTS[patient].settings)}.",
                             expected="one of its settings", got=str(unknown[0])[:30])
    problems = []
    for patient, changes in fixes.items():
        try:
            verdict = _fix_verdict(patient, changes)
        except Exception as error:  # a setting the network cannot be built or trained with
            raise Unreadable(f"Patient {patient}: {error}"[:300], expected="a valid setting",
                             got=str(changes)[:60]) from None
        if verdict:
            problems.append(verdict)
    if problems:
        raise Wrong(" ".join(problems), expected="a run that trains, with the fault gone",
                    got=f"{len(fixes) - len(problems)} of {len(fixes)} cured")
    if len(fixes) < MIN_FIXED:
        raise Unreadable(f"{', '.join(fixes)} cured; fix at least {MIN_FIXED} patients.",
                         expected=f"{MIN_FIXED} patients", got=str(len(fixes)))
    return (f"All {len(fixes)} re-ran, trained, and the doctor no longer names their "
            "cause. Each fix undid the fault itself rather than a symptom of it.")


register(Exercise(
    id="11.2",
    title="Fix the patients",
    answer_name="fixes",
    checker=_check_fixes,
    hints=[_FIX_NUDGE, _FIX_FORMULA],
    wrong_answers=[
        Slip("a smaller lr for the raw inputs", {"H": {"lr": 0.01}},
             message="H with {'lr': 0.01} trains (", compared=False, varies=True),
        Slip("clipping the exploding RNN", {"G": {"clip_norm": 1.0}},
             message="G with {'clip_norm': 1.0}: the symptom is gone, but the run does not "
                     "learn:", compared=False, varies=True),
        Slip("the healthy lr without zero_grad", {"C": {"lr": 0.1}},
             message="C with {'lr': 0.1}", compared=False, varies=True),
        Slip("a setting that does not exist", {"A": {"learning_rate": 0.01}},
             message="Patient A has no setting 'learning_rate'; its settings are",
             compared=False, varies=True),
        Slip("a number instead of a dict", {"A": 0.01},
             message="The fix of patient A should be a dict of the settings you change, "
                     "got 0.01.", compared=False),
    ],
))
