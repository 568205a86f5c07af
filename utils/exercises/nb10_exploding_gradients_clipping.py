"""Exercises of 10_exploding_gradients_clipping: clipping by norm from scratch, choosing
``max_norm`` from a logged run, and telling an exploding gradient from a too-high learning
rate."""

import numpy as np

from utils.exercises.core import (
    Case,
    Exercise,
    Slip,
    Wrong,
    as_float,
    batch_cases,
    expect_close,
    function_exercise,
    register,
    result_parts,
)

# --- 10.1 · Clip by norm ------------------------------------------------------------------

_CLIP_NAMES = ("clipped", "norm")
_CLIP_HINTS = [
    "All the arrays together are one gradient vector: measure its length once, over every "
    "entry of every array, and shrink every array by the same factor only when that length "
    "is above max_norm. Report the length you measured first.",
    "norm = √(Σ over all arrays of Σ g²); factor = min(1, max_norm / (norm + 1e-6)); every "
    "array becomes factor · g; return the list and the norm before clipping.",
]
EPS = 1e-6
_PAIR = "clip_by_norm should return a pair (clipped, norm)."


def _norm(grads):
    return float(np.sqrt(sum(float((g ** 2).sum()) for g in grads)))


def _clip_reference(grads, max_norm):
    norm = _norm(grads)
    factor = min(1.0, max_norm / (norm + EPS))
    return [g * factor for g in grads], norm


def _per_tensor(grads, max_norm):
    clipped = [g * min(1.0, max_norm / (_norm([g]) + EPS)) for g in grads]
    return clipped, _norm(grads)


def _post_clip_norm(grads, max_norm):
    clipped, _ = _clip_reference(grads, max_norm)
    return clipped, _norm(clipped)


def _always_rescale(grads, max_norm):
    norm = _norm(grads)
    return [g * max_norm / (norm + EPS) for g in grads], norm


def _by_value(grads, max_norm):
    return [np.clip(g, -max_norm, max_norm) for g in grads], _norm(grads)


def _clip_case(n, rng):
    grads = [rng.normal(size=(n, 3)) * 4.0, rng.normal(size=n), rng.normal(size=(2, n))]
    return (grads, 1.5)


_CLIP_CASES = [
    Case(([np.array([3.0, 0.0]), np.array([[0.0], [4.0]])], 1.0),
         "two arrays whose entries 3 and 4 make a total norm of 5, max_norm=1"),
    Case(([np.array([0.3, -0.4]), np.array([[0.1, 0.2]])], 1.0),
         "a gradient of norm 0.55, below max_norm=1 (nothing to clip)"),
    Case(([np.array([6.0, -8.0, 0.5]), np.array([0.01])], 2.0),
         "arrays of shapes (3,) and (1,), max_norm=2"),
    *batch_cases(_clip_case, "three arrays of shapes ({n}, 3), ({n},), (2, {n}), max_norm=1.5",
                 seed=101),
]


def _compare_clip(got, expected, case):
    right_clipped, right_norm = expected
    if isinstance(got, (list, tuple)) and len(got) == len(right_clipped) and all(
            isinstance(part, np.ndarray) and part.ndim >= 1 for part in got):
        raise Wrong(_PAIR, expected="(clipped, norm)", got=f"a list of {len(got)} arrays",
                    hint="End with `return clipped, norm`.")
    clipped, norm = result_parts(got, _CLIP_NAMES, "clip_by_norm")
    if not isinstance(clipped, (list, tuple)) or len(clipped) != len(right_clipped):
        raise Wrong(f"clipped should be a list of {len(right_clipped)} arrays, one per "
                    f"gradient, on {case.label}.", expected=f"a list of {len(right_clipped)}",
                    got=type(clipped).__name__ if not isinstance(clipped, (list, tuple))
                    else f"a list of {len(clipped)}")
    for index, (part, right) in enumerate(zip(clipped, right_clipped)):
        expect_close(part, right, what=f"clipped[{index}] on {case.label}", rtol=1e-5,
                     atol=1e-9)
    value = as_float(norm, "norm")
    if not np.isclose(value, right_norm, rtol=1e-9, atol=1e-12):
        raise Wrong(f"norm on {case.label} is off.", expected=f"{right_norm:.6g}",
                    got=f"{value:.6g}")


