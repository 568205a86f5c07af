"""The scoreboard (11): one deep network that fails, and every fix alone and in combination.

The baseline is a 20-layer sigmoid MLP (width 64) with PyTorch's default init,
U(±1/√fan_in), trained by plain SGD on the digits: it stays at the loss of guessing,
ln 10 ≈ 2.30. Each entry of ``CONFIGURATIONS`` changes some of its settings (the
activation, the init, batch norm, residual blocks, the optimizer, gradient clipping)
and nothing else: the same depth, width, data, batch size, epochs and, per optimizer,
learning rate.

- ``CONFIGURATIONS``: the table, name → ``Configuration`` (``configurations_table()``
  prints it); ``configuration(name)`` looks one up with a clear error.
- ``run_configuration(name, seed, data, epochs)``: trains one configuration from one
  seed and returns a ``Row`` (train/test loss and accuracy, each the best of the last
  ``LAST_EPOCHS`` epochs; the first/last-layer gradient ratio at init and its median
  over the training steps; wall time).
- ``run_scoreboard(names, seeds, data, epochs)``: every configuration over every seed.
- ``scoreboard_table(rows)``: the median and range over the seeds of each configuration;
  ``plot_scoreboard(rows)``: test accuracy per configuration (a dot per seed, the median
  as a bar) beside the gradient ratio at init on a log scale.

The gradient ratio is ‖∂L/∂W₁‖ / ‖∂L/∂W_L‖: the norm of the gradient of the first
hidden layer's weight over that of the last hidden layer's (``hidden1.linear`` and
``hidden{depth}.linear``). "At init" is one forward and backward pass over the whole
training set before the first step, read by ``utils.gradflow.GradFlow``; "median" is
the median over every training step.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from utils import checks
from utils.gradflow import GradFlow
from utils.nets import make_mlp
from utils.train import TrainingDiverged, train

if TYPE_CHECKING:
    import matplotlib.figure

#: The network every configuration shares: 64 inputs (8×8 digits), 20 hidden layers of 64.
DEPTH = 20
WIDTH = 64
#: The learning rate of each optimizer (plain SGD, no momentum; Adam with its defaults).
LEARNING_RATES = {"sgd": 0.1, "adam": 1e-3}
BATCH_SIZE = 64
#: ``clip_norm`` of the configurations that clip (``utils.train.train``).
CLIP_NORM = 1.0
#: A row's loss and accuracy are the best of this many last epochs (robust to a bumpy epoch).
LAST_EPOCHS = 3
#: The loss of a network that guesses uniformly among the 10 digits.
GUESSING_LOSS = math.log(10)

ROW_FIELDS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "ratio_at_init",
              "ratio_median", "seconds")


@dataclass(frozen=True)
class Configuration:
    """One line of the scoreboard: how it differs from the baseline, and what it is.

    ``activation`` and ``init`` are names of ``utils.nets`` (``"default"``: PyTorch's
    U(±1/√fan_in)); ``norm`` is None or ``"batch"``; ``residual`` None or ``"pre"``
    (pre-activation blocks of one layer, x + F(x), a clean identity path);
    ``optimizer`` ``"sgd"`` or ``"adam"`` (learning rates in ``LEARNING_RATES``);
    ``clip_norm`` None or the threshold of clipping by norm. ``fixes`` names what it
    changes against the baseline, in words.
    """

    activation: str = "sigmoid"
    init: str = "default"
    norm: str | None = None
    residual: str | None = None
    optimizer: str = "sgd"
    clip_norm: float | None = None

    @property
    def fixes(self) -> tuple[str, ...]:
        """What this configuration changes against the baseline, e.g. ('ReLU', 'He init')."""
        changed = []
        if self.activation != "sigmoid":
            changed.append({"relu": "ReLU"}.get(self.activation, self.activation))
        if self.init != "default":
            changed.append({"he_normal": "He init", "xavier_uniform": "Xavier init"}.get(
                self.init, self.init))
        if self.norm == "batch":
            changed.append("batch norm")
        if self.residual is not None:
            changed.append("residual")
        if self.optimizer == "adam":
            changed.append("Adam")
        if self.clip_norm is not None:
            changed.append(f"clipping {self.clip_norm:g}")
        return tuple(changed)

    def describe(self) -> str:
        """One line of settings: activation, init, norm and residual (if any), optimizer."""
        parts = [self.activation, f"{self.init} init"]
        if self.norm is not None:
            parts.append(f"{self.norm} norm")
        if self.residual is not None:
            parts.append(f"residual={self.residual}")
        name = "SGD" if self.optimizer == "sgd" else "Adam"
        parts.append(f"{name} lr {LEARNING_RATES[self.optimizer]:g}")
        if self.clip_norm is not None:
            parts.append(f"clip_norm={self.clip_norm:g}")
        return ", ".join(parts)


_RELU_HE = {"activation": "relu", "init": "he_normal"}

#: Every configuration by name: the baseline, each fix alone, then combinations.
CONFIGURATIONS: dict[str, Configuration] = {
    "baseline": Configuration(),
    # each fix alone
    "relu": Configuration(activation="relu"),
    "xavier": Configuration(init="xavier_uniform"),
    "bn": Configuration(norm="batch"),
    "adam": Configuration(optimizer="adam"),
    "residual": Configuration(residual="pre"),
    "clip": Configuration(clip_norm=CLIP_NORM),
    # combinations
    "relu+he": Configuration(**_RELU_HE),
    "relu+he+adam": Configuration(**_RELU_HE, optimizer="adam"),
    "relu+he+bn": Configuration(**_RELU_HE, norm="batch"),
    "bn+adam": Configuration(norm="batch", optimizer="adam"),
    "residual+bn": Configuration(residual="pre", norm="batch"),
    "relu+he+residual+bn": Configuration(**_RELU_HE, residual="pre", norm="batch"),
    "relu+he+residual": Configuration(**_RELU_HE, residual="pre"),
    "relu+he+residual+clip": Configuration(**_RELU_HE, residual="pre", clip_norm=CLIP_NORM),
    "relu+he+bn+adam": Configuration(**_RELU_HE, norm="batch", optimizer="adam"),
}


def configuration(name: str) -> Configuration:
    """The ``Configuration`` called ``name``, or a ValueError listing the known names."""
    if isinstance(name, str) and name in CONFIGURATIONS:
        return CONFIGURATIONS[name]
    raise ValueError(f"Unknown configuration {checks.show(name)}; the scoreboard knows: "
                     f"{', '.join(CONFIGURATIONS)}.")


def configurations_table(names: Iterable[str] | None = None) -> str:
    """A plain-text table of configurations (default: all): name, what it changes, settings."""
    names = list(CONFIGURATIONS) if names is None else _check_names(names)
    fixes = {name: " + ".join(CONFIGURATIONS[name].fixes) or "(none: the baseline)"
             for name in names}
    width = max(len(name) for name in names)
    changes = max(len(text) for text in fixes.values())
    lines = [f"{'name':{width}s}  {'changes against the baseline':{changes}s}  settings"]
    for name in names:
        lines.append(f"{name:{width}s}  {fixes[name]:{changes}s}  "
                     f"{CONFIGURATIONS[name].describe()}")
    return "\n".join(lines)


def _check_names(names: Any) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise ValueError(f"names must be a list of configuration names such as ['baseline', "
                         f"'bn'], got {checks.show(names)}.")
    names = [configuration(name) and name for name in names]
    if not names:
        raise ValueError("names is empty: give at least one configuration, e.g. ['baseline'].")
    if len(set(names)) != len(names):
        raise ValueError(f"names lists a configuration twice: {names}.")
    return names


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise ValueError(f"seeds must be a list of whole numbers ≥ 0 such as [0, 1], got "
                         f"{checks.show(seeds)}.")
    seeds = [checks.seed("each seed", seed) for seed in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed, e.g. [0, 1].")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds lists a seed twice: {seeds}; each seed is one run.")
    return seeds


def build(name: str, seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The network and optimizer of configuration ``name``, drawn from ``seed``."""
    config = configuration(name)
    seed = checks.seed("seed", seed)
    model = make_mlp(64, 10, depth=DEPTH, width=WIDTH, activation=config.activation,
                     init=config.init, norm=config.norm, residual=config.residual, seed=seed)
    from utils.setup import current_device

    model = model.to(current_device())
    rate = LEARNING_RATES[config.optimizer]
    if config.optimizer == "adam":
        return model, torch.optim.Adam(model.parameters(), lr=rate)
    return model, torch.optim.SGD(model.parameters(), lr=rate)


