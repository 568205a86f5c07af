"""Self-checks for the exercises, with feedback a learner can act on.

In a notebook::

    from utils.exercises import check

    def sigmoid_slope(x):
        raise NotImplementedError("Exercise 0.1")   # the learner replaces this

    check("0.1", sigmoid_slope)

The package's rooms:

- ``core``: the framework — ``check`` and ``Feedback``, typical mistakes (``Slip``),
  other conventions (``Convention``), escalating hints, comparisons, calling the learner's
  function, and ``function_exercise`` (the reference, every slip and the learner's function
  run on the same cases, smallest first);
- ``patients``: the broken networks that exercises (and the capstone) diagnose, each with
  its known cause and the notebook that teaches the fix;
- ``nbNN_*``: the exercises of notebook NN, registered when this package is imported.

Reference solutions live in the notebook itself, in a collapsed ``<details>`` cell tagged
``solution``; the tests run each of them through its check. A solution may use only
``np``, ``torch``, ``nn`` and ``math`` besides what it defines and what its exercise's
``solution_context`` provides.
"""

import importlib
import pkgutil

from utils.exercises.core import (
    BATCH_SIZES,
    CORRECT,
    ERROR,
    NOT_ATTEMPTED,
    OTHER_CONVENTION,
    REGISTRY,
    WRONG,
    Case,
    Convention,
    Exercise,
    Feedback,
    FunctionCheck,
    LearnerError,
    NotAttempted,
    OtherConvention,
    Slip,
    Unreadable,
    Wrong,
    as_array,
    batch_cases,
    call_learner,
    check,
    describe_factor,
    expect_close,
    expect_number,
    function_exercise,
    is_low_precision,
    register,
    reject_slips,
    reset_hints,
    result_parts,
)

# Importing the notebook modules (every ``nbNN_*.py`` in this package) registers their
# exercises; a new notebook's module is found without editing this file.
for _name in sorted(info.name for info in pkgutil.iter_modules(__path__)
                    if info.name.startswith("nb")):
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["check", "Feedback", "Exercise", "Slip", "Convention", "Case", "register",
           "reset_hints", "REGISTRY", "Wrong", "Unreadable", "NotAttempted", "LearnerError",
           "OtherConvention", "call_learner", "expect_close", "expect_number", "as_array",
           "reject_slips", "result_parts", "describe_factor", "is_low_precision",
           "function_exercise", "FunctionCheck", "batch_cases", "BATCH_SIZES", "CORRECT",
           "WRONG", "NOT_ATTEMPTED", "ERROR", "OTHER_CONVENTION"]
