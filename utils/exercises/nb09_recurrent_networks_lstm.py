"""Exercises of 09_recurrent_networks_lstm: backpropagation through time by hand, one LSTM
step, and the gradient decay predicted from the forget gate."""

import numpy as np

from utils.exercises.core import (
    Case,
    Slip,
    batch_cases,
    expect_close,
    function_exercise,
    result_parts,
)

# --- 9.1 · Backpropagation through time, by hand -----------------------------------------

_BPTT_HINTS = [
    "Run the RNN forward and keep every h_t. Then walk back from the end: at each step the "
    "gradient reaching h_t passes through that step's tanh, adds its share to the gradient "
    "of w, and moves on to h_{t−1} through the weight w.",
    "With a_t = w·h_{t−1} + u·x_t and h_t = tanh(a_t), start from ∂L/∂h_T = 1 and for "
    "t = T … 1: ∂L/∂a_t = ∂L/∂h_t · (1 − h_t²); ∂L/∂w += ∂L/∂a_t · h_{t−1}; "
    "∂L/∂h_{t−1} = ∂L/∂a_t · w.",
]


def _states(w, u, xs):
    h = [0.0]
    for x in xs:
        h.append(np.tanh(w * h[-1] + u * x))
    return h


def _bptt(w, u, xs, slope=True, previous=True, steps=None):
    """dL/dw for L = h_T, and its typical variants (the reference with the defaults)."""
    h = _states(w, u, xs)
    grad_h, grad_w = 1.0, 0.0
    last = len(xs)
    first = 0 if steps is None else max(0, last - steps)
    for t in range(last, first, -1):
        grad_a = grad_h * (1 - h[t] ** 2) if slope else grad_h
        grad_w += grad_a * (h[t - 1] if previous else h[t])
        grad_h = grad_a * w
    return grad_w


def _bptt_reference(w, u, xs):
    return _bptt(w, u, xs)


def _bptt_case(n, rng):
    return (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5)), rng.normal(size=n + 2))


_BPTT_CASES = [
    Case((0.8, 1.0, np.array([1.0, -0.5])), "w=0.8, u=1.0, xs=[1.0, -0.5]"),
    Case((1.2, 0.5, np.array([0.3, 0.9, -1.0, 0.2])), "w=1.2, u=0.5, four steps"),
    *batch_cases(_bptt_case, "a sequence of {n} + 2 steps", seed=91),
]

function_exercise(
    "9.1", "Backpropagation through time, by hand", "bptt_grad_w", _bptt_reference,
    _BPTT_CASES, hints=_BPTT_HINTS, rtol=1e-9, atol=1e-12,
    success="Each step back multiplies the gradient by w·(1 − h_t²), a number below 1 in "
            "size whenever |w| < 1, so the shares of the early steps in ∂L/∂w shrink "
            "geometrically: the vanishing gradient, through time.",
    slips=[
        Slip("no tanh slope", lambda w, u, xs: _bptt(w, u, xs, slope=False),
             message="Your gradient passes each tanh unchanged: going back through "
                     "h_t = tanh(a_t) multiplies it by the slope of tanh at that step, which "
                     "is below 1 (and is what makes the gradient vanish faster than w alone "
                     "would).", hint="What is the derivative of tanh, written with h_t?"),
        Slip("the last step only", lambda w, u, xs: _bptt(w, u, xs, steps=1),
             message="Only the last step contributes to your gradient: w is used at every "
                     "step, so every step adds its own share (the gradient must be carried "
                     "back through time, not stopped at h_{T−1}).",
             hint="At how many steps is the weight w used?"),
        Slip("h_t instead of h_{t−1}", lambda w, u, xs: _bptt(w, u, xs, previous=False),
             message="Each step's share uses the new state h_t as the input of w; w "
                     "multiplies the state it receives, the previous one.",
             hint="In a_t = w·h + u·x_t, which h is it?"),
        Slip("the last two steps only", lambda w, u, xs: _bptt(w, u, xs, steps=2),
             message="Your gradient stops after two steps back (truncated backpropagation "
                     "through time): this exercise asks for the full gradient, with a share "
                     "from every step.", hint="How far back does the sum go?"),
    ],
)

