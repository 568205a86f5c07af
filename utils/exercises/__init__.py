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

# Importing the notebook modules registers their exercises.
from utils.exercises import (  # noqa: E402, F401, I001
    nb00_welcome,
    nb01_gradient_descent,
    nb02_backpropagation,
    nb03_vanishing_gradients,
    nb04_activation_functions,
    nb05_weight_initialization,
)
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

__all__ = ["check", "Feedback", "Exercise", "Slip", "Convention", "Case", "register",
           "reset_hints", "REGISTRY", "Wrong", "Unreadable", "NotAttempted", "LearnerError",
           "OtherConvention", "call_learner", "expect_close", "expect_number", "as_array",
           "reject_slips", "result_parts", "describe_factor", "is_low_precision",
           "function_exercise", "FunctionCheck", "batch_cases", "BATCH_SIZES", "CORRECT",
           "WRONG", "NOT_ATTEMPTED", "ERROR", "OTHER_CONVENTION"]
