"""The exercise core: function-type checks (slips run on the same cases, the smallest
failing case), conventions, and the patients."""

import math

import numpy as np
import pytest
import torch

from utils.exercises import (
    CORRECT,
    ERROR,
    OTHER_CONVENTION,
    REGISTRY,
    WRONG,
    Case,
    Convention,
    Slip,
    Wrong,
    batch_cases,
    check,
    function_exercise,
    reject_slips,
    reset_hints,
)

#: A notebook's variable: a batch of 32 examples of 3 features.
NOTEBOOK_BATCH = np.random.default_rng(5).standard_normal((32, 3))


@pytest.fixture(autouse=True)
def _fresh_hints():
    reset_hints()
    yield
    reset_hints()


@pytest.fixture
def temporary():
    """Register exercises for one test and remove them afterwards."""
    ids = []

    def make(exercise_id, *args, **kwargs):
        ids.append(exercise_id)
        return function_exercise(exercise_id, *args, **kwargs)

    yield make
    for exercise_id in ids:
        REGISTRY.pop(exercise_id, None)


def column_cases():
    return batch_cases(lambda n, rng: (rng.standard_normal((n, 3)) + 2,), "x of shape ({n}, 3)")


# --- the smallest failing case --------------------------------------------------------------


def test_a_function_reading_a_notebook_batch_is_caught_at_the_smallest_case():
    def tanh_backward(x, grad_out):  # reads the notebook's x, not its argument
        return grad_out * (1 - np.tanh(NOTEBOOK_BATCH) ** 2)

    feedback = check("2.2", tanh_backward)
    assert feedback.status == WRONG, feedback.text()
    assert "shape (1, 3)" in feedback.message, feedback.text()  # batch 1, the smallest
    assert "(2, 3)" not in feedback.message and "(17, 3)" not in feedback.message


def test_a_linear_backward_reading_a_notebook_batch_names_the_batch_of_1():
    notebook_x = np.random.default_rng(6).standard_normal((32, 4))

    def linear_backward(x, weight, grad_out):  # grad_weight from the notebook's x
        return grad_out @ weight, grad_out.T @ notebook_x, grad_out.sum(axis=0)

    feedback = check("2.1", linear_backward)
    assert feedback.status == WRONG, feedback.text()
    assert feedback.message.startswith("On a batch of 1 (x (1, 4)"), feedback.text()
    assert "shapes do not fit" in feedback.message and "(1, 3)" in feedback.hint


def test_a_result_of_one_size_whatever_the_input_is_named(temporary):
    temporary("99.20", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=[])
    feedback = check("99.20", lambda x: 2 * NOTEBOOK_BATCH)
    assert feedback.status == WRONG
    assert "x of shape (1, 3)" in feedback.message
    assert "shape (32, 3) whatever the input's size" in feedback.message
    assert "variable of the notebook" in feedback.message


def test_cases_run_smallest_first_whatever_their_order(temporary):
    cases = column_cases()[::-1]
    temporary("99.21", "Double", "double", lambda x: 2 * x, cases, hints=["a", "b"],
              success="ok", slips=[])
    feedback = check("99.21", lambda x: 2 * x + (len(x) > 1))  # wrong from batch 2 on
    assert "x of shape (2, 3)" in feedback.message, feedback.text()
    assert "It is right on x of shape (1, 3)" in feedback.message


def test_an_exception_on_every_case_is_the_learners_error(temporary):
    temporary("99.22", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=[])
    feedback = check("99.22", lambda x: x.nonexistent)
    assert feedback.status == ERROR and "AttributeError" in feedback.message


def test_an_exception_on_some_cases_says_where_it_works(temporary):
    temporary("99.23", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=[])

    def double(x):
        if len(x) > 2:
            raise KeyError("too long")
        return 2 * x

    feedback = check("99.23", double)
    assert feedback.status == WRONG
    assert "works on x of shape (1, 3) but raises KeyError on x of shape (3, 3)" in (
        feedback.message)


# --- slips run on the same cases ------------------------------------------------------------


