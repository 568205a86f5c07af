"""Moved to ``utils.optimizers`` (issue 9): this name keeps old imports working.

Everything that lived here (``gradient_descent``, ``steps_to_tolerance``, the
2-D test functions, ``linear_mse``, ``mse_gradient``, ``minibatch_sgd``) is now
in ``utils.optimizers``, next to the update rules of every optimizer. Import
from there; this module goes once no notebook or check imports it.
"""

from utils.optimizers import *  # noqa: F403
from utils.optimizers import (  # noqa: F401 (private helpers some callers import)
    _check_momentum,
    _check_regression,
    _check_steps,
)
