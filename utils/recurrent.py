"""Recurrent cells from scratch in PyTorch tensor code: the tanh RNN, the LSTM and the GRU (09).

One time step of each cell, with PyTorch's equations and weight layout (so that the weights
of an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` load unchanged), x of shape (batch, input) and h,
c of shape (batch, hidden)::

    tanh RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    LSTM       i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)      (PyTorch's order)
               i, f, o = σ(i), σ(f), σ(o);  g = tanh(g)
               c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
    GRU        r, z, n from W_ih x + b_ih and W_hh h + b_hh            (PyTorch's order)
               r = σ(…), z = σ(…), n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
               h' = (1 − z) ⊙ n + z ⊙ h

- ``CellWeights``: the four tensors of one layer (``W_ih``, ``W_hh``, ``b_ih``, ``b_hh``) and
  its kind; ``cell_weights(module, layer)`` reads them from a PyTorch recurrent layer.
- ``rnn_cell``, ``lstm_cell``, ``gru_cell``: one step; ``lstm_gates`` the four gate values.
- ``unroll(x, weights, state)``: the cell applied along time (x of shape (batch, time, input));
  it returns every hidden state (and every cell state and forget gate of an LSTM) as a
  separate tensor, so that backpropagation through time can be read at each step.
- ``rnn_jacobian(h_next, W_hh)``: ∂h_t/∂h_{t−1} = diag(1 − h_t²) W_hh of a tanh RNN, and
  ``spectral_radius`` / ``spectral_norm`` of a square matrix: the largest |eigenvalue| and
  the largest singular value. Backpropagation multiplies the gradient by the transposed
  Jacobian once per step back, so its size decides between vanishing and exploding.

Invalid arguments raise ``ValueError`` naming the argument (``utils.checks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from utils import checks

#: The kinds of cell, and the number of gate blocks stacked in their weights.
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
#: PyTorch's order of the stacked gate blocks.
LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")
_MODULE_KINDS = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}


@dataclass
class CellWeights:
    """The weights of one recurrent layer, in PyTorch's layout.

    ``W_ih`` (blocks·hidden, input), ``W_hh`` (blocks·hidden, hidden), ``b_ih`` and ``b_hh``
    (blocks·hidden,), with 1, 4 or 3 blocks for ``kind`` "rnn", "lstm", "gru".
    """

    kind: str
    W_ih: torch.Tensor
    W_hh: torch.Tensor
    b_ih: torch.Tensor
    b_hh: torch.Tensor

    @property
    def hidden_size(self) -> int:
        """Number of hidden units."""
        return self.W_hh.shape[1]

    @property
    def input_size(self) -> int:
        """Number of input features."""
        return self.W_ih.shape[1]


def cell_weights(module: nn.Module, layer: int = 0) -> CellWeights:
    """The weights of layer ``layer`` of an ``nn.RNN`` (tanh), ``nn.LSTM`` or ``nn.GRU``.

    The tensors are the module's own parameters (not copies), so a loss computed with them
    sends its gradient to the module's ``.grad``.
    """
    kind = _MODULE_KINDS.get(type(module))
    if kind is None:
        raise ValueError(f"module must be an nn.RNN, nn.LSTM or nn.GRU, got "
                         f"{checks.describe(module)}.")
    layer = checks.whole_number("layer", layer, minimum=0, maximum=module.num_layers - 1)
    if module.bidirectional or not module.bias or getattr(module, "proj_size", 0):
        raise ValueError("module must be one-directional, with biases and without a "
                         "projection (bidirectional=False, bias=True, proj_size=0).")
    if kind == "rnn" and module.nonlinearity != "tanh":
        raise ValueError(f"rnn_cell is the tanh RNN; module has nonlinearity="
                         f"{module.nonlinearity!r}.")
    return CellWeights(kind, *(getattr(module, f"{name}_l{layer}")
                               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))


def _check_weights(weights: Any, kind: str) -> CellWeights:
    if not isinstance(weights, CellWeights):
        raise ValueError(f"weights must be a CellWeights (from cell_weights(module)), got "
                         f"{checks.describe(weights)}.")
    if weights.kind != kind:
        raise ValueError(f"weights are of a {weights.kind!r} layer, this is the {kind!r} cell.")
    rows = GATE_BLOCKS[kind] * weights.hidden_size
    for name, shape in (("W_ih", (rows, weights.input_size)), ("W_hh", (rows, rows // (
            GATE_BLOCKS[kind]))), ("b_ih", (rows,)), ("b_hh", (rows,))):
        if tuple(getattr(weights, name).shape) != shape:
            raise ValueError(f"weights.{name} must have shape {shape} for a {kind} cell of "
                             f"{weights.hidden_size} hidden units, got "
                             f"{tuple(getattr(weights, name).shape)}.")
    return weights


def _check_step(x: Any, h: Any, weights: CellWeights, name: str = "h") -> None:
    for label, value, size in (("x", x, weights.input_size), (name, h, weights.hidden_size)):
        if not torch.is_tensor(value) or value.dim() != 2 or value.shape[1] != size:
            raise ValueError(f"{label} must be a tensor of shape (batch, {size}), got "
                             f"{checks.describe(value)}.")
    if x.shape[0] != h.shape[0]:
        raise ValueError(f"x and {name} must have the same batch size, got {x.shape[0]} and "
                         f"{h.shape[0]}.")


def _pre_activations(x: torch.Tensor, h: torch.Tensor, weights: CellWeights) -> torch.Tensor:
    return x @ weights.W_ih.T + weights.b_ih + h @ weights.W_hh.T + weights.b_hh


def rnn_cell(x: torch.Tensor, h: torch.Tensor, weights: CellWeights) -> torch.Tensor:
    """One step of a tanh RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    _check_step(x, h, _check_weights(weights, "rnn"))
    return torch.tanh(_pre_activations(x, h, weights))


