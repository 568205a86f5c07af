"""Exercises of 05_weight_initialization: the gain of a leaky ReLU, Xavier-uniform
from scratch, and predicting which deep networks stall."""

import math
import numbers
import re

import numpy as np

from utils import checks, initializers
from utils.exercises.core import (
    Convention,
    Exercise,
    OtherConvention,
    Slip,
    Wrong,
    as_array,
    call_learner,
    register,
    reject_slips,
)
from utils.exercises.patients import STALL_NETWORKS, STALL_OPTIONS, STALLING

# --- 5.1 · The gain of a leaky ReLU -----------------------------------------------------

LEAKY_SLOPE = 0.2
#: A 2-decimal answer such as 1.39 counts as right: within 0.5 % of √(2/(1 + a²)).
LEAKY_RTOL = 5e-3
#: What torch.nn.init.calculate_gain("leaky_relu") gives with its default slope 0.01.
_TORCH_DEFAULT_LEAKY_GAIN = math.sqrt(2 / (1 + 0.01 ** 2))


def _as_real(value: object) -> float | None:
    """A float from a Python number or a one-element array or tensor (``checks.one_number``);
    inf for an integer beyond float's range; None for anything else."""
    try:
        return checks.one_number(value)
    except checks.NotOneNumber:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return math.inf  # an integer beyond float's range
        return None


_A = LEAKY_SLOPE
#: The typical wrong gains, each with its message (the check compares the values).
_GAIN_SLIPS = [
    Slip("plain ReLU gain", math.sqrt(2),
         message="That is the gain of the plain ReLU: it ignores what the leaky ReLU lets "
                 "through on the negative side (a² of the variance there)."),
    Slip("variance instead of standard deviation", 2 / (1 + _A ** 2),
         message="That is the factor on the *variance*; the gain multiplies the standard "
                 "deviation, so take the square root."),
    Slip("slope not squared", math.sqrt(2 / (1 + _A)),
         message="The negative side keeps a² of the variance, not a: the slope is squared."),
    Slip("upside down", math.sqrt((1 + _A ** 2) / 2),
         message="Upside down: the activation *shrinks* the second moment to (1 + a²)/2 of "
                 "it, so the weights must *enlarge* it by the inverse."),
    Slip("the share the activation keeps", (1 + _A ** 2) / 2,
         message="(1 + a²)/2 is the share of the second moment the leaky ReLU *keeps*; the "
                 "weights must make up for it, so invert it, and take the square root for the "
                 "gain."),
    Slip("missing 2", 1 / math.sqrt(1 + _A ** 2),
         message="The 2 is missing: a leaky ReLU keeps (1 + a²)/2 of the second moment, not "
                 "1/(1 + a²)."),
    Slip("Xavier's gain", 1.0,
         message="A gain of 1 is Xavier's (or LeCun's) choice for an activation that keeps the "
                 "variance, like tanh near 0; a leaky ReLU loses part of it."),
]


def _check_leaky_gain(leaky_gain: object) -> str:
    expected = math.sqrt(2 / (1 + LEAKY_SLOPE ** 2))
    value = _as_real(leaky_gain)
    if value is None:
        raise Wrong(f"leaky_gain should be a number, got {type(leaky_gain).__name__}.",
                    got=repr(leaky_gain)[:80])
    if not math.isfinite(value):
        raise Wrong(f"leaky_gain is {value}, not a finite number.")
    # calculate_gain("leaky_relu") without a slope (1.41414) and √2 (1.41421) are 5e-5
    # apart: the first message applies only to an answer that is nearer the former.
    if (math.isclose(value, _TORCH_DEFAULT_LEAKY_GAIN, rel_tol=5e-5)
            and abs(value - _TORCH_DEFAULT_LEAKY_GAIN) < abs(value - math.sqrt(2))):
        raise Wrong("That is torch.nn.init.calculate_gain(\"leaky_relu\") with its default "
                    "slope 0.01; here the slope is a = 0.2.", got=f"{value:.5f}",
                    hint="calculate_gain takes the slope as its second argument — or, "
                         "better, derive the gain yourself.")
    reject_slips(value, _GAIN_SLIPS, rtol=LEAKY_RTOL, atol=0.0, shown=f"{value:.4f}")
    if not math.isclose(value, expected, rel_tol=LEAKY_RTOL):
        close = math.isclose(value, expected, rel_tol=0.03)
        raise Wrong("Close, but not within 0.5 %: check the arithmetic." if close else
                    "leaky_gain is off.", expected=f"{expected:.4f}" if close else None,
                    got=f"{value:.4f}")
    return (f"gain = √(2/(1 + a²)) = {expected:.4f} for a = {LEAKY_SLOPE} (answers within "
            "0.5 % count): the same as torch.nn.init.calculate_gain('leaky_relu', 0.2). At "
            "a = 0 it is He's √2; at a = 1 (no nonlinearity at all) it is 1.")


