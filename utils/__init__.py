"""The shared code of the *Vanishing Gradients* course.

Every notebook starts with ``utils.setup()``, which seeds all random number
generators, picks the device and sets the plot style. The rooms of the package:

- ``utils.data``       the shipped digits data and small synthetic data sets
- ``utils.nets``       an MLP builder with registries of activations and inits
- ``utils.train``      one training loop with a history and a clear stop on NaN
- ``utils.claims``     ``claim(...)``: check a statement of the prose and print it (and log
                       it to the claims ledger when ``COURSE_CLAIMS_LOG`` is set)
- ``utils.checks``     the shared argument checks: clear errors that name the argument
- ``utils.exercises``  self-checks for the exercises, with helpful feedback
- ``utils.scratch``    a NumPy multilayer perceptron from scratch (notebook 02)
- ``utils.optim_basics`` gradient descent on small test functions (notebook 01)
- ``utils.activations`` activation functions and their slopes in NumPy (notebook 04)
- ``utils.initializers`` weight initializers from scratch, Jacobian spectra (notebook 05)
- ``utils.gradflow``   the gradient-health tool: per-layer statistics, ``diagnose``
- ``utils.widgets``    the interactive explorers (pure functions + ipywidgets UIs)
- ``utils.plots``      the course's plot style and figure helpers
- ``utils.course``     the curriculum and the repository address
"""

from utils.setup import current_device, current_seed, setup

#: Marks this package as the course's own ``utils`` (the setup cell checks it,
#: because ``utils`` is a common name and another package may shadow it).
COURSE = "vanishing-gradients"

__all__ = ["COURSE", "setup", "current_device", "current_seed"]
