"""The broken networks ("patients") that exercises and the capstone diagnose.

Each patient is a ``Patient``: how to build the network (from a seed), what is wrong with
it, where, and which notebook teaches the fix. An exercise asks the learner to find the
cause with the course's tools; the check compares with ``cause`` and ``where``::

    from utils.exercises.patients import PATIENTS

    patient = PATIENTS["stuck layer"]
    net = patient.build(seed=0)
    patient.cause, patient.where, patient.fixed_in
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

    model = make_mlp(64, 10, depth=DEPTH_OF_STUCK_PATIENT, width=64, activation="tanh",
                     init="xavier_uniform", seed=seed)
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

@dataclass(frozen=True)
class StallNetwork:
    """One network of exercise 5.3 as ``utils.nets.make_mlp`` builds it (64 → 10, width 128):
    its ``activation``, ``depth`` (hidden layers), ``init`` (a name of
    ``utils.initializers.INITIALIZERS``, or "default" for PyTorch's own) and ``gain``
    (None: the table's default gain)."""

    activation: str
    depth: int
    init: str
    gain: float | None = None


#: The same networks for make_mlp: the hidden layers are 64 → 128, then 128 → 128 (notebook
#: 05's network, make_mlp(64, 10, depth, 128)).
STALL_NETWORKS: dict[str, StallNetwork] = {
    "A": StallNetwork("relu", 29, "he_normal"),
    "B": StallNetwork("relu", 29, "xavier_normal"),
    "C": StallNetwork("relu", 29, "default"),
    "D": StallNetwork("relu", 2, "xavier_normal"),
    "E": StallNetwork("tanh", 29, "xavier_normal"),
    "F": StallNetwork("relu", 29, "orthogonal", gain=math.sqrt(2)),
}
STALLING = {"B", "C"}


def stall_network(letter: str, seed: int = 0) -> torch.nn.Module:
    """Network ``letter`` (A–F) of exercise 5.3, initialized from ``seed`` without touching
    the caller's random state."""
    from utils.nets import make_mlp

    if letter not in STALL_NETWORKS:
        raise ValueError(f"letter must be one of {', '.join(STALL_NETWORKS)}, got {letter!r}.")
    spec = STALL_NETWORKS[letter]
    return make_mlp(64, 10, depth=spec.depth, width=128, activation=spec.activation,
                    init=spec.init, gain=spec.gain, seed=seed)


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