def test_the_matching_slip_is_named_and_only_that_one(temporary):
    slips = [Slip("halved", lambda x: x, message="You halved it."),
             Slip("squared", lambda x: x ** 2, message="You squared it.", hint="nudge")]
    temporary("99.24", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=slips)
    squared = check("99.24", lambda x: x * x)
    assert squared.message == "You squared it." and squared.hint == "nudge"
    assert "on x of shape (1, 3)" in squared.expected
    other = check("99.24", lambda x: 3 * x)
    assert other.status == WRONG and "You" not in other.message
    assert check("99.24", lambda x: x + x).status == CORRECT


def test_a_slip_that_equals_the_reference_on_every_case_is_not_named(temporary):
    """A slip the cases cannot tell from a right answer must not be called wrong."""
    cases = [Case((np.array([0.0, 1.0, 2.0]),), "x = [0, 1, 2]")]
    temporary("99.25", "Square", "square", lambda x: x ** 2, cases, hints=["a", "b"],
              success="ok", slips=[Slip("x³ - x² + x... ", lambda x: x ** 3 - 2 * x ** 2 + 2 * x,
                                        message="never said")])
    assert check("99.25", lambda x: x * x).status == CORRECT


def test_a_slip_that_raises_matches_a_learner_that_raises_in_the_same_cases(temporary):
    def only_small(x):
        if len(x) > 2:
            raise ValueError("no")
        return 2 * x

    temporary("99.26", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=[Slip("small only", only_small, message="Small only.")])
    assert check("99.26", only_small).message == "Small only."
    assert check("99.26", lambda x: np.zeros((1, 3))).message != "Small only."


# --- random generators: every call gets one in the same state ------------------------------


def generator_cases(make_generator):
    return [Case((n, make_generator(7)), f"n = {n}, a generator of seed 7") for n in (2, 5, 17)]


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_the_reference_every_slip_and_the_learner_draw_from_the_same_state(temporary, kind):
    if kind == "numpy":
        cases = generator_cases(np.random.default_rng)

        def shuffle(n, rng):
            return rng.permutation(n).astype(float)
    else:
        cases = generator_cases(lambda seed: torch.Generator().manual_seed(seed))

        def shuffle(n, rng):
            return torch.randperm(n, generator=rng).double()

    states = [repr(case.args[1].bit_generator.state) if kind == "numpy"
              else case.args[1].get_state().clone() for case in cases]
    reversed_order = Slip("reversed", lambda n, rng: shuffle(n, rng).flip(0) if kind == "torch"
                          else shuffle(n, rng)[::-1], message="You reversed it.")
    temporary("99.40", "Shuffle", "shuffle", shuffle, cases, hints=["a", "b"], success="ok",
              slips=[reversed_order])
    assert check("99.40", shuffle).status == CORRECT
    assert check("99.40", shuffle).status == CORRECT  # the cases' generators did not move
    assert check("99.40", reversed_order.answer).message == "You reversed it."
    for case, state in zip(cases, states):
        now = case.args[1]
        if kind == "numpy":
            assert repr(now.bit_generator.state) == state
        else:
            assert torch.equal(now.get_state(), state)


def test_explain_failure_explains_a_failure_no_slip_names(temporary):
    def explain(function, case, name):
        return Wrong(f"{name} was called on {case.label}.", hint="look")

    temporary("99.41", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=[Slip("same", lambda x: x, message="You returned x.")],
              explain_failure=explain)
    assert check("99.41", lambda x: x).message == "You returned x."  # a slip comes first
    reset_hints("99.41")
    feedback = check("99.41", lambda x: 3 * x)
    assert feedback.message == "double was called on x of shape (1, 3)."
    assert feedback.hint == "look" and "on x of shape (1, 3)" in feedback.expected


def test_the_same_message_on_every_case_does_not_name_the_case(temporary):
    def compare(got, expected, case):
        if not isinstance(got, np.ndarray):
            raise Wrong("Return an array.")

    temporary("99.42", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=[], compare=compare, unnamed_when_same=True)
    assert check("99.42", lambda x: 2 * x.tolist()).message == "Return an array."
    temporary("99.43", "Double", "double", lambda x: 2 * x, column_cases(), hints=["a", "b"],
              success="ok", slips=[], compare=compare)
    assert check("99.43", lambda x: 2 * x.tolist()).message == (
        "On x of shape (1, 3): Return an array.")


# --- conventions ------------------------------------------------------------------------------


def biased_variance(x):
    return x.var(axis=0)