def _first_and_last(model: torch.nn.Module) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    return model.hidden1.linear, getattr(model, f"hidden{DEPTH}").linear


def gradient_ratio_at_init(model: torch.nn.Module,
                           train_data: tuple[torch.Tensor, torch.Tensor]) -> float:
    """‖∂L/∂W₁‖ / ‖∂L/∂W_L‖ of a scoreboard network (first over last hidden layer's weight
    gradient) for one forward and backward pass over ``train_data``, read by ``GradFlow``.

    It measures a copy, so the model (weights, batch-norm statistics, ``.grad``) is left
    exactly as it was.
    """
    checks.module("model", model)
    model = copy.deepcopy(model)
    x, y = checks.tensor_pair("train_data", train_data)
    first, last = _first_and_last(model)
    names = {module: name for name, module in model.named_modules()}
    with GradFlow(model) as flow:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    norms = flow.weight_grad_norms()
    return _ratio(norms[names[first]], norms[names[last]])


def _ratio(first: float, last: float) -> float:
    """first / last, NaN when it is undefined (a zero or non-finite last-layer gradient: all
    the last layer's ReLU units dead, or a run blowing up)."""
    if last == 0 or not math.isfinite(last) or not math.isfinite(first):
        return math.nan
    return first / last


@dataclass(frozen=True)
class Row:
    """One configuration trained from one seed.

    ``train_loss``, ``train_accuracy`` (measured during each epoch, in training mode),
    ``test_loss`` and ``test_accuracy``: each the best of the last ``LAST_EPOCHS``
    epochs (NaN when the run diverged). ``ratio_at_init``: first/last hidden layer's
    weight-gradient norm before training; ``ratio_median``: its median over the training
    steps where it is defined (NaN if at none: see ``_ratio``). ``seconds``: the wall time
    of the training.
    """

    name: str
    seed: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    ratio_at_init: float
    ratio_median: float
    seconds: float
    epochs: int
    diverged: bool

    def line(self) -> str:
        """One line: the configuration, seed and its numbers."""
        return (f"{self.name:22s} seed {self.seed:3d}: train loss {self.train_loss:7.3f}, "
                f"test accuracy {self.test_accuracy:.3f}, ratio at init "
                f"{self.ratio_at_init:.1e}, {self.seconds:.2f} s"
                + (" DIVERGED" if self.diverged else ""))


