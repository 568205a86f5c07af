"""The explorer of notebook 08: per-block gradient norms at initialisation, by depth, skip or
no skip, where the normalisation goes (post- or pre-activation blocks) and which norm.

``residual_gradient_explorer(depth, skip, placement, norm, seed, ax)`` is the pure function
(it computes, and draws on ``ax`` when given); ``residual_gradient_widget()`` is its UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from utils import checks
from utils.widgets import explorer_digits

#: Where the norm and activation sit in a block: after the Linear, the activation after the
#: addition ("post", He et al. 2016a) or before the Linear, a clean sum ("pre", He et al. 2016b).
PLACEMENTS = ("post", "pre")
#: The normalisations the explorer offers (None: none).
EXPLORER_NORMS = ("batch", "layer", None)
MAX_EXPLORER_DEPTH = 200
#: Colours (Okabe–Ito): with the skip, without it.
SKIP_COLOUR, PLAIN_COLOUR = "#0072B2", "#D55E00"


@dataclass
class ResidualGradientResult:
    """What one run of the explorer measured: ‖∂L/∂x‖ at the input of each block (input side
    first) and ``ratio`` = first block / last block."""

    depth: int
    skip: bool
    placement: str
    norm: str | None
    norms: np.ndarray
    ratio: float

    def finding(self) -> str:
        """One line that names what the profile shows."""
        if not np.isfinite(self.ratio):
            return "The gradient did not reach the first block (non-finite or zero)."
        if self.ratio > 1e3:
            return f"Exploding: block 1 gets {self.ratio:.1e} times the last block's gradient."
        if self.ratio < 1e-3:
            return f"Vanishing: block 1 gets {self.ratio:.1e} of the last block's gradient."
        return f"Within a factor 1000: block 1 gets {self.ratio:.3g} times the last block's."


def residual_gradient_explorer(depth: int = 50, skip: bool = True, placement: str = "pre",
                               norm: str | None = "batch", seed: int | None = None,
                               ax: Any = None) -> ResidualGradientResult:
    """Per-block gradient norms of a fresh He-initialised MLP of ``depth`` one-layer blocks
    (width 64) on 512 digits; drawn on ``ax`` (log scale) when given.

    ``skip``: residual blocks (True) or the same layers without the skips (False).
    ``placement``: "post" (Linear → norm → activation, the skip added before the last
    activation) or "pre" (norm → activation → Linear, the skip added after). ``norm``:
    "batch", "layer" or None. ``seed``: the weights (default: the course seed).
    """
    from utils.nets import make_mlp
    from utils.residual import block_input_gradients, plain_twin
    from utils.setup import current_seed

    depth = checks.whole_number("depth", depth, maximum=MAX_EXPLORER_DEPTH)
    skip = checks.boolean("skip", skip)
    placement = checks.one_of("placement", placement, PLACEMENTS)
    norm = checks.one_of("norm", norm, EXPLORER_NORMS)
    seed = current_seed() if seed is None else checks.seed("seed", seed)
    checks.axes("ax", ax, optional=True)
    model = make_mlp(64, 10, depth=depth + 1, width=64, init="he_normal", norm=norm,
                     residual=placement, seed=seed)
    if not skip:
        model = plain_twin(model)
    x, y = explorer_digits("float32")
    norms = block_input_gradients(model, x, y)
    ratio = float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")
    result = ResidualGradientResult(depth, skip, placement, norm, norms, ratio)
    if ax is not None:
        colour = SKIP_COLOUR if skip else PLAIN_COLOUR
        ax.semilogy(range(1, depth + 1), np.maximum(norms, 1e-300), marker="o", markersize=3,
                    color=colour)
        ax.set(xlabel="block (1 = next to the input)", ylabel="‖∂L/∂x‖ at the block's input",
               title=f"{'residual' if skip else 'plain'}, {placement}-activation, "
                     f"{norm or 'no'} norm, {depth} blocks\n{result.finding()}")
    return result


def residual_gradient_widget() -> Any:
    """The explorer's UI: depth, skip, placement and norm redraw the per-block profile."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(depth: int, skip: bool, placement: str, norm: str | None
             ) -> ResidualGradientResult:
        fig, ax = plt.subplots(figsize=(7, 4))
        result = residual_gradient_explorer(depth, skip, placement, norm, ax=ax)
        plt.show()
        return result

    return widgets.interactive(
        show,
        depth=widgets.IntSlider(value=50, min=2, max=100, step=1, description="blocks"),
        skip=widgets.Checkbox(value=True, description="skip connections"),
        placement=widgets.Dropdown(options=[("post-activation (He 2016a)", "post"),
                                            ("pre-activation (He 2016b)", "pre")],
                                   value="pre", description="placement"),
        norm=widgets.Dropdown(options=[("batch norm", "batch"), ("layer norm", "layer"),
                                       ("none", None)], value="batch", description="norm"),
    )