def unbiased_variance(x):
    return x.var(axis=0, ddof=1)


UNBIASED = Convention("unbiased variance", unbiased_variance,
                      "That is the unbiased variance (dividing by n − 1); batch norm divides by "
                      "n, the biased one.", hint="Divide by n.")


def test_an_answer_in_another_convention_is_named_not_wrong(temporary):
    cases = batch_cases(lambda n, rng: (rng.standard_normal((n, 3)),), "x of shape ({n}, 3)",
                        sizes=(2, 3, 17))
    temporary("99.27", "Variance", "variance", biased_variance, cases, hints=["a", "b"],
              success="ok", conventions=[UNBIASED],
              slips=[Slip("std", lambda x: x.std(axis=0), message="That is the std.")])
    feedback = check("99.27", unbiased_variance)
    assert feedback.status == OTHER_CONVENTION, feedback.text()
    assert feedback.message == UNBIASED.message and not feedback.correct
    assert "≈ Exercise 99.27 · Variance: right, in another convention." in feedback.text()
    assert feedback.hint == "Divide by n."
    assert check("99.27", lambda x: x.std(axis=0)).hint_level == 1  # a wrong attempt
    assert check("99.27", unbiased_variance).hint_level == 0  # a convention is not one
    assert check("99.27", lambda x: x.std(axis=0)).hint_level == 2
    assert check("99.27", biased_variance).correct


def test_epsilon_inside_or_outside_the_square_root(temporary):
    eps = 0.1

    def inside(x):
        return (x - x.mean(0)) / np.sqrt(x.var(0) + eps)

    def outside(x):
        return (x - x.mean(0)) / (np.sqrt(x.var(0)) + eps)

    cases = batch_cases(lambda n, rng: (rng.standard_normal((n, 4)),), "x of shape ({n}, 4)",
                        sizes=(2, 3, 17))
    convention = Convention("ε outside the square root", outside,
                            "You added ε outside the square root, σ + ε; this exercise adds it "
                            "inside, √(σ² + ε), as PyTorch's BatchNorm does.")
    temporary("99.28", "Normalize", "normalize", inside, cases, hints=["a", "b"],
              success="ok", conventions=[convention], slips=[])
    assert check("99.28", outside).status == OTHER_CONVENTION
    assert check("99.28", inside).correct
    assert check("99.28", lambda x: x - x.mean(0)).status == WRONG


def test_an_accepted_convention_is_correct_and_named(temporary):
    convention = Convention("unbiased", unbiased_variance, "(Dividing by n − 1 is as good.)",
                            accepted=True)
    temporary("99.29", "Variance", "variance", biased_variance, column_cases()[1:],
              hints=["a", "b"], success="Well done.", conventions=[convention], slips=[])
    feedback = check("99.29", unbiased_variance)
    assert feedback.correct and feedback.message == "Well done. (Dividing by n − 1 is as good.)"


def test_a_slip_needs_its_message():
    with pytest.raises(ValueError, match="message must be the text the feedback gives"):
        Slip("nothing to say", lambda x: x, "")
    with pytest.raises(ValueError, match="varies=True needs compared=False"):
        Slip("compared and varying", 1.0, "Off.", varies=True)


def test_reject_slips_takes_slips_only():
    with pytest.raises(TypeError, match="takes Slip objects, got tuple"):
        reject_slips(2.0, [(2.0, "Twice.")])
    with pytest.raises(Wrong, match="^Twice.$"):
        reject_slips(2.0, [Slip("twice", 2.0, "Twice.")])
    reject_slips(2.0, [Slip("found elsewhere", 2.0, "Not by value.", compared=False)])


# --- patients ---------------------------------------------------------------------------------


def test_the_patients_live_in_one_module_only():
    from utils.exercises import nb02_backpropagation, nb03_vanishing_gradients

    assert not hasattr(nb02_backpropagation, "network_with_a_bug")
    assert not hasattr(nb03_vanishing_gradients, "network_with_a_stuck_layer")


def test_every_patient_builds_and_names_a_notebook():
    from utils.course import CURRICULUM
    from utils.exercises.patients import PATIENTS

    stems = {lesson.stem for lesson in CURRICULUM}
    for name, patient in PATIENTS.items():
        assert patient.name == name and patient.cause and patient.fixed_in in stems
        state = torch.random.get_rng_state()
        patient.build(seed=1)
        assert torch.equal(state, torch.random.get_rng_state()), f"{name} moved the RNG"


