"""The README's figure: the course's central picture, drawn from a fresh measurement.

Run from the repository root (``make figure``)::

    python -m tools.figure                 # writes docs/img/gradient_flow.png

It measures, on one batch of the 8×8 digits, the gradient norm of every hidden layer's
weights in 20-layer networks at initialization: sigmoid with Xavier init (the gradient
shrinks layer after layer toward the input, as in notebook 03), ReLU with PyTorch's default
init (vanishing too, notebook 05), ReLU with He init, and sigmoid with batch norm
(notebook 06). Deterministic for a given seed and library versions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tools.editions import REPO_ROOT

FIGURE_PATH = REPO_ROOT / "docs" / "img" / "gradient_flow.png"
DEPTH, WIDTH, BATCH = 20, 64, 256
#: (label, activation, init, norm) of each network drawn.
NETWORKS = (
    ("sigmoid, Xavier init (notebook 03)", "sigmoid", "xavier_uniform", None),
    ("ReLU, PyTorch's default init (notebook 05)", "relu", "default", None),
    ("ReLU, He init (notebook 05)", "relu", "he_normal", None),
    ("sigmoid + batch norm (notebook 06)", "sigmoid", "xavier_uniform", "batch"),
)


def layer_gradient_norms(activation: str, init: str, norm: str | None,
                         seed: int = 0) -> np.ndarray:
    """‖∂L/∂W‖ of each hidden layer (input side first) of a fresh ``DEPTH``-layer MLP on
    one batch of ``BATCH`` training digits, with the cross-entropy loss."""
    import torch

    from utils.data import digits_split
    from utils.nets import hidden_layers, make_mlp

    split = digits_split()
    x = torch.as_tensor(split.x_train[:BATCH])
    y = torch.as_tensor(split.y_train[:BATCH])
    model = make_mlp(64, 10, DEPTH, WIDTH, activation=activation, init=init, norm=norm,
                     seed=seed)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return np.array([layer.linear.weight.grad.norm().item() for layer in hidden_layers(model)])


def draw(path: Path = FIGURE_PATH, seed: int = 0) -> Path:
    """Measure and draw the figure into ``path`` (PNG); return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import utils
    from utils.plots import OKABE_ITO, use_course_style

    utils.setup(seed=seed, quiet=True)
    use_course_style()
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    layers = np.arange(1, DEPTH + 1)
    markers = ("o", "s", "^", "D")
    for index, (label, activation, init, norm) in enumerate(NETWORKS):
        norms = layer_gradient_norms(activation, init, norm, seed)
        ax.semilogy(layers, norms, marker=markers[index], markersize=4, label=label,
                    color=OKABE_ITO[(index + 1) % len(OKABE_ITO)])
    ax.set(xlabel="hidden layer (1 = next to the input)",
           ylabel="‖∂L/∂W‖ of the layer (log scale)", xticks=layers[::2],
           title="20 layers at initialization: where the gradient vanishes, and the fixes")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: write the figure."""
    parser = argparse.ArgumentParser(prog="python -m tools.figure", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=FIGURE_PATH)
    args = parser.parse_args(argv)
    print(f"wrote {draw(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