_GAIN_HINTS = [
    "Split the second moment E[f(z)²] of a symmetric z into its halves z > 0 and z < 0: how "
    "much of each does the leaky ReLU keep? The weights must make up for what is lost, and "
    "the gain multiplies the standard deviation, not the variance.",
    "E[f(z)²] = (1 + a²)/2 · E[z²], so the weights need n·Var(w) = 2/(1 + a²): "
    "gain = √(2/(1 + a²)).",
]

register(Exercise(
    id="5.1",
    title="The gain of a leaky ReLU",
    answer_name="leaky_gain",
    checker=_check_leaky_gain,
    hints=_GAIN_HINTS,
    wrong_answers=[
        *_GAIN_SLIPS,
        Slip("plain ReLU gain, 2 decimals", 1.41,
             message="That is the gain of the plain ReLU: it ignores what the leaky ReLU lets "
                     "through on the negative side (a² of the variance there).",
             compared=False),
        Slip("calculate_gain('leaky_relu') without the slope", _TORCH_DEFAULT_LEAKY_GAIN,
             message="That is torch.nn.init.calculate_gain(\"leaky_relu\") with its default "
                     "slope 0.01; here the slope is a = 0.2.",
             compared=False),
        Slip("the same, rounded", 1.4141,
             message="That is torch.nn.init.calculate_gain(\"leaky_relu\") with its default "
                     "slope 0.01; here the slope is a = 0.2.",
             compared=False),
        Slip("far off", 3.0,
             message="leaky_gain is off.",
             compared=False),
        Slip("a string", "1.39",
             message="leaky_gain should be a number, got str.",
             compared=False),
        Slip("an array of two", np.array([1.39, 1.39]),
             message="leaky_gain should be a number, got ndarray.",
             compared=False),
        Slip("a huge integer", 10 ** 400,
             message="leaky_gain is inf, not a finite number.",
             compared=False),
    ],
))

# --- 5.2 · Xavier-uniform from scratch --------------------------------------------------

FAN_IN, FAN_OUT = 300, 100
#: Further (fan_in, fan_out) at which the shape, bound and variance are checked, so that an
#: answer written for one shape does not pass.
_OTHER_FANS = [(40, 500), (1000, 20)]
#: Relative error allowed on the variance: 5 % is 8 standard errors of the sample variance
#: of 20,000 uniform draws (0.63 %), so a correct answer passes with any generator.
_VARIANCE_RTOL = 0.05
_XAVIER_HINTS = [
    "Glorot & Bengio choose the weights' variance from both fans, fan_in and fan_out. What "
    "variance does a uniform U[−b, b] have? Solve for the bound b, and draw from the `rng` "
    "you are given.",
    "Var(w) = 2/(fan_in + fan_out) and Var(U[−b, b]) = b²/3, so b = √(6/(fan_in + fan_out)); "
    "the matrix has shape (fan_out, fan_in), like nn.Linear.weight.",
]


def _draw_weights(my_xavier_uniform, fan_in, fan_out, seed):
    """The learner's matrix for these fans and a generator of this seed, as an array."""
    return as_array(call_learner(my_xavier_uniform, fan_in, fan_out,
                                 np.random.default_rng(seed), name="my_xavier_uniform"),
                    "the weight matrix", array=True)


def _check_shape(got, fan_in, fan_out):
    shown = f"For fan_in = {fan_in} and fan_out = {fan_out} the matrix"
    if got.shape == (fan_in, fan_out) and fan_in != fan_out:
        raise Wrong(f"{shown} is transposed: like nn.Linear.weight, it has one row per output "
                    "unit and one column per input.", expected=f"shape ({fan_out}, {fan_in})",
                    got=f"shape {got.shape}", hint="Which of the two fans counts the rows?")
    if got.shape != (fan_out, fan_in):
        raise Wrong(f"{shown} has the wrong shape.", expected=f"shape ({fan_out}, {fan_in})",
                    got=f"shape {got.shape}",
                    hint="The shape follows the arguments: one row per output unit, one "
                         "column per input.")
    if not np.isfinite(got).all():
        raise Wrong(f"{shown} contains NaN or infinite values.")