def _best(values: Sequence[float], highest: bool) -> float:
    last = [value for value in values[-LAST_EPOCHS:] if math.isfinite(value)]
    if not last:
        return math.nan
    return max(last) if highest else min(last)


def run_configuration(name: str, seed: int, data: Any, epochs: int = 8) -> Row:
    """Train configuration ``name`` from ``seed`` for ``epochs`` on ``data`` and return a ``Row``.

    ``data`` is a ``utils.data.digits_split().tensors()`` (with ``x_train``, ``y_train``,
    ``x_test``, ``y_test``). The seed draws the weights and the order of the minibatches.
    """
    config = configuration(name)
    seed = checks.seed("seed", seed)
    epochs = checks.whole_number("epochs", epochs, maximum=1000)
    train_data, test_data = _split(data)
    model, optimizer = build(name, seed)
    ratio_at_init = gradient_ratio_at_init(model, train_data)
    first, last = _first_and_last(model)
    ratios = []

    def record(step: Any) -> None:
        ratios.append(_ratio(first.weight.grad.norm().item(), last.weight.grad.norm().item()))

    start = time.perf_counter()
    try:
        history = train(model, optimizer, train_data, test_data, epochs=epochs,
                        batch_size=BATCH_SIZE, seed=seed, progress=False, on_step=record,
                        clip_norm=config.clip_norm, on_divergence="raise")
        diverged = False
    except TrainingDiverged:  # the Row says so; no message printed in the middle of a board
        history, diverged = None, True
    seconds = time.perf_counter() - start
    ratios = [ratio for ratio in ratios if math.isfinite(ratio)]
    ratio_median = statistics.median(ratios) if ratios else math.nan
    if diverged:
        return Row(name, seed, math.nan, math.nan, math.nan, math.nan, ratio_at_init,
                   ratio_median, seconds, epochs, True)
    return Row(name, seed,
               _best(history.train_loss, highest=False),
               _best(history.train_accuracy, highest=True),
               _best(history.test_loss, highest=False),
               _best(history.test_accuracy, highest=True),
               ratio_at_init, ratio_median, seconds, epochs, False)