# --- 9.2 · One LSTM step -----------------------------------------------------------------

_LSTM_NAMES = ("h_new", "c_new")
_LSTM_HINTS = [
    "Compute the four gates' pre-activations at once from x and h, split them in PyTorch's "
    "order, squash each gate with its own function, then update the cell state before the "
    "hidden state.",
    "z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, split into four equal blocks i, f, g, o; "
    "i, f, o = σ(·), g = tanh(·); c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c').",
]


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, order="ifgo", squash_cell=True, new_cell=True,
          g_sigmoid=False):
    """One LSTM step and its typical variants (the reference with the defaults)."""
    blocks = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
    gate = dict(zip(order, blocks))
    i, f, o = _sigmoid(gate["i"]), _sigmoid(gate["f"]), _sigmoid(gate["o"])
    g = _sigmoid(gate["g"]) if g_sigmoid else np.tanh(gate["g"])
    c_new = f * c + i * g
    cell = c_new if new_cell else c
    return o * (np.tanh(cell) if squash_cell else cell), c_new


def _lstm_reference(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh)


def _lstm_case(n, rng, inputs=3, hidden=2):
    return (rng.normal(size=(n, inputs)), rng.normal(size=(n, hidden)),
            rng.normal(size=(n, hidden)), rng.normal(size=(4 * hidden, inputs)),
            rng.normal(size=(4 * hidden, hidden)), rng.normal(size=4 * hidden),
            rng.normal(size=4 * hidden))


_LSTM_CASES = [
    Case(_lstm_case(1, np.random.default_rng(92), inputs=1, hidden=1),
         "one example, 1 input, 1 hidden unit"),
    *batch_cases(_lstm_case, "x of shape ({n}, 3), h and c of shape ({n}, 2)", seed=93),
]


def _compare_lstm(got, expected, case):
    parts = result_parts(got, _LSTM_NAMES, "lstm_step")
    for part, right, name in zip(parts, expected, _LSTM_NAMES):
        expect_close(part, right, what=f"{name} on {case.label}", rtol=1e-9, atol=1e-12,
                     array=True)


_ORDER = ("PyTorch stacks the four gates of W_ih, W_hh and the biases in the order i, f, g, o "
          "(input, forget, cell candidate, output)")

function_exercise(
    "9.2", "One LSTM step", "lstm_step", _lstm_reference, _LSTM_CASES, hints=_LSTM_HINTS,
    compare=_compare_lstm, unnamed_when_same=True,
    success="The cell state is updated by a sum, not squashed by a matrix: the step from c "
            "to c' multiplies it by the forget gate f alone. Section 3.1 measures what that "
            "does to the gradient.",
    slips=[
        Slip("gate order i, f, o, g", lambda *a: _lstm(*a, order="ifog"),
             message=f"Your gates are read in the order i, f, o, g: {_ORDER}, so your output "
                     "gate uses the candidate's weights and the other way round.",
             hint="In which order are the four blocks stacked?"),
        Slip("TensorFlow's order i, g, f, o", lambda *a: _lstm(*a, order="igfo"),
             message=f"Your gates are read in the order i, g, f, o (TensorFlow 1's LSTMCell "
                     f"layout, i, j, f, o): {_ORDER}.",
             hint="In which order are the four blocks stacked?"),
        Slip("input and forget swapped", lambda *a: _lstm(*a, order="figo"),
             message=f"Your input and forget gates are swapped: {_ORDER}; the forget gate "
                     "multiplies the old cell state, the input gate the candidate.",
             hint="Which gate multiplies the old cell state?"),
        Slip("no tanh on the cell output", lambda *a: _lstm(*a, squash_cell=False),
             message="Your hidden state is o times the cell state itself: the cell state is "
                     "squashed by a tanh before the output gate scales it (without it, h "
                     "grows with the cell state, which is unbounded).",
             hint="The cell state can be any size; h stays between −1 and 1. How?"),
        Slip("h from the old cell state", lambda *a: _lstm(*a, new_cell=False),
             message="Your hidden state is computed from the old cell state c: update the "
                     "cell state first, then read the new one out through the output gate.",
             hint="Which cell state does h' show, the old or the new?"),
        Slip("a sigmoid on the candidate", lambda *a: _lstm(*a, g_sigmoid=True),
             message="Your cell candidate g goes through a sigmoid: the three gates i, f, o "
                     "are sigmoids (between 0 and 1), but the candidate is a tanh, so that it "
                     "can add negative values to the cell.",
             hint="Which of the four blocks is not a gate?"),
        Slip("outputs swapped", lambda *a: _lstm_reference(*a)[::-1],
             message="Your two results are swapped: lstm_step returns (h_new, c_new), the "
                     "hidden state first, as nn.LSTM's (h, c)."),
    ],
)

