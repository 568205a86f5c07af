"""Facts about the course itself: where it lives and which notebooks it has.

This module is the single place for the repository address and the
curriculum. The README table, the notebook badges and the Colab set-up cell
are generated from (and tested against) what is written here.
"""

from dataclasses import dataclass
from pathlib import Path

#: The course's public repository and the branch the badges point at.
REPOSITORY = "https://github.com/vanishing-gradients-course/vanishing-gradients"
BRANCH = "main"
#: Where the Colab set-up cell clones the repository to.
COLAB_CLONE_DIR = "/content/vanishing-gradients"

#: The repository root, when the package is used from a checkout (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course."""

    number: int
    stem: str
    title: str
    paper: str
    #: Wall time of a top-to-bottom run in a fresh kernel on the 2-core laptop-class
    #: machine, as ``make bench`` measured it on a quiet machine (seconds); the title
    #: cell's "Run time" line is generated from it (``make sync``).
    run_time_s: int = None

    @property
    def run_time(self) -> str:
        """The title cell's run-time text, e.g. ``about 40 s on a 2-core laptop CPU (...)``.

        Measured on a quiet machine here; another 2-core machine of the same kind took 2 to
        2.5 times as long (issue 8: 01 21 s, 04 41 s, 05 37 s), and a busy one takes longer
        still: hence the "up to" three times.
        """
        if self.run_time_s is None:
            return "not measured yet"
        if self.run_time_s < 90:
            rounded = max(5, -(-self.run_time_s // 5) * 5)  # up to the next 5 s
            return (f"about {rounded} s on a 2-core laptop CPU "
                    f"(up to {3 * rounded} s on a slower one)")
        minutes = -(-self.run_time_s // 60)
        return (f"about {minutes} min on a 2-core laptop CPU "
                f"(up to {3 * minutes} min on a slower one)")

    @property
    def filename(self) -> str:
        """The notebook's file name, e.g. ``03_vanishing_gradients.ipynb``."""
        return f"{self.stem}.ipynb"

    @property
    def label(self) -> str:
        """The two-digit label used in titles, e.g. ``03``."""
        return f"{self.number:02d}"


CURRICULUM = (
    Lesson(0, "00_welcome", "Welcome: how this course works", "—", run_time_s=6),
    Lesson(1, "01_gradient_descent", "Gradient descent", "—", run_time_s=12),
    Lesson(2, "02_backpropagation", "Backpropagation", "—", run_time_s=8),
    Lesson(3, "03_vanishing_gradients", "The vanishing gradient problem",
           "Glorot & Bengio 2010", run_time_s=11),
    Lesson(4, "04_activation_functions", "Activation functions", "Clevert et al. 2015",
           run_time_s=20),
    Lesson(5, "05_weight_initialization", "Weight initialization",
           "He et al. 2015; Saxe et al. 2013", run_time_s=15),
    Lesson(6, "06_batch_normalization", "Batch normalization", "Ioffe & Szegedy 2015",
           run_time_s=12),
    Lesson(7, "07_optimizers", "Optimizers: momentum, RMSProp, Adam", "Kingma & Ba 2014",
           run_time_s=22),
    Lesson(8, "08_residual_connections", "Residual connections", "He et al. 2016",
           run_time_s=22),
    Lesson(9, "09_recurrent_networks_lstm", "Recurrent networks and the LSTM",
           "Hochreiter & Schmidhuber 1997", run_time_s=30),
    Lesson(10, "10_exploding_gradients_clipping", "Exploding gradients and clipping",
           "Pascanu et al. 2013", run_time_s=18),
    Lesson(11, "11_capstone", "Capstone: diagnose and fix deep networks",
           "Srivastava et al. 2014; Goodfellow et al. 2014", run_time_s=30),
)


def lesson(number: int) -> Lesson:
    """Return the lesson with this number (0 to 11)."""
    for item in CURRICULUM:
        if item.number == number:
            return item
    raise ValueError(f"There is no notebook number {number!r}; the course has 0 to "
                     f"{CURRICULUM[-1].number}.")


def colab_url(lesson_: Lesson) -> str:
    """The address that opens this notebook in Google Colab."""
    slug = REPOSITORY.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{BRANCH}/notebooks/{lesson_.filename}"


def binder_url(lesson_: Lesson) -> str:
    """The address that opens this notebook in JupyterLab on mybinder.org."""
    slug = REPOSITORY.removeprefix("https://github.com/")
    return f"https://mybinder.org/v2/gh/{slug}/{BRANCH}?urlpath=lab/tree/notebooks/{lesson_.filename}"


def badges(lesson_: Lesson) -> str:
    """The Markdown line with the Colab and Binder badges of one notebook."""
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(lesson_)}) "
            f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({binder_url(lesson_)})")


def setup_cell_source() -> str:
    """The first code cell of every notebook (identical everywhere).

    On Colab it shallow-clones the repository and installs the course package
    (non-editable, without touching Colab's own packages); elsewhere it only
    imports ``utils``, checks that it is this course's package and calls
    ``utils.setup()``.
    """
    return f'''\
# Setup: on Colab this first fetches the course; everywhere else it only imports it.
import importlib.util
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    if not os.path.isdir("{COLAB_CLONE_DIR}"):
        subprocess.run(
            ["git", "clone", "--depth", "1",
             "{REPOSITORY}",
             "{COLAB_CLONE_DIR}"],
            check=True,
        )
    if importlib.util.find_spec("utils") is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
             "{COLAB_CLONE_DIR}"],
            check=True,
        )
    os.chdir("{COLAB_CLONE_DIR}/notebooks")

import utils

if getattr(utils, "COURSE", None) != "vanishing-gradients":
    raise ImportError(
        f"`import utils` found {{getattr(utils, '__file__', utils)}}, "
        "which is not this course's package. "
        "Install the course (`make lab`, or `pip install -e .` in the repository) "
        "or move the other `utils` off the Python path."
    )
device = utils.setup()'''