def _split(data: Any) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor,
                                                                        torch.Tensor]]:
    parts = ("x_train", "y_train", "x_test", "y_test")
    if not all(torch.is_tensor(getattr(data, part, None)) for part in parts):
        raise ValueError(f"data must be the digits as tensors, utils.data.digits_split()"
                         f".tensors(), got {checks.describe(data)}.")
    return (data.x_train, data.y_train), (data.x_test, data.y_test)


def run_scoreboard(names: Iterable[str], seeds: Iterable[int], data: Any, epochs: int = 8,
                   verbose: bool = False) -> list[Row]:
    """``run_configuration`` for every configuration of ``names`` and every seed of ``seeds``
    (configuration by configuration); ``verbose`` prints each row as it is done."""
    names, seeds = _check_names(names), _check_seeds(seeds)
    epochs = checks.whole_number("epochs", epochs, maximum=1000)
    _split(data)
    verbose = checks.boolean("verbose", verbose)
    rows = []
    for name in names:
        for seed in seeds:
            rows.append(run_configuration(name, seed, data, epochs))
            if verbose:
                print(rows[-1].line())
    return rows


def _check_rows(rows: Any) -> list[Row]:
    if not isinstance(rows, (list, tuple)) or not rows or not all(
            isinstance(row, Row) for row in rows):
        raise ValueError("rows must be a non-empty list of scoreboard Rows (what "
                         f"run_scoreboard returns), got {checks.describe(rows)}.")
    return list(rows)


def names_of(rows: Sequence[Row]) -> list[str]:
    """The configurations in ``rows``, in the order they first appear."""
    return list(dict.fromkeys(row.name for row in _check_rows(rows)))


def values(rows: Sequence[Row], name: str, field: str) -> list[float]:
    """The value of ``field`` (one of ``ROW_FIELDS``) of configuration ``name``, per seed."""
    rows = _check_rows(rows)
    configuration(name)
    checks.one_of("field", field, ROW_FIELDS)
    found = [getattr(row, field) for row in rows if row.name == name]
    if not found:
        raise ValueError(f"rows hold no run of {name!r}; they hold: {', '.join(names_of(rows))}.")
    return found


def summary(rows: Sequence[Row], field: str) -> dict[str, tuple[float, float, float]]:
    """{configuration: (median, min, max) of ``field`` over its seeds}; a diverged run's NaN
    makes its configuration's min and max NaN and counts in no median."""
    result = {}
    for name in names_of(rows):
        numbers = values(rows, name, field)
        finite = [value for value in numbers if math.isfinite(value)]
        if not finite:
            result[name] = (math.nan, math.nan, math.nan)
        elif len(finite) < len(numbers):
            result[name] = (statistics.median(finite), math.nan, math.nan)
        else:
            result[name] = (statistics.median(finite), min(finite), max(finite))
    return result


def _cell(stats: tuple[float, float, float], spec: str) -> str:
    median, low, high = stats
    if math.isnan(median):
        return "diverged"
    if math.isnan(low):
        return f"{median:{spec}} (some diverged)"
    return f"{median:{spec}} [{low:{spec}}, {high:{spec}}]"