def _check_other_fans(my_xavier_uniform):
    """Shape, bound and variance at other fans: the answer must follow its arguments."""
    for fan_in, fan_out in _OTHER_FANS:
        got = _draw_weights(my_xavier_uniform, fan_in, fan_out, 0)
        _check_shape(got, fan_in, fan_out)
        bound = math.sqrt(6 / (fan_in + fan_out))
        variance = 2 / (fan_in + fan_out)
        largest = float(np.abs(got).max())
        if (abs(got.var() / variance - 1) > _VARIANCE_RTOL or largest > bound * (1 + 1e-9)
                or largest < 0.95 * bound):
            raise Wrong(f"For fan_in = {fan_in} and fan_out = {fan_out} the weights have the "
                        f"wrong spread (they pass at {FAN_IN} → {FAN_OUT}): does your bound "
                        "follow the arguments fan_in and fan_out?",
                        expected=f"variance ≈ {variance:.5f}, max |w| just below {bound:.4f}",
                        got=f"variance {got.var():.5f}, max |w| {largest:.4f}",
                        hint="Compute the bound from the arguments, not from numbers of your "
                             "own.")


def _check_xavier_uniform(my_xavier_uniform):
    """The layout (fan_out, fan_in); a right matrix in the layout (fan_in, fan_out) is
    another convention (Keras's)."""
    got = _draw_weights(my_xavier_uniform, FAN_IN, FAN_OUT, 0)
    if got.shape != (FAN_IN, FAN_OUT):
        return _check_xavier_values(my_xavier_uniform)
    try:
        _check_xavier_values(lambda i, o, rng: np.asarray(my_xavier_uniform(i, o, rng)).T)
    except Wrong:
        _check_shape(got, FAN_IN, FAN_OUT)  # transposed, and wrong in other ways too
    raise OtherConvention(KERAS_LAYOUT, expected=f"shape ({FAN_OUT}, {FAN_IN})",
                          got=f"shape {got.shape}")


def _check_xavier_values(my_xavier_uniform: object) -> str:
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    variance = 2 / (FAN_IN + FAN_OUT)
    got = _draw_weights(my_xavier_uniform, FAN_IN, FAN_OUT, 0)
    _check_shape(got, FAN_IN, FAN_OUT)
    if got.max() == got.min():
        raise Wrong(f"Every weight is {got.flat[0]:g}: the matrix is constant, not random.",
                    expected=f"random values spread over [−{bound:.4f}, {bound:.4f}]",
                    hint="Units that start equal stay equal: the weights must be random.")

    def draw(seed):
        matrix = _draw_weights(my_xavier_uniform, FAN_IN, FAN_OUT, seed)
        return matrix if matrix.shape == got.shape else None

    again, other = draw(0), draw(1)
    if again is None or not np.array_equal(again, got):
        raise Wrong("Two calls with generators of the same seed gave different matrices: the "
                    "function does not draw (only) from `rng`.",
                    hint="Use the generator you are given, not np.random, so a seed "
                         "reproduces the network.")
    if other is not None and np.array_equal(other, got):
        raise Wrong("Generators of different seeds gave the same matrix: the function ignores "
                    "the `rng` it is given (perhaps it makes its own generator).",
                    hint="Draw from the argument; whoever calls it chooses the seed.")
    mean, ratio = got.mean(), got.var() / variance
    largest = np.abs(got).max()
    if abs(mean) > 0.1 * bound:
        raise Wrong("The weights are not centred on 0.", expected="mean ≈ 0",
                    got=f"mean {mean:.4f}", hint="Which interval are you drawing from?")
    kurtosis = np.mean((got - mean) ** 4) / got.var() ** 2  # 1.8 for uniform, 3 for normal
    if kurtosis > 2.4:
        raise Wrong("The weights look normally distributed (bell-shaped, with "
                    f"{100 * np.mean(np.abs(got) > bound):.0f}% of them beyond ±{bound:.4f}), "
                    "not uniform.", expected="a flat histogram on [−b, b]",
                    got=f"kurtosis {kurtosis:.2f} (how heavy the tails are: "
                        "uniform 1.8, normal 3)",
                    hint="Which distribution does the task ask for?")
    slips = [
        Slip("fan_in alone", (FAN_IN + FAN_OUT) / FAN_IN,
             "The variance is 2/fan_in: you used fan_in alone. Glorot & Bengio average the "
             "forward (fan_in) and backward (fan_out) conditions."),
        Slip("fan_out alone", (FAN_IN + FAN_OUT) / FAN_OUT,
             "The variance is 2/fan_out: you used fan_out alone; Glorot & Bengio use both fans."),
        Slip("the standard deviation as the bound", 1 / 3,
             "The variance is a third of what it should be: you used the standard deviation "
             "as the bound. A uniform U[−b, b] has variance b²/3, not b²."),
        Slip("missing square root", (6 / (FAN_IN + FAN_OUT)) ** 2 / 3 / variance,
             "The bound lacks its square root."),
        Slip("√3 instead of √6", 1 / 2,
             "The variance is half of what it should be: the bound needs √6, not √3 (the 2 of "
             "Glorot's variance times the 3 of b²/3)."),
        Slip("LeCun-uniform", (FAN_IN + FAN_OUT) / (2 * FAN_IN),
             "The variance is 1/fan_in: that is LeCun-uniform, bound √(3/fan_in). Glorot & "
             "Bengio average fan_in and fan_out."),
        Slip("gain √2", 2,
             "The variance is twice what it should be: that is a gain of √2 (He's, for "
             "ReLU). Plain Xavier has gain 1."),
    ]
    reject_slips(ratio, slips, rtol=0.04, atol=0.0, expected=f"variance ≈ {variance:.5f}",
                 shown=f"variance {got.var():.5f}")
    if abs(ratio - 1) > 0.04:
        raise Wrong("The variance of the weights is off.", expected=f"≈ {variance:.5f}",
                    got=f"{got.var():.5f}")
    if largest < 0.98 * bound:
        raise Wrong("The weights never come near the bound: the distribution is not "
                    "U[−b, b].", expected=f"max |w| close to {bound:.4f}",
                    got=f"max |w| = {largest:.4f}")
    _check_other_fans(my_xavier_uniform)
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