# --- 9.3 · Predict the gradient decay from the forget gate -------------------------------

_DECAY_HINTS = [
    "Along the cell path, one step back multiplies ∂L/∂c by ∂c_t/∂c_{t−1}. With the gate's "
    "inputs near zero, what value does the forget gate take, and what happens over k steps?",
    "∂c_t/∂c_{t−1} = f_t and f_t ≈ σ(b_f) when its inputs are small, so the ratio after k "
    "steps is σ(b_f)^k = (1/(1 + e^(−b_f)))^k.",
]


def _decay_reference(forget_bias, lags):
    return _sigmoid(forget_bias) ** lags


def _decay_case(n, rng):
    return float(rng.uniform(0.2, 3)), np.arange(n, dtype=float) * 3


_DECAY_CASES = [
    Case((1.0, np.array([0.0, 1.0, 10.0])), "forget_bias=1.0, lags=[0, 1, 10]"),
    Case((0.0, np.array([1.0, 20.0])), "forget_bias=0.0, lags=[1, 20]"),
    *batch_cases(_decay_case, "{n} lags", seed=94),
]

function_exercise(
    "9.3", "Predict the gradient decay from the forget gate", "cell_path_decay",
    _decay_reference, _DECAY_CASES, hints=_DECAY_HINTS, rtol=1e-9, atol=1e-15,
    success="A forget bias of 0 halves the gradient at every step back (0.5¹⁰ ≈ 1e-3 after "
            "ten steps); a bias of 1 keeps about 0.73 per step, 3 about 0.95. No weight "
            "matrix and no sigmoid slope enters the product: that is the cell path's "
            "advantage, and the forget gate below 1 is its limit.",
    slips=[
        Slip("the sigmoid's slope", lambda b, k: (_sigmoid(b) * (1 - _sigmoid(b))) ** k,
             message="You multiplied by the sigmoid's slope σ(b)(1 − σ(b)) at every step: "
                     "along the cell path the derivative is the forget gate's value itself "
                     "(c_t = f_t ⊙ c_{t−1} + …), not its slope. Slopes of at most 1/4 are "
                     "what makes a sigmoid RNN's gradient vanish fast.",
             hint="Differentiate c_t with respect to c_{t−1}, holding the gate fixed."),
        Slip("the bias ignored", lambda b, k: 0.5 ** k + 0 * b,
             message="Your decay is 0.5 per step whatever the bias: that is the forget gate "
                     "with bias 0 (σ(0) = 0.5). The bias shifts the gate's input.",
             hint="What does the bias do to the gate's value?"),
        Slip("the forgetting share", lambda b, k: (1 - _sigmoid(b)) ** k,
             message="You used 1 − f, the share the gate forgets: the cell state keeps f of "
                     "itself, so the gradient along the cell path is multiplied by f.",
             hint="Does the gate's value say how much is kept, or how much is dropped?"),
        Slip("the bias as the gate", lambda b, k: np.asarray(b, dtype=float) ** k,
             message="You raised the bias itself to the power k: the gate's value is the "
                     "sigmoid of its input, and the bias is only part of that input.",
             hint="Which function turns the forget gate's input into its value?"),
    ],
)
