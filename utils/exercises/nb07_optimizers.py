"""Exercises of 07_optimizers: a momentum step, an Adam step, and the optimizer that rescues
a stalled network."""

import numpy as np

from utils.exercises.core import (
    Case,
    Convention,
    Exercise,
    Slip,
    Wrong,
    as_array,
    batch_cases,
    expect_close,
    function_exercise,
    register,
    result_parts,
    same_values,
)

# --- 7.1 · A momentum step ---------------------------------------------------------------

_MOMENTUM_NAMES = ("new_param", "new_velocity")
_MOMENTUM_HINTS = [
    "Two things change: first the velocity (it remembers the old velocity, shrunk by the "
    "momentum, and adds the new gradient), then the parameter (it moves against the new "
    "velocity).",
    "v ← momentum · v + grad, then param ← param − lr · v, with v the velocity (PyTorch's "
    "convention: lr outside the velocity).",
]


def _momentum_reference(param, grad, velocity, lr, momentum):
    new_velocity = momentum * velocity + grad
    return param - lr * new_velocity, new_velocity


def _momentum_case(n, rng):
    return (rng.normal(size=n), rng.normal(size=n), rng.normal(size=n), 0.1, 0.9)


_MOMENTUM_CASES = [
    Case((np.array([1.0, -2.0]), np.array([0.5, 0.5]), np.zeros(2), 0.1, 0.9),
         "the first step (velocity 0), lr=0.1, momentum=0.9"),
    Case((np.array([1.0, -2.0, 0.5]), np.array([0.2, -0.4, 1.0]), np.array([1.0, 2.0, -3.0]),
          0.05, 0.5), "param of shape (3,) with velocity ≠ 0, lr=0.05, momentum=0.5"),
    *batch_cases(_momentum_case, "param of shape ({n},), lr=0.1, momentum=0.9", seed=71),
]


def _compare_momentum(got, expected, case):
    parts = result_parts(got, _MOMENTUM_NAMES, "momentum_step")
    for part, right, name in zip(parts, expected, _MOMENTUM_NAMES):
        expect_close(part, right, what=f"{name} on {case.label}", rtol=1e-9, atol=1e-12,
                     array=True)


TEXTBOOK_MOMENTUM = Convention(
    "the textbook convention",
    lambda p, g, v, lr, mu: (p - (mu * v + lr * g), mu * v + lr * g),
    "That is the textbook convention, with the learning rate inside the velocity "
    "(velocity ← momentum·velocity + lr·grad, param ← param − velocity). It is a correct "
    "momentum method, and with a constant learning rate it takes the same steps, but its "
    "velocity is lr times PyTorch's, so the velocity you were given means something else "
    "there. This exercise and torch.optim.SGD keep lr outside the velocity.",
    hint="Keep the learning rate out of the velocity: it multiplies the step only.")

function_exercise(
    "7.1", "A momentum step", "momentum_step", _momentum_reference, _MOMENTUM_CASES,
    hints=_MOMENTUM_HINTS, conventions=[TEXTBOOK_MOMENTUM], compare=_compare_momentum,
    unnamed_when_same=True,
    success="The velocity is a running sum of gradients, each shrunk by the momentum per "
            "step: where successive gradients agree it grows to about 1/(1 − momentum) "
            "times one gradient, where they flip sign it cancels.",
    slips=[
        Slip("step uphill", lambda p, g, v, lr, mu: (p + lr * (mu * v + g), mu * v + g),
             message="Your parameter moves *with* the velocity, uphill: the step must go "
                     "against it (a minus sign).", hint="Which way does the gradient point?"),
        Slip("forgets the old velocity", lambda p, g, v, lr, mu: (p - lr * g, g),
             message="Your velocity is just the new gradient: the old velocity is forgotten, "
                     "so this is plain gradient descent without momentum.",
             hint="What does the velocity remember from the last step?"),
        Slip("steps with the old velocity",
             lambda p, g, v, lr, mu: (p - lr * v, mu * v + g),
             message="Your parameter moves by the *old* velocity: update the velocity with the "
                     "new gradient first, then step with the new one.",
             hint="In which order do the two updates happen?"),
        Slip("an average instead of a sum",
             lambda p, g, v, lr, mu: (p - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g),
             message="Your velocity is an exponential *average*, momentum·velocity + "
                     "(1 − momentum)·grad (Adam's first moment, or SGD's dampening): PyTorch's "
                     "momentum adds the whole gradient, so your steps are (1 − momentum) times "
                     "too small.", hint="Is the new gradient scaled down?"),
        Slip("Nesterov's step",
             lambda p, g, v, lr, mu: (p - lr * (g + mu * (mu * v + g)), mu * v + g),
             message="That is Nesterov's look-ahead step, param − lr·(grad + momentum·"
                     "new_velocity); this exercise asks for plain (heavy-ball) momentum, "
                     "which steps with the new velocity itself.",
             hint="Step with the velocity alone."),
        Slip("the parameter only", lambda p, g, v, lr, mu: p - lr * (mu * v + g),
             message="momentum_step should return a pair (new_param, new_velocity).",
             compared=False),
    ],
)