_BOUND_300_100 = math.sqrt(6 / 400)

#: The layout of a Keras/TensorFlow kernel: one row per input.
KERAS_LAYOUT = Convention(
    "the (fan_in, fan_out) layout",
    lambda i, o, rng: _uniform(lambda a, b: math.sqrt(6 / (a + b)))(o, i, rng),
    "Right values, in the layout of a Keras or TensorFlow kernel, (fan_in, fan_out): one row "
    "per input. This course follows nn.Linear.weight, (fan_out, fan_in): one row per output "
    "unit.", hint="Which of the two fans counts the rows of nn.Linear.weight?")

register(Exercise(
    id="5.2",
    conventions=[KERAS_LAYOUT],
    title="Xavier-uniform from scratch",
    answer_name="my_xavier_uniform",
    checker=_check_xavier_uniform,
    hints=_XAVIER_HINTS,
    wrong_answers=[
        Slip("fan_in only", _uniform(lambda i, o: math.sqrt(6 / i)),
             message="The variance is 2/fan_in: you used fan_in alone. Glorot & Bengio average "
                     "the forward (fan_in) and backward (fan_out) conditions.",
             compared=False),
        Slip("normal instead of uniform", _normal_xavier,
             message="The weights look normally distributed (bell-shaped, with ",
             compared=False, varies=True),
        Slip("the standard deviation as the bound",
             _uniform(lambda i, o: math.sqrt(2 / (i + o))),
             message="The variance is a third of what it should be: you used the standard "
                     "deviation as the bound. A uniform U[−b, b] has variance ",
             compared=False, varies=True),
        Slip("missing square root", _uniform(lambda i, o: 6 / (i + o)),
             message="The bound lacks its square root.",
             compared=False),
        Slip("√3 instead of √6", _uniform(lambda i, o: math.sqrt(3 / (i + o))),
             message="The variance is half of what it should be: the bound needs ",
             compared=False, varies=True),
        Slip("transposed, and the bound from fan_in only",
             lambda i, o, rng: _uniform(lambda a, b: math.sqrt(6 / b))(o, i, rng),
             message="For fan_in = 300 and fan_out = 100 the matrix is transposed: like "
                     "nn.Linear.weight, it has one row per output unit and one column per input.",
             compared=False),
        Slip("ignores rng", lambda i, o, rng: np.random.uniform(-math.sqrt(6 / (i + o)),
                                                                math.sqrt(6 / (i + o)), (o, i)),
             message="Two calls with generators of the same seed gave different matrices: the "
                     "function does not draw (only) from `rng`.",
             compared=False),
        Slip("U[0, b]", lambda i, o, rng: rng.uniform(0, math.sqrt(6 / (i + o)), (o, i)),
             message="The weights are not centred on ",
             compared=False, varies=True),
        Slip("own fixed generator", lambda i, o, rng: np.random.default_rng(0).uniform(
            -math.sqrt(6 / (i + o)), math.sqrt(6 / (i + o)), (o, i)),
             message="Generators of different seeds gave the same matrix: the function ignores "
                     "the `rng` it is given (perhaps it makes its own generator).",
             compared=False),
        Slip("all zeros", lambda i, o, rng: np.zeros((o, i)),
             message="Every weight is 0: the matrix is constant, not random.",
             compared=False),
        Slip("LeCun-uniform", _uniform(lambda i, o: math.sqrt(3 / i)),
             message="The variance is 1/fan_in: that is LeCun-uniform, bound √(3/fan_in). "
                     "Glorot & Bengio average fan_in and fan_out.",
             compared=False),
        Slip("gain √2", _uniform(lambda i, o: math.sqrt(12 / (i + o))),
             message="The variance is twice what it should be: that is a gain of √2 (He's, for "
                     "ReLU). Plain Xavier has gain 1.",
             compared=False),
        Slip("hard-coded for 300 → 100",
             lambda i, o, rng: rng.uniform(-_BOUND_300_100, _BOUND_300_100, (100, 300)),
             message="For fan_in = 40 and fan_out = 500 the matrix has the wrong shape.",
             compared=False),
        Slip("hard-coded bound",
             lambda i, o, rng: rng.uniform(-_BOUND_300_100, _BOUND_300_100, (o, i)),
             message="For fan_in = 40 and fan_out = 500 the weights have the wrong spread (they "
                     "pass at 300 → 100): does your bound follow the arguments fan_in and "
                     "fan_out?",
             compared=False),
        Slip("a list of rows", lambda i, o, rng: _uniform(
            lambda a, b: math.sqrt(6 / (a + b)))(i, o, rng).tolist(),
             message="the weight matrix is a Python list; return a NumPy array.",
             compared=False),
    ],
))

