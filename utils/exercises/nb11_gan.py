"""Exercise 11.4 of the capstone (notebook 11): the gradients of a GAN generator's two
losses with respect to the discriminator's logit a, where D(G(z)) = σ(a)."""

import numpy as np

from utils.exercises.core import (
    Case,
    Convention,
    LearnerError,
    Slip,
    Wrong,
    batch_cases,
    expect_close,
    function_exercise,
    result_parts,
)

_NAMES = ("grad_saturating", "grad_non_saturating")
_FUNCTION = "generator_logit_gradients"


def _sigma(a):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(a, dtype=np.float64)))


def _reference(a):
    d = _sigma(a)
    return -d, -(1.0 - d)


def _signs_flipped(a):
    d = _sigma(a)
    return d, 1.0 - d


def _no_chain_rule(a):
    d = _sigma(a)
    return -1.0 / (1.0 - d), -1.0 / d


def _swapped(a):
    d = _sigma(a)
    return -(1.0 - d), -d


def _maximised_objective(a):
    d = _sigma(a)
    return -d, 1.0 - d


def _pair_only_first(a):
    return _reference(a)[0]


def _logit_case(n, rng):
    return (rng.normal(0.0, 4.0, size=(2, n)),)


_CASES = [
    Case((np.array([0.0]),), "a = [0] (D(G(z)) = ½)"),
    Case((np.array([-6.0, -2.0, 0.5, 4.0]),), "a = [−6, −2, 0.5, 4]"),
    *batch_cases(_logit_case, "logits of shape (2, {n})", seed=114),
]


def _compare(got, expected, case):
    parts = result_parts(got, _NAMES, _FUNCTION)
    for name, part, right in zip(_NAMES, parts, expected):
        expect_close(part, right, what=f"{name} on {case.label}", rtol=1e-6, atol=1e-9)


def _explain_error(error: LearnerError, case: Case, name: str) -> Wrong | None:
    original = error.original
    if isinstance(original, TypeError) and "Tensor" in str(original):
        return Wrong(f"`{name}` gets a NumPy array, and a torch function refused it on "
                     f"{case.label}: {original}",
                     hint="Write σ(a) with NumPy: 1 / (1 + np.exp(-a)).")
    return None


_HINTS = [
    "Each loss is a function of D = σ(a), and D is a function of a: take the derivative with "
    "respect to D, then multiply by dD/da. A check: at a = 0 (D = ½) both gradients are −½.",
    "dD/da = σ(a)·(1 − σ(a)); d/dD log(1 − D) = −1/(1 − D) and d/dD (−log D) = −1/D. "
    "Multiply, and one factor cancels in each.",
    "∂/∂a log(1 − σ(a)) = −σ(a) and ∂/∂a (−log σ(a)) = −(1 − σ(a)): the first vanishes when "
    "the discriminator rejects the fake (σ(a) → 0), the second tends to −1.",
]

function_exercise(
    "11.4", "The generator's two gradients", _FUNCTION, _reference, _CASES, hints=_HINTS,
    compare=_compare, explain_error=_explain_error, unnamed_when_same=True,
    success="The saturating loss passes back −D(G(z)) to the logit, which is tiny exactly when "
            "the discriminator rejects the fake confidently; the non-saturating loss passes "
            "back −(1 − D(G(z))), close to −1 then. Same fixed point, very different "
            "gradients early in training.",
    slips=[
        Slip("sign error", _signs_flipped,
             message="Both gradients have the wrong sign. Both losses fall as the logit a "
                     "rises (the generator wants D to say 'real'), so their slopes with "
                     "respect to a are negative.",
             hint="Does each loss go up or down when a grows? The sign of the slope follows."),
        Slip("no chain rule through σ", _no_chain_rule,
             message="These are the derivatives with respect to D = σ(a), not with respect to "
                     "the logit a: the chain rule through σ is missing. Multiply by "
                     "dD/da = σ'(a).",
             hint="The exercise differentiates with respect to a, and D depends on a through "
                  "σ: one more factor is needed."),
        Slip("the two swapped", _swapped,
             message="The two gradients are right but swapped: grad_saturating is the "
                     "gradient of log(1 − σ(a)), the one that vanishes when σ(a) → 0; "
                     "grad_non_saturating is that of −log σ(a).",
             hint="Which of the two goes to 0 when the discriminator says 'fake' (σ(a) → 0)?"),
        Slip("only one array", _pair_only_first,
             message=f"{_FUNCTION} should return a pair ({', '.join(_NAMES)}).",
             compared=False),
    ],
    conventions=[
        Convention("maximised objective", _maximised_objective,
                   message="grad_non_saturating is the gradient of log D(G(z)), the objective "
                           "the generator *maximises* in Goodfellow et al.'s words; the "
                           "exercise asks for the loss it minimises, −log D(G(z)), whose "
                           "gradient has the opposite sign (grad_saturating is right).",
                   hint="Both answers are gradients of losses to be minimised."),
    ],
)