# --- 7.2 · An Adam step -------------------------------------------------------------------

_ADAM_NAMES = ("new_param", "new_m", "new_v")
_ADAM_HINTS = [
    "Count this step first. Then update the two running averages (of the gradient and of "
    "its square), correct each for having started at zero, and step by their ratio.",
    "t ← t + 1; m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; m̂ = m/(1 − β1ᵗ); "
    "v̂ = v/(1 − β2ᵗ); param ← param − lr·m̂/(√v̂ + ε).",
]


def _adam(param, grad, m, v, t, lr, beta1, beta2, eps, correct=True, count=1,
          eps_inside=False, store_hat=False):
    """Adam and its usual variants (the reference with the defaults)."""
    t = t + count
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1 ** t) if correct else m
    v_hat = v / (1 - beta2 ** t) if correct else v
    denominator = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
    new_param = param - lr * m_hat / denominator
    return (new_param, m_hat, v_hat) if store_hat else (new_param, m, v)


def _adam_reference(param, grad, m, v, t, lr, beta1, beta2, eps):
    return _adam(param, grad, m, v, t, lr, beta1, beta2, eps)


def _no_increment(param, grad, m, v, t, lr, beta1, beta2, eps):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _adam(param, grad, m, v, t, lr, beta1, beta2, eps, count=0)


def _adam_case(n, rng):
    scale = 10.0 ** rng.uniform(-3, 0, n)
    grad = rng.normal(size=n) * scale
    return (rng.normal(size=n), grad, 0.1 * grad, 0.5 * grad**2, 3, 0.01, 0.9, 0.999, 1e-3)


_ADAM_CASES = [
    Case((np.array([0.5, -1.0]), np.array([1e-3, -2.0]), np.zeros(2), np.zeros(2), 0, 0.1,
          0.9, 0.999, 1e-8), "the first step (t = 0 steps so far), lr=0.1, eps=1e-8"),
    Case((np.array([0.5, -1.0, 2.0]), np.array([1e-3, -0.02, 0.5]),
          np.array([1e-4, -0.01, 0.3]), np.array([1e-6, 2e-4, 0.2]), 1, 0.01, 0.9, 0.999,
          1e-2), "the second step (t = 1), eps=1e-2"),
    *batch_cases(_adam_case, "param of shape ({n},) at t = 3, eps=1e-3", seed=72),
]

_COUNTER = ("Your bias correction uses t, the number of steps taken *before* this one: count "
            "this step first (t + 1). With the counter one behind, the first step divides by "
            "1 − β⁰ = 0 and every later correction is a step late.")


def _compare_adam(got, expected, case):
    parts = result_parts(got, _ADAM_NAMES, "adam_step")
    late = _no_increment(*case.args)
    arrays = []
    for part, name in zip(parts, _ADAM_NAMES):
        arrays.append(as_array(part, f"{name} on {case.label}", array=True))
    if case.args[4] == 0 and not all(np.isfinite(a).all() for a in arrays):
        raise Wrong(_COUNTER, hint="Which number is t at the first step?")
    if case.args[4] > 0 and same_values(tuple(arrays), late, rtol=1e-9, atol=1e-12) and not (
            same_values(tuple(arrays), expected, rtol=1e-9, atol=1e-12)):
        raise Wrong(_COUNTER, hint="Which number is t at the first step?")
    for part, right, name in zip(parts, expected, _ADAM_NAMES):
        expect_close(part, right, what=f"{name} on {case.label}", rtol=1e-9, atol=1e-12,
                     array=True)