# --- 5.3 · Which networks stall? ----------------------------------------------------------

def _fan_factor(init: str, gain: float | None, n_in: int, n_out: int) -> float:
    """n_in·Var(w) of a layer n_in → n_out at initialization by ``init`` (a name of
    ``utils.initializers.INITIALIZERS``, or "default": PyTorch's own U(±1/√n_in), the
    table's "glorot_standard") with ``gain`` (None: the table's default gain), from the
    row's ``variance``; for orthogonal weights, the factor by which the layer multiplies
    the second moment per unit."""
    row = initializers.lookup("glorot_standard" if init == "default" else init)
    return n_in * row.weight_variance(n_in, n_out, gain)


def signal_factor(letter: str, n_in: int = 64, width: int = 128) -> float:
    """The factor by which the hidden layers of network ``letter`` multiply the signal's
    second moment at initialization: the product over its layers of n_in·Var(w)·c, with
    c = 1/2 for ReLU (it zeroes half of a symmetric input) and 1 for tanh near 0."""
    spec = STALL_NETWORKS[letter]
    keeps = 0.5 if spec.activation == "relu" else 1.0
    fans = [(n_in, width)] + [(width, width)] * (spec.depth - 1)
    return math.prod(_fan_factor(spec.init, spec.gain, a, b) * keeps for a, b in fans)


def _why() -> dict[str, str]:
    """Why each network stalls or trains, with its factor worked out from the network."""
    first_xavier = _fan_factor("xavier_normal", None, 64, 128) / 2
    return {
        "A": "A (He) is the init that keeps a ReLU network's signal steady: n·Var(w) = 2 "
             f"undoes ReLU's halving in every layer (factor {signal_factor('A'):.3g}): it "
             "trains.",
        "B": f"B stalls: Xavier's first layer, 64 → 128, has n_in·Var(w) = 2/3 and keeps "
             f"{first_xavier:.3g} of the signal's second moment after the ReLU; each of the 28 "
             "square layers keeps 1/2. Over the 29 hidden layers that is "
             f"(1/3)·2⁻²⁸ ≈ {signal_factor('B'):.1e} — section 4 measures it.",
        "C": "C stalls: PyTorch's default U(±1/√n) has Var(w) = 1/(3n), even smaller than "
             "Xavier's — each ReLU layer keeps only 1/6 of the input signal's second moment, "
             f"6⁻²⁹ ≈ {signal_factor('C'):.0e} over 29 layers (its random biases add the same "
             "values for every input, so the output no longer depends on the input).",
        "D": f"D trains: with 2 hidden ReLU layers Xavier loses only a factor of "
             f"{1 / signal_factor('D'):.0f} in the second moment (1/3, then 1/2); the halving "
             "per layer hurts when it compounds over many layers.",
        "E": "E trains: Xavier's n·Var(w) = 1 is a sound scale for tanh, whose slope is 1 "
             "near 0 — the signal is not halved at every layer (only the first layer, "
             f"64 → 128, costs a one-off factor {signal_factor('E'):.2g}).",
        "F": "F trains: in every square 128 × 128 layer, orthogonal weights with gain √2 "
             "double the second moment as ReLU halves it, like He init; only the first "
             f"layer, 64 → 128, costs a one-off factor {signal_factor('F'):.2g} that does not "
             "compound.",
    }


