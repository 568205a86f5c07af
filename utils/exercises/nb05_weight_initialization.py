"""Exercises of 05_weight_initialization: the gain of a leaky ReLU, Xavier-uniform
from scratch, and predicting which deep networks stall."""

import math
import numbers
import re

import numpy as np

from utils.exercises import (
    Exercise,
    Wrong,
    as_array,
    call_learner,
    register,
)

# --- 5.1 · The gain of a leaky ReLU -----------------------------------------------------

LEAKY_SLOPE = 0.2
#: A 2-decimal answer such as 1.39 counts as right: within 0.5 % of √(2/(1 + a²)).
LEAKY_RTOL = 5e-3
#: What torch.nn.init.calculate_gain("leaky_relu") gives with its default slope 0.01.
_TORCH_DEFAULT_LEAKY_GAIN = math.sqrt(2 / (1 + 0.01 ** 2))


def _as_real(value):
    """A float from a Python number or a one-element array or tensor, else None."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            return None
        value = value.reshape(()).item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _check_leaky_gain(leaky_gain):
    expected = math.sqrt(2 / (1 + LEAKY_SLOPE ** 2))
    hint = ("For z ~ N(0, q), a leaky ReLU keeps z² on the positive half and a²z² on the "
            "negative half: E[f(z)²] = (1 + a²)/2 · q. The weights must multiply the "
            "variance back by 2/(1 + a²); the gain is the factor on the standard deviation.")
    value = _as_real(leaky_gain)
    if value is None:
        raise Wrong(f"leaky_gain should be a number, got {type(leaky_gain).__name__}.",
                    got=repr(leaky_gain)[:80], hint=hint)
    if not math.isfinite(value):
        raise Wrong(f"leaky_gain is {value}, not a finite number.", hint=hint)
    # calculate_gain("leaky_relu") without a slope (1.41414) and √2 (1.41421) are 5e-5
    # apart: the first message applies only to an answer that is nearer the former.
    if (math.isclose(value, _TORCH_DEFAULT_LEAKY_GAIN, rel_tol=5e-5)
            and abs(value - _TORCH_DEFAULT_LEAKY_GAIN) < abs(value - math.sqrt(2))):
        raise Wrong("That is torch.nn.init.calculate_gain(\"leaky_relu\") with its default "
                    "slope 0.01; here the slope is a = 0.2.", got=f"{value:.5f}",
                    hint="Pass the slope: calculate_gain(\"leaky_relu\", 0.2) — or, better, "
                         "derive it: " + hint)
    slips = [
        (math.sqrt(2), "That is the gain of the plain ReLU: it ignores what the leaky ReLU "
                       "lets through on the negative side (a² of the variance there)."),
        (2 / (1 + LEAKY_SLOPE ** 2), "That is the factor on the *variance*; the gain "
                                     "multiplies the standard deviation, so take the square "
                                     "root."),
        (math.sqrt(2 / (1 + LEAKY_SLOPE)), "The negative side keeps a² of the variance, "
                                           "not a: the slope is squared."),
        (math.sqrt((1 + LEAKY_SLOPE ** 2) / 2), "Upside down: the activation *shrinks* the "
                                                "second moment to (1 + a²)/2 of it, so the "
                                                "weights must *enlarge* it by the inverse."),
        ((1 + LEAKY_SLOPE ** 2) / 2, "(1 + a²)/2 is the share of the second moment the "
                                     "leaky ReLU *keeps*; the weights must make up for it, "
                                     "so invert it, and take the square root for the gain."),
        (1 / math.sqrt(1 + LEAKY_SLOPE ** 2), "The 2 is missing: a leaky ReLU keeps (1 + a²)"
                                              "/2 of the second moment, not 1/(1 + a²)."),
        (1.0, "A gain of 1 is Xavier's (or LeCun's) choice for an activation that keeps "
              "the variance, like tanh near 0; a leaky ReLU loses part of it."),
    ]
    for value_of_slip, message in slips:
        if math.isclose(value, value_of_slip, rel_tol=LEAKY_RTOL):
            raise Wrong(message, got=f"{value:.4f}", hint=hint)
    if not math.isclose(value, expected, rel_tol=LEAKY_RTOL):
        close = math.isclose(value, expected, rel_tol=0.03)
        raise Wrong("Close, but not within 0.5 %: check the arithmetic." if close else
                    "leaky_gain is off.", expected=f"{expected:.4f}" if close else None,
                    got=f"{value:.4f}", hint=hint)
    return (f"gain = √(2/(1 + a²)) = {expected:.4f} for a = {LEAKY_SLOPE} (answers within "
            "0.5 % count): the same as torch.nn.init.calculate_gain('leaky_relu', 0.2). At "
            "a = 0 it is He's √2; at a = 1 (no nonlinearity at all) it is 1.")


register(Exercise(
    id="5.1",
    title="The gain of a leaky ReLU",
    answer_name="leaky_gain",
    checker=_check_leaky_gain,
    wrong_answers=[
        ("plain ReLU gain", math.sqrt(2)),
        ("plain ReLU gain, 2 decimals", 1.41),
        ("calculate_gain('leaky_relu') without the slope", _TORCH_DEFAULT_LEAKY_GAIN),
        ("the same, rounded", 1.4141),
        ("variance instead of standard deviation", 2 / 1.04),
        ("slope not squared", math.sqrt(2 / 1.2)),
        ("upside down", math.sqrt(1.04 / 2)),
        ("the share the activation keeps", 1.04 / 2),
        ("missing 2", 1 / math.sqrt(1.04)),
        ("Xavier's gain", 1.0),
        ("far off", 3.0),
        ("a string", "1.39"),
        ("an array of two", np.array([1.39, 1.39])),
    ],
))

# --- 5.2 · Xavier-uniform from scratch --------------------------------------------------

FAN_IN, FAN_OUT = 300, 100


def _check_xavier_uniform(my_xavier_uniform):
    name = "my_xavier_uniform"
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    variance = 2 / (FAN_IN + FAN_OUT)
    hint = ("Var(U[−b, b]) = b²/3, and Glorot & Bengio want Var(w) = 2/(fan_in + fan_out), "
            "so b = √(6/(fan_in + fan_out)): rng.uniform(-b, b, size=(fan_out, fan_in)).")
    got = as_array(call_learner(my_xavier_uniform, FAN_IN, FAN_OUT, np.random.default_rng(0),
                                name=name), "the weight matrix")
    if got.shape == (FAN_IN, FAN_OUT):
        raise Wrong("The matrix is transposed: like nn.Linear.weight, it has one row per "
                    "output unit and one column per input.", expected=f"shape ({FAN_OUT}, "
                    f"{FAN_IN})", got=f"shape {got.shape}", hint="size=(fan_out, fan_in)")
    if got.shape != (FAN_OUT, FAN_IN):
        raise Wrong(f"For fan_in = {FAN_IN} and fan_out = {FAN_OUT} the matrix has the wrong "
                    "shape.", expected=f"shape ({FAN_OUT}, {FAN_IN})", got=f"shape {got.shape}",
                    hint="size=(fan_out, fan_in), the layout of nn.Linear.weight.")
    if not np.isfinite(got).all():
        raise Wrong("The matrix contains NaN or infinite values.", hint=hint)
    if got.max() == got.min():
        raise Wrong(f"Every weight is {got.flat[0]:g}: the matrix is constant, not random.",
                    expected=f"random values spread over [−{bound:.4f}, {bound:.4f}]",
                    hint=hint)

    def draw(seed):
        matrix = as_array(call_learner(my_xavier_uniform, FAN_IN, FAN_OUT,
                                       np.random.default_rng(seed), name=name),
                          "the weight matrix")
        return matrix if matrix.shape == got.shape else None

    again, other = draw(0), draw(1)
    if again is None or not np.array_equal(again, got):
        raise Wrong("Two calls with generators of the same seed gave different matrices: the "
                    "function does not draw (only) from `rng`.",
                    hint="Use the generator you are given, e.g. rng.uniform(...), not "
                         "np.random.uniform(...), so a seed reproduces the network.")
    if other is not None and np.array_equal(other, got):
        raise Wrong("Generators of different seeds gave the same matrix: the function ignores "
                    "the `rng` it is given (perhaps it makes its own generator).",
                    hint="Draw from the argument: rng.uniform(-b, b, size=(fan_out, fan_in)); "
                         "whoever calls it chooses the seed.")
    mean, ratio = got.mean(), got.var() / variance
    largest = np.abs(got).max()
    if abs(mean) > 0.1 * bound:
        raise Wrong("The weights are not centred on 0.", expected="mean ≈ 0",
                    got=f"mean {mean:.4f}", hint="Draw from U[−b, b], not U[0, b].")
    kurtosis = np.mean((got - mean) ** 4) / got.var() ** 2  # 1.8 for uniform, 3 for normal
    if kurtosis > 2.4:
        raise Wrong("The weights look normally distributed (bell-shaped, with "
                    f"{100 * np.mean(np.abs(got) > bound):.0f}% of them beyond ±{bound:.4f}), "
                    "not uniform.", expected="a flat histogram on [−b, b]",
                    got=f"kurtosis {kurtosis:.2f} (uniform: 1.8, normal: 3)", hint=hint)
    slips = [
        ((FAN_IN + FAN_OUT) / FAN_IN,
         "The variance is 2/fan_in: you used fan_in alone. Glorot & Bengio average the "
         "forward (fan_in) and backward (fan_out) conditions: 2/(fan_in + fan_out)."),
        ((FAN_IN + FAN_OUT) / FAN_OUT,
         "The variance is 2/fan_out: you used fan_out alone; it should be 2/(fan_in + fan_out)."),
        (1 / 3,
         "The variance is a third of what it should be: you used the standard deviation "
         "√(2/(fan_in + fan_out)) as the bound. A uniform U[−b, b] has variance b²/3, "
         "hence the 6 under the root."),
        ((6 / (FAN_IN + FAN_OUT)) ** 2 / 3 / variance,
         "The bound is 6/(fan_in + fan_out) without the square root."),
        (1 / 2,
         "The variance is half of what it should be: the bound needs √6, not √3 (the 2 of "
         "2/(fan_in + fan_out) times the 3 of b²/3)."),
        ((FAN_IN + FAN_OUT) / (2 * FAN_IN),
         "The variance is 1/fan_in: that is LeCun-uniform, bound √(3/fan_in). Glorot & "
         "Bengio average fan_in and fan_out: bound √(6/(fan_in + fan_out))."),
        (2,
         "The variance is twice what it should be: that is a gain of √2 (He's, for ReLU). "
         "Plain Xavier has gain 1: bound √(6/(fan_in + fan_out))."),
    ]
    for slip_ratio, message in slips:
        if abs(ratio / slip_ratio - 1) < 0.04:
            raise Wrong(message, expected=f"variance ≈ {variance:.5f}",
                        got=f"variance {got.var():.5f}", hint=hint)
    if abs(ratio - 1) > 0.04:
        raise Wrong("The variance of the weights is off.", expected=f"≈ {variance:.5f} = "
                    f"2/(fan_in + fan_out)", got=f"{got.var():.5f}", hint=hint)
    if largest < 0.98 * bound:
        raise Wrong("The weights never come near the bound: the distribution is not "
                    "U[−b, b].", expected=f"max |w| close to {bound:.4f}",
                    got=f"max |w| = {largest:.4f}", hint=hint)
    return (f"Bound √(6/(fan_in+fan_out)) = {bound:.4f}, variance {got.var():.5f} ≈ "
            f"{variance:.5f}: the same recipe as torch.nn.init.xavier_uniform_ and "
            "utils.initializers.xavier_uniform.")


def _normal_xavier(fan_in, fan_out, rng):
    return rng.normal(0, math.sqrt(2 / (fan_in + fan_out)), size=(fan_out, fan_in))


def _uniform(bound_of):
    def initializer(fan_in, fan_out, rng):
        bound = bound_of(fan_in, fan_out)
        return rng.uniform(-bound, bound, size=(fan_out, fan_in))

    return initializer


register(Exercise(
    id="5.2",
    title="Xavier-uniform from scratch",
    answer_name="my_xavier_uniform",
    checker=_check_xavier_uniform,
    wrong_answers=[
        ("fan_in only", _uniform(lambda i, o: math.sqrt(6 / i))),
        ("normal instead of uniform", _normal_xavier),
        ("the standard deviation as the bound", _uniform(lambda i, o: math.sqrt(2 / (i + o)))),
        ("missing square root", _uniform(lambda i, o: 6 / (i + o))),
        ("√3 instead of √6", _uniform(lambda i, o: math.sqrt(3 / (i + o)))),
        ("transposed", lambda i, o, rng: _uniform(lambda a, b: math.sqrt(6 / (a + b)))(o, i, rng)),
        ("ignores rng", lambda i, o, rng: np.random.uniform(-math.sqrt(6 / (i + o)),
                                                            math.sqrt(6 / (i + o)), (o, i))),
        ("U[0, b]", lambda i, o, rng: rng.uniform(0, math.sqrt(6 / (i + o)), (o, i))),
        ("own fixed generator", lambda i, o, rng: np.random.default_rng(0).uniform(
            -math.sqrt(6 / (i + o)), math.sqrt(6 / (i + o)), (o, i))),
        ("all zeros", lambda i, o, rng: np.zeros((o, i))),
        ("LeCun-uniform", _uniform(lambda i, o: math.sqrt(3 / i))),
        ("gain √2", _uniform(lambda i, o: math.sqrt(12 / (i + o)))),
    ],
))

# --- 5.3 · Which networks stall? ----------------------------------------------------------

#: The six networks of the exercise: 30 Linear layers unless said otherwise, width 128,
#: on the digits, SGD with momentum 0.9, learning rate 0.0015, 20 epochs.
STALL_OPTIONS = {
    "A": "ReLU, 30 layers, He init N(0, 2/n)",
    "B": "ReLU, 30 layers, Xavier init N(0, 2/(n_in+n_out))",
    "C": "ReLU, 30 layers, PyTorch's default init U(±1/√n)",
    "D": "ReLU, 3 layers, Xavier init",
    "E": "tanh, 30 layers, Xavier init",
    "F": "ReLU, 30 layers, orthogonal init with gain √2",
}
STALLING = {"B", "C"}
_WHY = {
    "A": "A (He) is the init that keeps a ReLU network's signal steady: it trains.",
    "B": "B stalls: with n·Var(w) = 1 each ReLU layer halves the signal's second moment, "
         "2^(-29) over 30 layers — section 4 measures it.",
    "C": "C stalls: PyTorch's default U(±1/√n) has Var(w) = 1/(3n), even smaller than "
         "Xavier's — each ReLU layer keeps only 1/6 of the second moment.",
    "D": "D trains: with 2 hidden ReLU layers Xavier loses only a factor of about 4 in "
         "variance; the halving per layer hurts when it compounds over many layers.",
    "E": "E trains: Xavier's n·Var(w) = 1 is the right scale for tanh, whose slope is 1 "
         "near 0 — the signal is not halved at every layer.",
    "F": "F trains: in every square 128 × 128 layer, orthogonal weights with gain √2 have "
         "n·Var(w) = 2 and double the second moment as ReLU halves it, like He init. (Only "
         "for square layers: the first layer, 64 → 128, gets n_in·Var(w) = 1, a one-off "
         "factor of 1/2 that does not compound.)",
}


_EXAMPLE = 'For example: stalls = {"A", "D"}'
#: Words in a text answer that are not option letters: "B and C", "none".
_FILLER_WORDS = {"AND", "NONE"}


def _letters(answer):
    """The set of option letters in the learner's answer, or Wrong."""
    if isinstance(answer, str):
        # Whole tokens between non-letters: "B, C", "B and C", "{'B','C'}", "none".
        items = [token for token in re.findall(r"[A-Za-z]+", answer.upper())
                 if token not in _FILLER_WORDS]
        words = sorted({token for token in items if len(token) > 1})
        if words:
            raise Wrong(f"Could not read {', '.join(words)} as option letters.",
                        got=repr(answer)[:80],
                        hint='Separate the letters, e.g. "B, D", or use a set: ' + _EXAMPLE)
    elif isinstance(answer, (set, frozenset, list, tuple)):
        items = []
        for item in answer:
            if not isinstance(item, str) or len(item.strip()) != 1:
                raise Wrong(f"Each item should be one option letter such as \"B\", got "
                            f"{item!r}.", hint=_EXAMPLE)
            items.append(item.strip().upper())
    else:
        raise Wrong(f"stalls should be a set of option letters, got a value of type "
                    f"{type(answer).__name__}.", hint=_EXAMPLE)
    unknown = sorted(set(items) - set(STALL_OPTIONS))
    if unknown:
        raise Wrong(f"Unknown option(s) {', '.join(unknown)}: the options are "
                    f"{', '.join(STALL_OPTIONS)}.", hint=_EXAMPLE)
    return set(items)


