"""The broken networks ("patients") that exercises and the capstone diagnose.

Each patient is a ``Patient``: how to build the network (from a seed), what is wrong with
it, where, and which notebook teaches the fix. An exercise asks the learner to find the
cause with the course's tools; the check compares with ``cause`` and ``where``::

    from utils.exercises.patients import PATIENTS

    patient = PATIENTS["stuck layer"]
    net = patient.build(seed=0)
    patient.cause, patient.where, patient.fixed_in

The notebooks import the builders by their old paths too
(``utils.exercises.nb02_backpropagation.network_with_a_bug``,
``utils.exercises.nb03_vanishing_gradients.network_with_a_stuck_layer``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from utils import backprop


@dataclass(frozen=True)
class Patient:
    """A broken network with its known cause.

    ``build(seed)`` returns a fresh network (NumPy ``backprop.MLP`` or ``torch.nn.Module``)
    without touching the caller's random state; ``cause`` says what is wrong in a sentence;
    ``where`` names the broken part as the course's tools name it (a parameter or a layer;
    "" when the whole network is at fault); ``fixed_in`` is the stem of the notebook that
    teaches the fix (a ``utils.course.CURRICULUM`` stem).
    """

    name: str
    build: Callable[..., object]
    cause: str
    where: str
    fixed_in: str


# --- notebook 02: a backward pass with a bug ------------------------------------------------


class _LinearWithABug(backprop.Linear):
    """A Linear layer whose backward pass averages the bias gradient (it should sum)."""

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_in = super().backward(grad_out)
        self.grads["bias"] = grad_out.mean(axis=0)
        return grad_in


def network_with_a_bug(seed: int = 0) -> backprop.MLP:
    """A small tanh MLP [2, 8, 8, 3] in which one parameter's gradient is computed wrongly.

    Find which one with ``backprop.gradient_check``.
    """
    model = backprop.MLP([2, 8, 8, 3], "tanh", seed=seed)
    buggy = model.layers[2]
    replacement = _LinearWithABug(buggy.n_in, buggy.n_out)
    replacement.params = buggy.params
    model.layers[2] = replacement
    return model


BUGGY_PARAMETER = "linear2.bias"

# --- notebook 03: a layer that has stopped learning -----------------------------------------

STUCK_LAYER = 5
DEPTH_OF_STUCK_PATIENT = 8
#: How much the stuck layer's weights are scaled: enough to saturate its tanh units.
STUCK_SCALE = 25.0


def network_with_a_stuck_layer(seed: int = 0) -> torch.nn.Module:
    """An 8-layer tanh MLP (64 → 10, width 64) in which one layer has stopped learning."""
    from utils.nets import make_mlp

    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's
        torch.manual_seed(seed)
        model = make_mlp(64, 10, depth=DEPTH_OF_STUCK_PATIENT, width=64, activation="tanh",
                         init="xavier_uniform")
    with torch.no_grad():
        getattr(model, f"hidden{STUCK_LAYER}").linear.weight.mul_(STUCK_SCALE)
    return model


# --- notebook 05 (exercise 5.3): deep networks that stall at initialization -----------------

#: The six networks of exercise 5.3: 30 Linear layers unless said otherwise, width 128,
#: on the digits, SGD with momentum 0.9, learning rate 0.0015, 20 epochs.
STALL_OPTIONS = {
    "A": "ReLU, 30 layers, He init N(0, 2/n)",
    "B": "ReLU, 30 layers, Xavier init N(0, 2/(n_in+n_out))",
    "C": "ReLU, 30 layers, PyTorch's default init U(±1/√n)",
    "D": "ReLU, 3 layers, Xavier init",
    "E": "tanh, 30 layers, Xavier init",
    "F": "ReLU, 30 layers, orthogonal init with gain √2",
}
#: The same networks as (activation, hidden layers, init): the hidden layers are 64 → 128,
#: then 128 → 128 (notebook 05's network, make_mlp(64, 10, depth, 128)).
STALL_NETWORKS = {
    "A": ("relu", 29, "he"), "B": ("relu", 29, "xavier"), "C": ("relu", 29, "default"),
    "D": ("relu", 2, "xavier"), "E": ("tanh", 29, "xavier"), "F": ("relu", 29, "orthogonal √2"),
}
STALLING = {"B", "C"}
#: The initializer names of ``utils.nets.make_mlp`` for the inits of ``STALL_NETWORKS``
#: (orthogonal √2 is applied afterwards by ``utils.initializers.apply_init``).
_MAKE_MLP_INITS = {"he": "he_normal", "xavier": "xavier_normal", "default": "default",
                   "orthogonal √2": "default"}


def stall_network(letter: str, seed: int = 0) -> torch.nn.Module:
    """Network ``letter`` (A–F) of exercise 5.3, initialized from ``seed`` without touching
    the caller's random state."""
    from utils import initializers
    from utils.nets import make_mlp

    if letter not in STALL_NETWORKS:
        raise ValueError(f"letter must be one of {', '.join(STALL_NETWORKS)}, got {letter!r}.")
    activation, hidden, init = STALL_NETWORKS[letter]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_mlp(64, 10, depth=hidden, width=128, activation=activation,
                       init=_MAKE_MLP_INITS[init])
    if init == "orthogonal √2":
        initializers.apply_init(net, "orthogonal", gain=math.sqrt(2), rng=seed)
    return net


def _stall_builder(letter: str) -> Callable[..., torch.nn.Module]:
    def build(seed: int = 0) -> torch.nn.Module:
        return stall_network(letter, seed)

    build.__doc__ = f"Network {letter} of exercise 5.3: {STALL_OPTIONS[letter]}."
    return build


PATIENTS: dict[str, Patient] = {
    "bias gradient averaged": Patient(
        "bias gradient averaged", network_with_a_bug,
        "the backward pass of the second Linear layer averages the bias gradient over the "
        "batch where it should sum", BUGGY_PARAMETER, "02_backpropagation"),
    "stuck layer": Patient(
        "stuck layer", network_with_a_stuck_layer,
        f"hidden{STUCK_LAYER}'s weights are {STUCK_SCALE:g} times too large: its tanh units "
        "saturate, so its own weights get almost no gradient", f"hidden{STUCK_LAYER}",
        "05_weight_initialization"),
    "deep ReLU, Xavier init": Patient(
        "deep ReLU, Xavier init", _stall_builder("B"),
        "Xavier's n·Var(w) = 1 with ReLU halves the signal's second moment in every one of "
        "29 hidden layers: the output no longer depends on the input and training stalls",
        "", "05_weight_initialization"),
    "deep ReLU, default init": Patient(
        "deep ReLU, default init", _stall_builder("C"),
        "PyTorch's default U(±1/√n) keeps 1/6 of the signal's second moment per ReLU layer: "
        "after 29 layers the output no longer depends on the input and training stalls",
        "", "05_weight_initialization"),
}
