"""Exercise 11.3 of 11_capstone: inverted dropout from scratch.

A dropout function is random, so the check does not compare the learner's output with a
reference entry by entry: it measures properties on large inputs (the share of entries
zeroed, the value of the survivors, whether every example gets its own mask, what happens
in evaluation mode) and names the typical slip each failed property points to.
"""

import numpy as np

from utils.exercises.core import (
    Convention,
    Exercise,
    OtherConvention,
    Slip,
    Wrong,
    as_array,
    call_learner,
    register,
)

P = 0.2
SHAPE = (400, 50)
#: How far the share of zeroed entries may stray from p (400 × 50 entries: its standard
#: deviation is 0.003 for an entry-wise mask, 0.057 for one mask of 50 units per batch).
SHARE_TOLERANCE = 0.03

_NUDGE = ("In training, each entry should vanish with probability p, on its own (independently "
          "of the other entries and of the other examples in the batch), and the output should "
          "still equal x on average. In evaluation nothing random happens.")
_FORMULA = ("Draw u uniform in [0, 1), one per entry of x; m = 1 where u ≥ p, else 0. Training: "
            "y = m·x/(1 − p), so E[y] = x. Evaluation: y = x.")

_P_AS_KEEP = ("About 1 − p of the entries came back zero instead of p: you used p as the "
              "probability of keeping a unit (as the original dropout paper writes it). Here, "
              "as in nn.Dropout, p is the probability of dropping it.")
_NO_RESCALE = ("The right share of entries is zeroed, but the survivors keep their value, so "
               "the output is (1 − p)·x on average instead of x: in training the survivors "
               "must be scaled up to make up for the dropped ones.")
_EVAL_DROPS = ("In evaluation mode your function still drops or scales entries: at "
               "evaluation dropout must do nothing, the output is x itself.")
_ONE_MASK = ("Every example in the batch lost the same units: you drew one mask for the whole "
             "batch and broadcast it. Draw one random number per entry of x, so that each "
             "example gets its own mask.")
_PAPER = ("This is the convention of the original dropout paper (Srivastava et al. 2014): "
          "no scaling in training, and the activations multiplied by 1 − p at test time. The "
          "expectations are the same, so it is not wrong, but this exercise (like nn.Dropout) "
          "uses inverted dropout: scale the survivors by 1/(1 − p) in training and leave "
          "evaluation untouched.")


def _reference(x, p, training, rng):
    if not training:
        return x.copy()
    keep = rng.random(x.shape) >= p
    return x * keep / (1 - p)


def _p_as_keep(x, p, training, rng):
    if not training:
        return x.copy()
    keep = rng.random(x.shape) < p
    return x * keep / p


def _no_rescale(x, p, training, rng):
    if not training:
        return x.copy()
    return x * (rng.random(x.shape) >= p)


def _drops_in_eval(x, p, training, rng):
    return x * (rng.random(x.shape) >= p) / (1 - p)


def _one_mask(x, p, training, rng):
    if not training:
        return x.copy()
    return x * (rng.random(x.shape[1:]) >= p) / (1 - p)


def _paper_convention(x, p, training, rng):
    if not training:
        return x * (1 - p)
    return x * (rng.random(x.shape) >= p)


_CONVENTIONS = [Convention("scale at test time (Srivastava et al. 2014)", _paper_convention,
                           _PAPER)]


def _run(dropout, x, training, seed):
    out = as_array(call_learner(dropout, x, P, training, np.random.default_rng(seed),
                                name="dropout"), "dropout's output")
    if out.shape != x.shape:
        raise Wrong(f"dropout returned shape {out.shape} for an input of shape {x.shape}; "
                    "dropout keeps the shape.", expected=str(x.shape), got=str(out.shape),
                    hint="Multiply x by a mask of its own shape.")
    return out