function_exercise(
    "10.1", "Clip by norm", "clip_by_norm", _clip_reference, _CLIP_CASES, hints=_CLIP_HINTS,
    compare=_compare_clip, unnamed_when_same=True, rtol=1e-5,
    success="One factor for all the arrays keeps the gradient's direction, and the norm you "
            "return is the one measured before clipping, as torch.nn.utils.clip_grad_norm_ "
            "returns it: log it to see how often clipping fires.",
    slips=[
        Slip("each array on its own", _per_tensor,
             message="You clipped each array to max_norm on its own: the total gradient can "
                     "still be longer than max_norm (up to √(number of arrays) times), and "
                     "arrays shrink by different factors, so the direction changes. Clip by "
                     "the norm of all of them together.",
             hint="Is the length measured per array, or over all of them at once?"),
        Slip("the norm after clipping", _post_clip_norm,
             message="The arrays are right, but you returned the norm *after* clipping: it "
                     "is never above max_norm, so a log of it cannot show how large the "
                     "gradients were or how often clipping fired. Return the norm measured "
                     "before clipping (as torch.nn.utils.clip_grad_norm_ does).",
             hint="Which norm tells you whether clipping fired?"),
        Slip("rescales every gradient", _always_rescale,
             message="You rescale every gradient to length max_norm, also those that are "
                     "shorter: a small gradient gets *longer*. Clipping only shrinks, and "
                     "leaves a gradient below max_norm as it is.",
             hint="What should happen to a gradient that is already short enough?"),
        Slip("clips each entry", _by_value,
             message="You clamped each entry into [−max_norm, max_norm]: that is clipping by "
                     "value, which cuts large entries and keeps small ones, so the direction "
                     "changes and the total norm can stay above max_norm. Clipping by norm "
                     "multiplies every entry by one factor.",
             hint="Should the entries be cut one by one, or all scaled together?"),
        Slip("the list only", lambda grads, max_norm: _clip_reference(grads, max_norm)[0],
             message=_PAIR, compared=False),
    ],
)

# --- 10.2 · Choose max_norm from a logged run ---------------------------------------------

_PICK_HINTS = [
    "If a share of the steps should be clipped, max_norm is the value that this share of "
    "the logged norms lies above. Which statistic of a sample is that?",
    "max_norm = the (1 − share)-quantile of the logged norms: a share `share` of them lies "
    "above it (NumPy has a function for quantiles).",
]


def _pick_reference(norms, share):
    return float(np.quantile(norms, 1 - share))


def _pick_case(n, rng):
    return (np.exp(rng.normal(size=4 * n + 8)), 0.1)


_PICK_CASES = [
    Case((np.arange(1.0, 21.0), 0.1), "norms 1, 2, …, 20 with share=0.1"),
    Case((np.array([0.5, 4.0, 1.0, 2.0, 0.8, 1.2, 30.0, 1.1, 0.9, 1.5]), 0.2),
         "ten logged norms with one spike (30), share=0.2"),
    *batch_cases(_pick_case, "{n} lognormal norms, share=0.1", seed=102),
]


def _compare_pick(got, expected, case):
    value = as_float(got, "max_norm")
    norms, share = case.args
    low, high = (float(np.quantile(norms, 1 - share, method=m)) for m in ("lower", "higher"))
    if not (low - 1e-9 <= value <= high + 1e-9 or np.isclose(value, expected, rtol=1e-9)):
        above = float(np.mean(np.asarray(norms) > value))
        raise Wrong(f"With your max_norm, {above:.0%} of the logged steps on {case.label} "
                    f"would be clipped, not {share:.0%}.",
                    expected=f"{expected:.6g} (between {low:.6g} and {high:.6g})",
                    got=f"{value:.6g}")


function_exercise(
    "10.2", "Choose max_norm from a logged run", "pick_max_norm", _pick_reference,
    _PICK_CASES, hints=_PICK_HINTS, compare=_compare_pick, unnamed_when_same=True,
    success="A high quantile of a healthy run's norms clips only the rare large steps: the "
            "spikes. Any value between the two logged norms around it clips the same steps "
            "(NumPy's quantile methods differ only there).",
    slips=[
        Slip("the quantile of the share", lambda norms, share: float(np.quantile(norms, share)),
             message="Your max_norm has `share` of the norms *below* it, so 1 − share of the "
                     "steps (most of them) would be clipped. The share should lie above it.",
             hint="Which side of max_norm should the clipped steps be on?"),
        Slip("the largest norm", lambda norms, share: float(np.max(norms)),
             message="The largest logged norm clips nothing in this run: the spikes you want "
                     "to cut are the ones that set it.",
             hint="How many logged steps lie above the largest one?"),
        Slip("the median", lambda norms, share: float(np.median(norms)),
             message="The median clips half of the steps: clipping then fires on every other "
                     "step and slows all of training down, not just the spikes.",
             hint="What share of the steps lies above the median?"),
        Slip("the mean", lambda norms, share: float(np.mean(norms)),
             message="The mean is pulled up by the spikes themselves and says nothing about "
                     "how many steps would be clipped: use a statistic that fixes that share.",
             hint="Which statistic fixes the share of steps above it?"),
    ],
)