_EXAMPLE = 'For example: stalls = {"A", "D"}'
#: Words in a text answer that are not option letters: "B and C", "none".
_FILLER_WORDS = {"AND", "NONE"}
_STALL_NUDGE = ("For each network, work out the factor n_in·Var(w)·c by which one layer "
                "multiplies the signal's second moment (c = 1/2 for ReLU, about 1 for tanh "
                "near 0), and raise it to the number of layers. Mind the first layer, "
                "64 → 128, whose two fans differ.")


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


def _plural(count, one, many):
    return f"{count} {one if count == 1 else many}"


def _check_stalls(stalls):
    chosen = _letters(stalls)
    why = _why()
    if chosen == STALLING:
        return ("Right: " + " ".join(why[letter] for letter in sorted(STALL_OPTIONS)) +
                " The rule: per ReLU layer the signal's second moment is multiplied by "
                "n·Var(w)/2; only 1 survives 30 layers.")
    wrongly_in = sorted(chosen - STALLING)
    missing = sorted(STALLING - chosen)
    parts = []
    if wrongly_in:
        parts.append(_plural(len(wrongly_in), "letter too many (a network that trains)",
                             "letters too many (networks that train)"))
    if missing:
        parts.append(_plural(len(missing), "missing (a network that stalls)",
                             "missing (networks that stall)"))
    to_review = wrongly_in + missing
    raise Wrong("Not quite: your set has " + " and ".join(parts) + ".",
                got=", ".join(sorted(chosen)) or "(none)",
                hint=[_STALL_NUDGE,
                      f"Look again at {', '.join(to_review)}: work out its factor per layer, "
                      "the first layer (64 → 128) included, and over all its layers.",
                      " ".join(why[letter] for letter in to_review)])


register(Exercise(
    id="5.3",
    title="Which networks stall?",
    answer_name="stalls",
    checker=_check_stalls,
    hints=[_STALL_NUDGE],
    wrong_answers=[
        Slip("forgets PyTorch's default", {"B"},
             message="Not quite: your set has 1 missing (a network that stalls).",
             compared=False),
        Slip("shallow Xavier too", {"B", "C", "D"},
             message="Not quite: your set has 1 letter too many (a network that trains).",
             compared=False),
        Slip("tanh Xavier too", {"B", "C", "E"},
             message="Not quite: your set has 1 letter too many (a network that trains).",
             compared=False),
        Slip("orthogonal too", ["B", "C", "F"],
             message="Not quite: your set has 1 letter too many (a network that trains).",
             compared=False),
        Slip("He instead of Xavier", "A",
             message="Not quite: your set has 1 letter too many (a network that trains) and 2 "
                     "missing (networks that stall).",
             compared=False),
        Slip("none", set(),
             message="Not quite: your set has 2 missing (networks that stall).",
             compared=False),
        Slip("unknown letter", {"B", "G"},
             message="Unknown option(s) G: the options are A, B, C, D, E, F.",
             compared=False),
        Slip("text: B and D", "B and D",
             message="Not quite: your set has 1 letter too many (a network that trains) and 1 "
                     "missing (a network that stalls).",
             compared=False),
        Slip("text: none", "none",
             message="Not quite: your set has 2 missing (networks that stall).",
             compared=False),
        Slip("text: a word", "B, C, maybe",
             message="Could not read MAYBE as option letters.",
             compared=False),
        Slip("text: letters run together", "BC",
             message="Could not read BC as option letters.",
             compared=False),
    ],
))