def lstm_gates(x: torch.Tensor, h: torch.Tensor, weights: CellWeights
               ) -> dict[str, torch.Tensor]:
    """The LSTM's input, forget, cell-candidate and output gates {"i", "f", "g", "o"}."""
    _check_step(x, h, _check_weights(weights, "lstm"))
    i, f, g, o = _pre_activations(x, h, weights).chunk(4, dim=1)
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g),
            "o": torch.sigmoid(o)}


def lstm_cell(x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
              weights: CellWeights) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step: (h, c) → (h', c') with c' = f ⊙ c + i ⊙ g and h' = o ⊙ tanh(c')."""
    h, c = _check_state(state, "lstm")
    _check_step(x, c, _check_weights(weights, "lstm"), name="c")
    gates = lstm_gates(x, h, weights)
    c_next = gates["f"] * c + gates["i"] * gates["g"]
    return gates["o"] * torch.tanh(c_next), c_next


def gru_cell(x: torch.Tensor, h: torch.Tensor, weights: CellWeights) -> torch.Tensor:
    """One GRU step (PyTorch's equations: the reset gate multiplies W_hn h + b_hn)."""
    _check_step(x, h, _check_weights(weights, "gru"))
    x_r, x_z, x_n = (x @ weights.W_ih.T + weights.b_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ weights.W_hh.T + weights.b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def _check_state(state: Any, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "lstm":
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"state of an LSTM must be a pair (h, c) of tensors of shape "
                             f"(batch, hidden), got {checks.describe(state)}.")
        return state[0], state[1]
    return state


@dataclass
class Unrolled:
    """What ``unroll`` computed, one tensor per time step (first to last).

    ``hidden``: h_1 … h_T; ``cell``: c_1 … c_T and ``forget``: f_1 … f_T (an LSTM only,
    else None). ``outputs`` stacks the hidden states as (batch, time, hidden), what a
    PyTorch layer with ``batch_first=True`` returns.
    """

    hidden: list[torch.Tensor]
    cell: list[torch.Tensor] | None = None
    forget: list[torch.Tensor] | None = None

    @property
    def outputs(self) -> torch.Tensor:
        """The hidden states stacked along time: (batch, time, hidden)."""
        return torch.stack(self.hidden, dim=1)


def unroll(x: torch.Tensor, weights: CellWeights, state: Any = None) -> Unrolled:
    """Run the cell of ``weights`` along the time axis of ``x`` (batch, time, input).

    ``state`` is the initial h (batch, hidden), or (h, c) for an LSTM; None: zeros.
    """
    kind = weights.kind if isinstance(weights, CellWeights) else "rnn"
    _check_weights(weights, kind)
    if not torch.is_tensor(x) or x.dim() != 3 or x.shape[2] != weights.input_size:
        raise ValueError(f"x must be a tensor of shape (batch, time, {weights.input_size}), "
                         f"got {checks.describe(x)}.")
    if x.shape[1] == 0:
        raise ValueError("x has no time steps (shape (batch, 0, features)).")
    if state is None:
        zeros = x.new_zeros(x.shape[0], weights.hidden_size)
        state = (zeros, zeros) if kind == "lstm" else zeros
    result = Unrolled([], [] if kind == "lstm" else None, [] if kind == "lstm" else None)
    for x_t in x.unbind(dim=1):
        if kind == "lstm":
            result.forget.append(lstm_gates(x_t, _check_state(state, kind)[0], weights)["f"])
            state = lstm_cell(x_t, state, weights)
            result.hidden.append(state[0])
            result.cell.append(state[1])
        else:
            state = (rnn_cell if kind == "rnn" else gru_cell)(x_t, state, weights)
            result.hidden.append(state)
    return result


def rnn_jacobian(h_next: torch.Tensor, W_hh: torch.Tensor) -> torch.Tensor:
    """∂h_t/∂h_{t−1} = diag(1 − h_t²) W_hh of a tanh RNN, for each example of the batch.

    ``h_next`` is h_t, (batch, hidden) or (hidden,); returns (batch, hidden, hidden) (or
    (hidden, hidden)). Backpropagation multiplies ∂L/∂h_t by its transpose,
    W_hhᵀ diag(1 − h_t²), to get ∂L/∂h_{t−1}.
    """
    if not torch.is_tensor(W_hh) or W_hh.dim() != 2 or W_hh.shape[0] != W_hh.shape[1]:
        raise ValueError(f"W_hh must be a square matrix (hidden, hidden), got "
                         f"{checks.describe(W_hh)}.")
    if (not torch.is_tensor(h_next) or h_next.dim() not in (1, 2)
            or h_next.shape[-1] != W_hh.shape[0]):
        raise ValueError(f"h_next must be a tensor of shape (batch, {W_hh.shape[0]}) or "
                         f"({W_hh.shape[0]},), got {checks.describe(h_next)}.")
    return (1 - h_next**2).unsqueeze(-1) * W_hh


def _square(name: str, matrix: Any) -> torch.Tensor:
    if not torch.is_tensor(matrix) or matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square matrix (a 2-D tensor), got "
                         f"{checks.describe(matrix)}.")
    return matrix.detach().double()


def spectral_radius(matrix: torch.Tensor) -> float:
    """The largest |eigenvalue| of a square matrix: the growth per step of Wᵏ for large k."""
    return torch.linalg.eigvals(_square("matrix", matrix)).abs().max().item()


def spectral_norm(matrix: torch.Tensor) -> float:
    """The largest singular value of a square matrix: the most it can stretch one vector."""
    return torch.linalg.matrix_norm(_square("matrix", matrix), ord=2).item()