def test_the_bug_patient_has_the_bug_it_says():
    from utils import backprop
    from utils.exercises.patients import PATIENTS

    patient = PATIENTS["bias gradient averaged"]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 2)), rng.integers(0, 3, 20)
    errors = backprop.gradient_check(patient.build(), x, y)
    assert max(errors, key=errors.get) == patient.where
    assert sorted(errors.values())[-2] < 1e-6


def test_the_stuck_patient_is_saturated_where_it_says():
    from utils.exercises.patients import PATIENTS

    patient = PATIENTS["stuck layer"]
    net = patient.build()
    x = torch.randn(256, 64)
    outputs = {}
    for name, module in net.named_children():
        x = module(x)
        outputs[name] = x
    saturated = {name: float((out.abs() > 0.99).float().mean())
                 for name, out in outputs.items() if name.startswith("hidden")}
    assert max(saturated, key=saturated.get) == patient.where, saturated
    assert saturated[patient.where] > 0.5


def test_a_stall_network_refuses_an_unknown_letter():
    from utils.exercises.patients import stall_network

    with pytest.raises(ValueError, match="letter must be one of A, B, C, D, E, F, got 'G'"):
        stall_network("G")


# --- numbers are read by utils.checks.one_number ------------------------------------------


def test_numbers_are_read_by_checks_one_number():
    from utils.exercises import nb01_gradient_descent as nb01
    from utils.exercises import nb05_weight_initialization as nb05
    from utils.exercises.core import as_float

    assert as_float(torch.tensor([2.5]), "x") == 2.5 and as_float(np.float32(0.5), "x") == 0.5
    with pytest.raises(Wrong, match=r"^x should be a single number, but it is a tensor of "
                                    r"shape \(2,\)\.$"):
        as_float(torch.tensor([1.0, 2.0]), "x")
    with pytest.raises(Wrong, match="^x is an integer too large"):
        as_float(10 ** 400, "x")
    assert nb05._as_real(np.array([1.5])) == 1.5 and nb05._as_real("1.5") is None
    assert nb05._as_real(10 ** 400) == math.inf and nb05._as_real(True) is None
    assert nb01._is_number(torch.tensor(3.0)) and nb01._is_number(10 ** 400)
    assert not nb01._is_number([1.0]) and not nb01._is_number(np.array(["a"]))
    assert not nb01._is_number(np.zeros(2))


@pytest.mark.parametrize("exercise_id", ["4.1", "4.3"])
def test_elementwise_exercises_run_on_a_batch_of_one(exercise_id):
    reference = REGISTRY[exercise_id].checker.reference

    def wrong_on_one_element(x, parameter):
        result = reference(x, parameter)
        return result + 1 if x.size == 1 else result

    feedback = check(exercise_id, wrong_on_one_element)
    assert feedback.status == WRONG and "x of shape (1,)" in feedback.message, feedback.text()


def test_4_2_runs_on_a_batch_of_one_and_names_the_smallest_failing_case():
    from utils.exercises.nb04_activation_functions import _dead_share

    def wrong_on_one_example(activations):
        return 0.25 if activations.shape[0] == 1 else _dead_share(activations)

    feedback = check("4.2", wrong_on_one_example)
    assert feedback.status == WRONG, feedback.text()
    assert feedback.message.startswith("dead_fraction of a 1×6 array is off."), feedback.text()


def test_result_parts_names_what_is_missing():
    from utils.exercises import result_parts

    assert result_parts([1.0, 2.0], ("dw", "db"), "f") == (1.0, 2.0)
    with pytest.raises(Wrong, match=r"^f should return a pair \(dw, db\)\.$") as wrong:
        result_parts(3.0, ("dw", "db"), "f")
    assert wrong.value.got == "one object of type float"
    with pytest.raises(Wrong, match=r"^g should return three values \(a, b, c\)\.$") as wrong:
        result_parts((1, 2), ("a", "b", "c"), "g")
    assert wrong.value.got == "a tuple of length 2"
    with pytest.raises(Wrong, match=r"^db is None: did you forget to compute it\?$"):
        result_parts((1.0, None), ("dw", "db"), "f")