def _check_dropout(dropout):
    rng = np.random.default_rng(2014)
    ones, x = np.ones(SHAPE), rng.normal(size=SHAPE)
    evaluated = _run(dropout, x, False, 1)
    train_ones = _run(dropout, ones, True, 2)
    zeroed = float(np.mean(train_ones == 0))
    survivors = train_ones[train_ones != 0]
    if not np.allclose(evaluated, x, rtol=1e-6, atol=1e-7):
        if (np.allclose(evaluated, (1 - P) * x, rtol=1e-6, atol=1e-7)
                and abs(zeroed - P) < SHARE_TOLERANCE and np.allclose(survivors, 1.0)):
            raise OtherConvention(_CONVENTIONS[0], expected="evaluation: x; training: the "
                                  "survivors scaled by 1/(1 − p)",
                                  got="evaluation: (1 − p)·x; training: survivors unscaled")
        raise Wrong(_EVAL_DROPS, expected="dropout(x, p, False, rng) equal to x",
                    got=f"{np.mean(evaluated == 0):.0%} zeros, largest change "
                        f"{np.abs(evaluated - x).max():.3g}",
                    hint="What should `training=False` change in your function?")
    if abs(zeroed - (1 - P)) < SHARE_TOLERANCE:
        raise Wrong(_P_AS_KEEP, expected=f"about {P:.0%} of the entries zeroed at p = {P}",
                    got=f"{zeroed:.1%} zeroed",
                    hint="Is p the chance that an entry is dropped, or that it is kept?")
    mask = train_ones == 0
    if mask.any() and (mask == mask[0]).all():
        raise Wrong(_ONE_MASK, expected="a different set of zeroed units in each row",
                    got="the same units zeroed in all 400 rows",
                    hint="What shape should the array of random numbers have?")
    if abs(zeroed - P) >= SHARE_TOLERANCE:
        raise Wrong(f"At p = {P}, about {P:.0%} of the entries should be zeroed in training.",
                    expected=f"{P:.0%} (± {SHARE_TOLERANCE:.0%}) zeroed",
                    got=f"{zeroed:.1%} zeroed")
    if np.allclose(survivors, 1.0):
        raise Wrong(_NO_RESCALE, expected=f"survivors of a matrix of ones equal to "
                    f"{1 / (1 - P):g}", got="survivors equal to 1",
                    hint="On average, what share of an entry survives? What undoes that?")
    train_x = _run(dropout, x, True, 3)
    kept = train_x != 0
    if not np.allclose(train_x[kept], x[kept] / (1 - P), rtol=1e-6, atol=1e-9):
        ratio = np.median(train_x[kept] / x[kept])
        raise Wrong("The entries that survive should be the input's entries scaled by one "
                    "common factor.", expected=f"each survivor = {1 / (1 - P):g} × its input",
                    got=f"survivors ≈ {ratio:.3g} × their input (median)")
    return ("Right: each entry is dropped on its own with probability p, the survivors are "
            "scaled by 1/(1 − p) so that the expectation is x, and evaluation is the "
            "identity: exactly what nn.Dropout does (section 5 matched it).")


register(Exercise(
    id="11.3",
    title="Inverted dropout from scratch",
    answer_name="dropout",
    checker=_check_dropout,
    hints=[_NUDGE, _FORMULA],
    conventions=_CONVENTIONS,
    wrong_answers=[
        Slip("p as the keep probability", _p_as_keep, message=_P_AS_KEEP, compared=False),
        Slip("no 1/(1 − p) rescaling", _no_rescale, message=_NO_RESCALE, compared=False),
        Slip("drops in evaluation mode", _drops_in_eval, message=_EVAL_DROPS, compared=False),
        Slip("one mask for the whole batch", _one_mask, message=_ONE_MASK, compared=False),
        Slip("never drops", lambda x, p, training, rng: x.copy(),
             message=f"At p = {P}, about {P:.0%} of the entries should be zeroed in training.",
             compared=False),
    ],
))
