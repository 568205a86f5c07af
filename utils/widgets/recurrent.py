"""The recurrent-gradient explorer of notebook 10: gradient norm against time lag.

``recurrent_gradient_explorer(kind, scale, length, max_norm, ...)`` builds a fresh RNN,
LSTM or GRU whose recurrent matrices are orthogonal times ``scale``, runs it on a batch of
the adding problem, and measures ‖∂L/∂h_t‖ for every time step (``hidden_state_gradients``)
and the total gradient norm of the parameters. With ``max_norm`` the whole gradient is
clipped by norm, which multiplies every lag's gradient by one factor: the curve moves down,
its slope stays. ``recurrent_gradient_widget()`` is its UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from utils import checks

#: The recurrent layers the explorer builds.
EXPLORER_KINDS = ("rnn", "lstm", "gru")
#: The longest sequence the explorer runs (it is run one step at a time).
MAX_EXPLORER_LENGTH = 300
#: A gradient at the first step this many times the last step's is called exploding
#: (its inverse: vanishing).
GROWTH = 1e3
#: Colours (Okabe–Ito): before and after clipping.
RAW_COLOUR, CLIPPED_COLOUR = "#0072B2", "#D55E00"


@dataclass
class RecurrentGradientResult:
    """What one run of the recurrent-gradient explorer measured.

    ``lags``: 0 (the last step, where the loss is) to length − 1; ``norms``: ‖∂L/∂h‖ at each
    lag before clipping; ``clipped``: the same after clipping by norm (equal to ``norms``
    without ``max_norm``); ``grad_norm``: the parameters' total gradient norm before
    clipping; ``factor``: what clipping multiplied every gradient by (1: no clipping).
    """

    kind: str
    scale: float
    length: int
    max_norm: float | None
    lags: np.ndarray
    norms: np.ndarray
    clipped: np.ndarray
    grad_norm: float
    factor: float

    @property
    def ratio(self) -> float:
        """‖∂L/∂h‖ at the longest lag / at lag 0 (clipping leaves it unchanged)."""
        return float(self.norms[-1] / self.norms[0]) if self.norms[0] > 0 else float("nan")

    def finding(self) -> str:
        """One sentence on what the plot shows."""
        ratio = self.ratio
        if not np.isfinite(ratio) or ratio == 0:
            return "The gradient underflowed or overflowed: nothing useful reaches the start."
        if ratio > GROWTH:
            trend = f"Exploding: the first step gets {ratio:.1e} × the last step's gradient"
        elif ratio < 1 / GROWTH:
            trend = f"Vanishing: the first step gets {ratio:.1e} of the last step's gradient"
        elif ratio > 10:
            trend = f"Growing: the first step gets {ratio:.2g} × the last step's gradient"
        elif ratio < 0.1:
            trend = f"Shrinking: the first step gets {ratio:.2g} of the last step's gradient"
        else:
            trend = f"Steady: the first step gets {ratio:.2g} × the last step's gradient"
        if self.factor < 1:
            return f"{trend}; clipping scaled every lag by {self.factor:.1e}."
        return f"{trend}."


def _check_max_norm(max_norm: Any) -> float | None:
    return None if max_norm is None else checks.positive_number("max_norm", max_norm)


def recurrent_gradient_explorer(kind: str = "rnn", scale: float = 1.0, length: int = 50,
                                max_norm: float | None = None, hidden_size: int = 32,
                                batch_size: int = 64, seed: int | None = None,
                                ax: Any = None) -> RecurrentGradientResult:
    """Gradient norm against time lag for a fresh recurrent network, drawn on ``ax``.

    ``kind`` is "rnn" (tanh), "lstm" or "gru"; every recurrent matrix (each gate's block)
    is orthogonal times ``scale`` (the spectral radius of a vanilla RNN's W_hh). The loss is
    the mean squared error of the model's prediction on ``batch_size`` sequences of the
    adding problem of ``length`` steps, computed in float64. ``max_norm`` clips the
    parameters' whole gradient by norm (``torch.nn.utils.clip_grad_norm_``). ``seed``
    seeds the weights and the batch (default: the course seed).
    """
    import torch

    from utils.clipping import NORM_EPS
    from utils.data import make_adding_problem
    from utils.gradflow import hidden_state_gradients
    from utils.nets import make_sequence_model
    from utils.setup import current_seed

    checks.one_of("kind", kind, EXPLORER_KINDS)
    scale = checks.positive_number("scale", scale, maximum=100.0)
    length = checks.whole_number("length", length, minimum=2, maximum=MAX_EXPLORER_LENGTH)
    max_norm = _check_max_norm(max_norm)
    hidden_size = checks.whole_number("hidden_size", hidden_size, maximum=512)
    batch_size = checks.whole_number("batch_size", batch_size, maximum=4096)
    seed = current_seed() if seed is None else checks.seed("seed", seed)
    if ax is not None:
        checks.axes("ax", ax)
    model = make_sequence_model(kind, 2, hidden_size, 1, recurrent_init="orthogonal",
                                recurrent_gain=scale, seed=seed).double()
    x, y = make_adding_problem(batch_size, length, seed=seed)
    x, y = x.double(), y.double()
    gradients = hidden_state_gradients(
        model.rnn, x, lambda h: torch.nn.functional.mse_loss(model.head(h), y))
    model.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    grad_norm = float(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())))
    factor = 1.0 if max_norm is None else min(1.0, max_norm / (grad_norm + NORM_EPS))
    norms = np.array(gradients.hidden[::-1])  # lag 0 = the last step
    result = RecurrentGradientResult(kind, scale, length, max_norm, np.arange(length), norms,
                                     norms * factor, grad_norm, factor)
    if ax is not None:
        _draw(ax, result)
    return result


def _draw(ax: Any, result: RecurrentGradientResult) -> None:
    """The explorer's figure: ‖∂L/∂h‖ against lag, before and after clipping."""
    tiny = np.finfo(float).tiny
    ax.semilogy(result.lags, np.maximum(result.norms, tiny), color=RAW_COLOUR,
                label="no clipping")
    if result.max_norm is not None:
        ax.semilogy(result.lags, np.maximum(result.clipped, tiny), color=CLIPPED_COLOUR,
                    linestyle="--", label=f"clipped to norm {result.max_norm:g}")
    finding = result.finding().replace("; ", ";\n")  # the clipping factor on its own line
    ax.set(xlabel="lag: steps back from the loss", ylabel="‖∂L/∂h‖ (log scale)",
           title=f"{result.kind.upper()}, recurrent scale {result.scale:g}, "
                 f"{result.length} steps\n{finding}")
    ax.legend(loc="best")


def recurrent_gradient_widget() -> Any:
    """The explorer's UI: kind, recurrent scale, length and clipping redraw the profile."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(kind: str, scale: float, length: int, clip: bool,
             max_norm: float) -> RecurrentGradientResult:
        fig, ax = plt.subplots(figsize=(7, 4))
        result = recurrent_gradient_explorer(kind, scale, length, max_norm if clip else None,
                                             ax=ax)
        plt.show()
        return result

    return widgets.interactive(
        show,
        kind=widgets.Dropdown(options=[("vanilla RNN", "rnn"), ("LSTM", "lstm"),
                                       ("GRU", "gru")], value="rnn", description="kind"),
        scale=widgets.FloatSlider(value=1.0, min=0.25, max=6.0, step=0.25,
                                  description="W_hh scale"),
        length=widgets.IntSlider(value=50, min=5, max=200, step=5, description="length"),
        clip=widgets.Checkbox(value=False, description="clip by norm"),
        max_norm=widgets.FloatLogSlider(value=1.0, base=10, min=-2, max=2, step=0.25,
                                        description="max_norm"),
    )
