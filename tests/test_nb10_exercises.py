"""Notebook 10's checks beyond the automatic slip tests: clipping without the 1e-6 is right,
any quantile method is right, the diagnosis reads common spellings, and nothing crashes."""

import numpy as np
import pytest

from utils.exercises import CORRECT, NOT_ATTEMPTED, WRONG, check, reset_hints


@pytest.fixture(autouse=True)
def fresh_hints():
    reset_hints()


def test_clip_by_norm_without_the_eps_is_right():
    def no_eps(grads, max_norm):
        norm = np.sqrt(sum((g ** 2).sum() for g in grads))
        return [g * min(1.0, max_norm / norm) for g in grads], norm

    assert check("10.1", no_eps).status == CORRECT


def test_clip_by_norm_returning_a_tuple_of_arrays_is_right():
    def as_tuple(grads, max_norm):
        norm = np.sqrt(sum((g ** 2).sum() for g in grads))
        return tuple(g * min(1.0, max_norm / (norm + 1e-6)) for g in grads), float(norm)

    assert check("10.1", as_tuple).status == CORRECT


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_pick_max_norm_accepts_every_quantile_method(method):
    feedback = check("10.2", lambda norms, share: np.quantile(norms, 1 - share, method=method))
    assert feedback.status == CORRECT, feedback.text()


def test_pick_max_norm_a_fraction_passed_to_percentile_is_wrong_with_the_share():
    feedback = check("10.2", lambda norms, share: np.percentile(norms, 1 - share))
    assert feedback.status == WRONG
    assert "of the logged steps" in feedback.message


@pytest.mark.parametrize("answer", [
    {"A": "lr", "B": "Exploding gradients"},
    {"A": " Learning rate ", "B": "exploding"},
    {"A": "too-high learning rate", "B": "exploding gradient"},
])
def test_diagnosis_reads_common_spellings(answer):
    assert check("10.3", answer).status == CORRECT


@pytest.mark.parametrize("answer", [None, ...])
def test_diagnosis_not_attempted(answer):
    assert check("10.3", answer).status == NOT_ATTEMPTED


@pytest.mark.parametrize("answer", [{"A": 1, "B": 2}, {"A": "lr"}, "exploding", 3])
def test_diagnosis_odd_answers_are_explained(answer):
    feedback = check("10.3", answer)
    assert feedback.status == WRONG and "A" in feedback.message


def test_a_wrong_cause_for_b_alone_names_run_b():
    feedback = check("10.3", {"A": "learning rate", "B": "learning rate"})
    assert feedback.message.startswith("Run B")