def _check_stalls(stalls):
    chosen = _letters(stalls)
    if chosen == STALLING:
        return ("Right: " + " ".join(_WHY[letter] for letter in sorted(STALL_OPTIONS)) +
                " The rule: per ReLU layer the signal's second moment is multiplied by "
                "n·Var(w)/2; only 1 survives 30 layers.")
    wrongly_in = sorted(chosen - STALLING)
    missing = sorted(STALLING - chosen)
    raise Wrong(" ".join(_WHY[letter] for letter in wrongly_in + missing),
                got=", ".join(sorted(chosen)) or "(none)",
                hint="For each network, compute the factor n·Var(w)·c by which one layer "
                     "multiplies the signal's second moment (c = 1/2 for ReLU, about 1 for "
                     "tanh near 0), and raise it to the number of layers.")


register(Exercise(
    id="5.3",
    title="Which networks stall?",
    answer_name="stalls",
    checker=_check_stalls,
    wrong_answers=[
        ("forgets PyTorch's default", {"B"}),
        ("shallow Xavier too", {"B", "C", "D"}),
        ("tanh Xavier too", {"B", "C", "E"}),
        ("orthogonal too", ["B", "C", "F"]),
        ("He instead of Xavier", "A"),
        ("none", set()),
        ("unknown letter", {"B", "G"}),
        ("text: B and D", "B and D"),
        ("text: none", "none"),
        ("text: a word", "B, C, maybe"),
        ("text: letters run together", "BC"),
    ],
))
