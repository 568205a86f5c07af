"""Gradient clipping from scratch (notebook 10), and the loss cliff of a one-unit RNN.

Two rules, each a few lines, matched to PyTorch in the notebook and the tests:

- ``clip_grad_norm(parameters, max_norm)``: the gradient of *all* the parameters taken
  together is one vector g; if ‖g‖ > ``max_norm`` every gradient is multiplied by the same
  factor ``max_norm / (‖g‖ + 1e-6)``, so g keeps its direction. Returns ‖g‖ measured
  **before** clipping, as ``torch.nn.utils.clip_grad_norm_`` does (Pascanu et al. 2013,
  Algorithm 1).
- ``clip_grad_value(parameters, clip_value)``: every gradient entry is clamped into
  [−clip_value, clip_value] on its own, which changes the direction of g.

``flat_gradient`` and ``cosine`` compare gradients before and after clipping;
``cliff_loss`` is the one-unit recurrent network of Pascanu et al.'s Fig. 6 idea, whose
loss along its recurrent weight is a smooth valley ending in a wall.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from utils import checks

#: What ``torch.nn.utils.clip_grad_norm_`` adds to the norm before dividing by it.
NORM_EPS = 1e-6


def _gradients(parameters: Iterable[torch.Tensor] | torch.Tensor,
               function: str) -> list[torch.Tensor]:
    """The ``.grad`` of every parameter that has one (a single tensor counts as a list)."""
    if torch.is_tensor(parameters):
        parameters = [parameters]
    try:
        parameters = list(parameters)
    except TypeError:
        raise ValueError(f"{function} needs the parameters, e.g. model.parameters(), got "
                         f"{checks.describe(parameters)}.") from None
    if not all(torch.is_tensor(p) for p in parameters):
        raise ValueError(f"{function} needs tensors (the parameters, e.g. model.parameters()), "
                         f"got {', '.join(sorted({type(p).__name__ for p in parameters}))}. "
                         "Pass model.parameters(), not the model.")
    return [p.grad for p in parameters if p.grad is not None]


def total_norm(parameters: Iterable[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """‖g‖: the 2-norm of all the parameters' gradients taken together as one vector."""
    return _norm_of(_gradients(parameters, "total_norm"))


def _norm_of(grads: list[torch.Tensor]) -> torch.Tensor:
    """√(sum of the squares of every entry of every tensor in ``grads``)."""
    if not grads:
        return torch.tensor(0.0)
    return torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))


def clip_grad_norm(parameters: Iterable[torch.Tensor] | torch.Tensor,
                   max_norm: float) -> torch.Tensor:
    """Rescale all gradients together so that their total norm is at most ``max_norm``.

    Every ``.grad`` is multiplied in place by min(1, max_norm / (‖g‖ + 1e-6)): one factor
    for all of them, so the whole gradient keeps its direction. Returns ‖g‖ **before**
    clipping (what ``torch.nn.utils.clip_grad_norm_`` returns: log it).
    """
    max_norm = checks.positive_number("max_norm", max_norm)
    grads = _gradients(parameters, "clip_grad_norm")
    norm = _norm_of(grads)
    factor = torch.clamp(max_norm / (norm + NORM_EPS), max=1.0)
    for g in grads:
        g.mul_(factor.to(g.dtype))
    return norm


def clip_grad_value(parameters: Iterable[torch.Tensor] | torch.Tensor,
                    clip_value: float) -> None:
    """Clamp every gradient entry into [−clip_value, clip_value], in place, each on its own.

    What ``torch.nn.utils.clip_grad_value_`` does. Large entries are cut and small ones kept,
    so the gradient's direction changes.
    """
    clip_value = checks.positive_number("clip_value", clip_value)
    for g in _gradients(parameters, "clip_grad_value"):
        g.clamp_(-clip_value, clip_value)


def flat_gradient(parameters: Iterable[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """All the parameters' gradients as one flat vector (a copy)."""
    grads = _gradients(parameters, "flat_gradient")
    if not grads:
        return torch.zeros(0)
    return torch.cat([g.detach().reshape(-1) for g in grads]).clone()


def cosine(u: torch.Tensor, v: torch.Tensor) -> float:
    """The cosine of the angle between two vectors (1: the same direction)."""
    if not (torch.is_tensor(u) and torch.is_tensor(v)) or u.shape != v.shape:
        raise ValueError(f"cosine needs two tensors of one shape, got {checks.describe(u)} and "
                         f"{checks.describe(v)}.")
    u, v = u.reshape(-1).double(), v.reshape(-1).double()
    return float(u @ v / (torch.linalg.vector_norm(u) * torch.linalg.vector_norm(v)))


def cliff_loss(w: torch.Tensor | float, b: torch.Tensor | float = -2.5, steps: int = 50,
               start: float = 0.5, target: float = 0.7) -> torch.Tensor:
    """The loss of a one-unit recurrent network: (x_T − target)² with x_t = w·σ(x_{t−1}) + b.

    ``w`` (the recurrent weight) and ``b`` may be tensors of one shape (a grid): the loss is
    computed for each pair. Past a critical w the unstable fixed point that separates two
    basins passes the start, and x_T jumps to the other stable fixed point: the loss surface
    has a wall there
    (the network of Pascanu, Mikolov & Bengio 2013, Fig. 6).
    """
    steps = checks.whole_number("steps", steps, maximum=10_000)
    w = torch.as_tensor(w, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    x = torch.full(torch.broadcast_shapes(w.shape, b.shape), float(start), dtype=torch.float64)
    for _ in range(steps):
        x = w * torch.sigmoid(x) + b
    return (x - target) ** 2