EPS_INSIDE = Convention(
    "ε inside the square root",
    lambda p, g, m, v, t, lr, b1, b2, eps: _adam(p, g, m, v, t, lr, b1, b2, eps,
                                                  eps_inside=True),
    "You put ε inside the square root, √(v̂ + ε). Some libraries do (it bounds the step "
    "differently for tiny gradients), but the paper's Algorithm 1 and torch.optim.Adam add ε "
    "after the root, √v̂ + ε, and this exercise follows them.",
    hint="Where does ε go: under the root or after it?")

function_exercise(
    "7.2", "An Adam step", "adam_step", _adam_reference, _ADAM_CASES, hints=_ADAM_HINTS,
    conventions=[EPS_INSIDE], compare=_compare_adam, unnamed_when_same=True,
    success="With the bias correction the very first step is lr·g/(|g| + ε): about lr in "
            "every coordinate, whether its gradient is 2 or 0.001.",
    slips=[
        Slip("no bias correction",
             lambda p, g, m, v, t, lr, b1, b2, eps: _adam(p, g, m, v, t, lr, b1, b2, eps,
                                                           correct=False),
             message="You skipped the bias correction: m and v start at 0, so early on they "
                     "are too small (at the first step m = (1 − β1)·g, ten times too small), "
                     "and Adam's bias correction undoes that.",
             hint="m and v start at zero: what does that do to their first values?"),
        Slip("the counter starts at 0", _no_increment, message=_COUNTER, compared=False,
             hint="Which number is t at the first step?"),
        Slip("stores the corrected averages",
             lambda p, g, m, v, t, lr, b1, b2, eps: _adam(p, g, m, v, t, lr, b1, b2, eps,
                                                           store_hat=True),
             message="Your step is right, but you returned the corrected averages m̂ and v̂ as "
                     "the new state: the state keeps the raw m and v (the correction is "
                     "recomputed from them at every step).",
             hint="Which of m and m̂ does the next step need?"),
        Slip("betas swapped",
             lambda p, g, m, v, t, lr, b1, b2, eps: _adam(p, g, m, v, t, lr, b2, b1, eps),
             message="β1 and β2 are swapped: β1 (0.9) averages the gradient, β2 (0.999) its "
                     "square.", hint="Which average forgets faster?"),
        Slip("the parameter only",
             lambda p, g, m, v, t, lr, b1, b2, eps: _adam_reference(
                 p, g, m, v, t, lr, b1, b2, eps)[0],
             message="adam_step should return three values (new_param, new_m, new_v).",
             compared=False),
    ],
)

# --- 7.3 · Which optimizer rescues the stalled network? ----------------------------------

#: The choices of 7.3: what to change in the stalled network's training.
RESCUE_OPTIONS = {
    "A": "SGD as before, momentum 0.99 instead of 0.9",
    "B": "SGD as before, gradients clipped to norm 1",
    "C": "Adam, lr = 1e-3",
    "D": "SGD as before, a 10× larger learning rate",
}
#: The reasons of 7.3: why the chosen optimizer would work.
RESCUE_REASONS = {
    1: "it divides each weight's step by the running size of that weight's own gradient, "
       "so tiny gradients still give steps of about lr",
    2: "it adds momentum, which builds up speed on a plateau",
    3: "it restores the forward signal that the 30 ReLU layers shrank",
    4: "it limits the large gradients of the last layers",
}
_RESCUE_NUDGE = ("Look at the printed gradient norms: how big is a step of SGD on the first "
                 "layer, and which option changes that?")