# --- 10.3 · Exploding gradient or too-high learning rate? ---------------------------------

CAUSES = ("exploding", "learning rate")
_DIAGNOSIS_NUDGE = ("For each run, compare the gradient at the start of the network (the "
                    "first layer, or the earliest time step) with the one at its end.")
_DIAGNOSIS_FORMULA = ("A flat profile (first / last ≈ 1) with a blow-up means the same step is "
                      "too big at every layer: a too-high learning rate. A profile that grows "
                      "by orders of magnitude toward the input or the early time steps is a "
                      "product of Jacobians above 1: an exploding gradient.")
_FLAT = ("Run A's gradient profile is flat (the first layer's gradient is about the last "
         "one's): nothing multiplies up through the layers, yet the loss blew up, so every "
         "layer's step is too big: the learning rate.")
_GROWING = ("Run B's gradient at the earliest time step is orders of magnitude above the last "
            "step's: a product of recurrent Jacobians larger than 1. That is an exploding "
            "gradient, whatever the learning rate.")
_ALIASES = {"exploding": "exploding", "exploding gradient": "exploding",
            "exploding gradients": "exploding", "learning rate": "learning rate",
            "lr": "learning rate", "too-high learning rate": "learning rate",
            "too high learning rate": "learning rate", "learning rate too high": "learning rate"}


def _cause(value, run):
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in _ALIASES:
        raise Wrong(f"The cause of run {run} should be \"exploding\" or \"learning rate\".",
                    expected="\"exploding\" or \"learning rate\"", got=repr(value)[:60])
    return _ALIASES[text]


def _check_diagnosis(diagnosis):
    if not isinstance(diagnosis, dict) or set(diagnosis) != {"A", "B"}:
        raise Wrong("diagnosis should be a dict with the keys \"A\" and \"B\", e.g. "
                    "{\"A\": \"exploding\", \"B\": \"learning rate\"}.",
                    expected="{\"A\": …, \"B\": …}", got=repr(diagnosis)[:60])
    a, b = _cause(diagnosis["A"], "A"), _cause(diagnosis["B"], "B")
    if (a, b) == ("learning rate", "exploding"):
        return ("Right: run A's profile is flat and its loss blew up anyway (lower the "
                "learning rate); run B's gradient grows toward the early time steps (clip, or "
                "re-initialise W_hh with a smaller scale).")
    problems = [] if a == "learning rate" else [_FLAT]
    problems += [] if b == "exploding" else [_GROWING]
    raise Wrong(" ".join(problems), got=f"A: {a}, B: {b}",
                hint=[_DIAGNOSIS_NUDGE, _DIAGNOSIS_FORMULA])


register(Exercise(
    id="10.3",
    title="Exploding gradient or too-high learning rate?",
    answer_name="diagnosis",
    checker=_check_diagnosis,
    hints=[_DIAGNOSIS_NUDGE, _DIAGNOSIS_FORMULA],
    wrong_answers=[
        Slip("swapped", {"A": "exploding", "B": "learning rate"}, message=f"{_FLAT} {_GROWING}",
             compared=False),
        Slip("both exploding", {"A": "exploding", "B": "exploding"}, message=_FLAT,
             compared=False),
        Slip("both the learning rate", {"A": "learning rate", "B": "learning rate"},
             message=_GROWING, compared=False),
        Slip("a pair instead of a dict", ("learning rate", "exploding"),
             message="diagnosis should be a dict with the keys \"A\" and \"B\", e.g. "
                     "{\"A\": \"exploding\", \"B\": \"learning rate\"}.", compared=False),
        Slip("another word", {"A": "vanishing", "B": "exploding"},
             message="The cause of run A should be \"exploding\" or \"learning rate\".",
             compared=False),
    ],
))