def scoreboard_table(rows: Sequence[Row]) -> str:
    """A plain-text table: for each configuration the median [min, max] over its seeds of the
    test accuracy, train and test loss, the gradient ratio at init and the seconds."""
    rows = _check_rows(rows)
    columns = [("test accuracy", "test_accuracy", ".2f"), ("train loss", "train_loss", ".2f"),
               ("test loss", "test_loss", ".2f"), ("ratio at init", "ratio_at_init", ".0e"),
               ("seconds", "seconds", ".1f")]
    stats = {field: summary(rows, field) for _, field, _ in columns}
    names = names_of(rows)
    seeds = len([row for row in rows if row.name == names[0]])
    cells = [[name] + [_cell(stats[field][name], spec) for _, field, spec in columns]
             for name in names]
    header = ["configuration"] + [title for title, _, _ in columns]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = [f"median [min, max] over {seeds} seed(s), {rows[0].epochs} epochs; loss and "
             f"accuracy: best of the last {LAST_EPOCHS} epochs; ratio at init: "
             f"|dL/dW1| / |dL/dW{DEPTH}|"]
    for line in [header, *cells]:
        lines.append("  ".join(text.ljust(width) for text, width in zip(line, widths,
                                                                         strict=True)))
    return "\n".join(lines)


def stuck(rows: Sequence[Row], tolerance: float = 0.1) -> list[str]:
    """The configurations whose best train loss stays within ``tolerance`` of ln 10 on
    every seed (a diverged run counts as not stuck)."""
    tolerance = checks.positive_number("tolerance", tolerance)
    return [name for name in names_of(rows)
            if all(abs(value - GUESSING_LOSS) < tolerance
                   for value in values(rows, name, "train_loss"))]


def plot_scoreboard(rows: Sequence[Row], title: str | None = None) -> matplotlib.figure.Figure:
    """Test accuracy per configuration (a dot per seed, the median as a bar) beside the
    gradient ratio at init (log scale). Configurations that stay at ln 10 on every seed are
    drawn in vermillion, the others in blue; a run that diverged has no accuracy (its
    configuration is marked "diverged" with the number of such seeds)."""
    import matplotlib.pyplot as plt

    from utils.plots import OKABE_ITO

    rows = _check_rows(rows)
    names = names_of(rows)
    still = set(stuck(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.42 * len(names) + 2.2),
                                      sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    colours = {True: OKABE_ITO[1], False: OKABE_ITO[0]}
    for position, name in enumerate(names):
        colour = colours[name in still]
        for ax, field in ((left, "test_accuracy"), (right, "ratio_at_init")):
            found = values(rows, name, field)
            numbers = [v for v in found if math.isfinite(v)]
            if len(numbers) < len(found) and ax is left:
                ax.text(1.0, position, f"diverged: {len(found) - len(numbers)} of "
                        f"{len(found)} seeds", va="center", ha="right", color="#555555",
                        fontsize=9, transform=ax.get_yaxis_transform())
            if not numbers:
                continue
            ax.scatter(numbers, [position] * len(numbers), color=colour, alpha=0.6, s=22,
                       zorder=3)
            median = statistics.median(numbers)
            ax.plot([median, median], [position - 0.35, position + 0.35], color="black",
                    linewidth=2.5, zorder=4)
    left.axvline(0.1, color="grey", linestyle=":", linewidth=1.5)
    left.text(0.11, -0.75, "chance (0.1)", color="grey", fontsize=9, va="bottom")
    left.set(xlim=(0, 1.02), ylim=(len(names) - 0.5, -1),
             xlabel=f"test accuracy (best of the last {LAST_EPOCHS} epochs)",
             yticks=range(len(names)), yticklabels=names)
    right.set_xscale("log")
    last = str(DEPTH).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
    right.set(xlabel=f"‖∂L/∂W₁‖ / ‖∂L/∂W{last}‖ at init (log scale)")
    right.axvline(1.0, color="grey", linestyle=":", linewidth=1.5)
    right.text(1.3, -0.75, "1: level", color="grey", fontsize=9, va="bottom")
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colours[True],
                          label="stays at ln 10 on every seed"),
               plt.Line2D([], [], marker="o", linestyle="", color=colours[False],
                          label="leaves ln 10 (on some seed)"),
               plt.Line2D([], [], color="black", linewidth=2.5, label="median over seeds")]
    fig.suptitle(title or "Which fixes rescue the 20-layer sigmoid network", fontsize=12)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    return fig