_RESCUE_FORMULA = ("Adam's step is lr·m̂/(√v̂ + ε): scale every gradient of a weight by c and "
                   "m̂ scales by c, √v̂ by |c|, so the step does not shrink with the gradient.")
_OPTION_MESSAGES = {
    "A": "Momentum 0.99 lets a steady gradient build up to at most 1/(1 − 0.99) = 100 times "
         "its size instead of 10: steps at most 10 times larger than SGD's, which change every "
         "layer by less than 1e-5 of its size per step (section 4.1 measures them). Ten times "
         "that is below 1e-4, where a healthy run changes a layer by about 1e-3 per step.",
    "B": "Clipping only shrinks gradients that are *too large*; these are far too small, so "
         "clipping changes nothing.",
    "D": "A 10× learning rate makes every step 10 times larger, but SGD's steps here change "
         "every layer by less than 1e-5 of its size (section 4.1 measures them): ten times "
         "that is below 1e-4, where a healthy run changes a layer by about 1e-3 per step; and "
         "one rate is the same for every weight, not matched to each one's gradient.",
}
_REASON_MESSAGES = {
    2: "Right optimizer, wrong reason: the SGD run already had momentum 0.9 and stalled. "
       "What Adam adds is in its denominator.",
    3: "Right optimizer, wrong reason: an optimizer changes only the steps, not the forward "
       "pass. At step 0 the signal is exactly as small under Adam as under SGD.",
    4: "Right optimizer, wrong reason: no gradient here is large, and Adam clips nothing.",
}


def _parse_rescue(rescue):
    if not isinstance(rescue, (tuple, list)) or len(rescue) != 2:
        raise Wrong("rescue should be a pair (letter, reason number), e.g. (\"A\", 2).",
                    expected="a pair such as (\"A\", 2)", got=repr(rescue))
    letter, reason = rescue
    letter = letter.strip().upper() if isinstance(letter, str) else letter
    if letter not in RESCUE_OPTIONS:
        raise Wrong(f"The first part should be one of the letters {', '.join(RESCUE_OPTIONS)}.",
                    expected="a letter A–D", got=repr(rescue[0]))
    if isinstance(reason, bool) or reason not in RESCUE_REASONS:
        raise Wrong("The second part should be one of the reason numbers 1–4.",
                    expected="a number 1–4", got=repr(rescue[1]))
    return letter, int(reason)


def _check_rescue(rescue):
    letter, reason = _parse_rescue(rescue)
    if letter != "C":
        raise Wrong(_OPTION_MESSAGES[letter], got=f"{letter}: {RESCUE_OPTIONS[letter]}",
                    hint=[_RESCUE_NUDGE, _RESCUE_FORMULA])
    if reason != 1:
        raise Wrong(_REASON_MESSAGES[reason], got=f"reason {reason}: {RESCUE_REASONS[reason]}",
                    hint=[_RESCUE_NUDGE, _RESCUE_FORMULA])
    return ("Right: Adam's per-weight division turns the first layer's gradients of about "
            "1e-5 into steps of about lr, as large as the last layer's. Section 4 measures it: "
            "the update-to-weight ratios of the layers, and the training curve.")


register(Exercise(
    id="7.3",
    title="Which optimizer rescues the stalled network?",
    answer_name="rescue",
    checker=_check_rescue,
    hints=[_RESCUE_NUDGE, _RESCUE_FORMULA],
    wrong_answers=[
        Slip("more momentum", ("A", 2), message=_OPTION_MESSAGES["A"], compared=False),
        Slip("clipping", ("B", 4), message=_OPTION_MESSAGES["B"], compared=False),
        Slip("a larger learning rate", ("D", 1), message=_OPTION_MESSAGES["D"], compared=False),
        Slip("Adam for its momentum", ("C", 2), message=_REASON_MESSAGES[2], compared=False),
        Slip("Adam restores the signal", ("C", 3), message=_REASON_MESSAGES[3],
             compared=False),
        Slip("Adam clips", ("C", 4), message=_REASON_MESSAGES[4], compared=False),
        Slip("a letter alone", "C", message="rescue should be a pair (letter, reason number), "
                                            "e.g. (\"A\", 2).", compared=False),
    ],
))
