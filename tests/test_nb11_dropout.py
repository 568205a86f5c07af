"""Exercise 11.3 (inverted dropout) beyond the automatic slip tests: other correct ways to
write it, the paper's convention, the slips on their own, and odd answers that must not
crash the check."""

import numpy as np
import pytest
import torch

from utils.exercises import (
    CORRECT,
    ERROR,
    NOT_ATTEMPTED,
    OTHER_CONVENTION,
    REGISTRY,
    WRONG,
    check,
    reset_hints,
)
from utils.exercises.nb11_dropout import _reference as reference


@pytest.fixture(autouse=True)
def fresh_hints():
    reset_hints()


def binomial(x, p, training, rng):
    if not training:
        return x
    return x * rng.binomial(1, 1 - p, size=x.shape) / (1 - p)


def through_torch(x, p, training, rng):
    return torch.nn.functional.dropout(torch.as_tensor(x), p, training)


def float32(x, p, training, rng):
    return reference(x, p, training, rng).astype(np.float32)


@pytest.mark.parametrize("answer", [reference, binomial, through_torch])
def test_other_correct_ways_are_right(answer):
    feedback = check("11.3", answer)
    assert feedback.status == CORRECT, feedback.text()


def test_float32_output_is_not_called_wrong_for_its_rounding():
    feedback = check("11.3", float32)
    assert feedback.status == CORRECT, feedback.text()


def test_the_papers_convention_is_named_not_wrong():
    def paper(x, p, training, rng):
        return x * (rng.random(x.shape) >= p) if training else x * (1 - p)

    feedback = check("11.3", paper)
    assert feedback.status == OTHER_CONVENTION, feedback.text()
    assert "Srivastava" in feedback.message and "1/(1 − p)" in feedback.message
    assert check("11.3", paper).hint_level == 0


@pytest.mark.parametrize("description, words", [
    ("p as the keep probability", "probability of keeping"),
    ("no 1/(1 − p) rescaling", "scaled up"),
    ("drops in evaluation mode", "evaluation"),
    ("one mask for the whole batch", "one mask"),
])
def test_each_named_slip_says_what_went_wrong(description, words):
    slip = next(s for s in REGISTRY["11.3"].wrong_answers if s.description == description)
    feedback = check("11.3", slip.answer)
    assert feedback.status == WRONG and words in feedback.message, feedback.text()
    assert feedback.expected is not None and feedback.got is not None


def test_p_as_keep_without_any_rescaling_is_still_named():
    def keep_p(x, p, training, rng):
        return x * (rng.random(x.shape) < p) if training else x

    assert "probability of keeping" in check("11.3", keep_p).message


def test_a_mask_per_column_is_one_mask_for_the_batch():
    def per_column(x, p, training, rng):
        if not training:
            return x
        return x * (rng.random((1, x.shape[1])) >= p) / (1 - p)

    assert "one mask" in check("11.3", per_column).message


def test_wrong_scale_factor_is_wrong_with_expected_and_got():
    def half(x, p, training, rng):
        return x * (rng.random(x.shape) >= p) / 0.5 if training else x

    feedback = check("11.3", half)
    assert feedback.status == WRONG and "scaled by one common factor" in feedback.message


def test_not_attempted_and_missing_return():
    def skeleton(x, p, training, rng):
        raise NotImplementedError("Exercise 11.3")

    def no_return(x, p, training, rng):
        x * 2

    assert check("11.3", skeleton).status == NOT_ATTEMPTED
    assert check("11.3", no_return).status == NOT_ATTEMPTED
    assert check("11.3", None).status == NOT_ATTEMPTED


@pytest.mark.parametrize("answer, status", [
    (lambda x, p, training, rng: x[:10], WRONG),
    (lambda x, p, training, rng: "dropout", WRONG),
    (lambda x, p, training, rng: 1 / 0, ERROR),
    (lambda x, p: x, ERROR),
    (3, WRONG),
])
def test_odd_answers_do_not_crash_the_check(answer, status):
    assert check("11.3", answer).status == status


def test_changing_x_in_place_is_wrong():
    def in_place(x, p, training, rng):
        if training:
            x *= (rng.random(x.shape) >= p) / (1 - p)
        return x

    assert check("11.3", in_place).status == WRONG
