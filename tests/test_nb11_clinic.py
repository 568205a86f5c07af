"""Notebook 11's clinic exercises beyond the automatic slip tests: every cause and alias is
read, each wrong guess is explained from the patient's evidence, partial answers and odd
answers never crash, and a fix is re-run and judged."""

import pytest

from utils.clinic import CAUSES, PATIENTS
from utils.exercises import CORRECT, NOT_ATTEMPTED, WRONG, check, reset_hints
from utils.exercises.nb11_clinic import _RIGHT_CAUSES, cause_of, explain_guess

FIXES = {name: patient.fixes[0] for name, patient in PATIENTS.items()}


@pytest.fixture(autouse=True)
def fresh_hints():
    reset_hints()


def test_the_right_causes_are_the_patients_causes():
    assert _RIGHT_CAUSES == {name: patient.cause for name, patient in PATIENTS.items()}
    assert check("11.1", dict(_RIGHT_CAUSES)).status == CORRECT


@pytest.mark.parametrize("answer", [None, ...])
def test_not_attempted(answer):
    assert check("11.1", answer).status == NOT_ATTEMPTED
    assert check("11.2", answer).status == NOT_ATTEMPTED


@pytest.mark.parametrize("spelling, cause", [
    (" Dead ReLUs ", "dead relus"), ("dying-relu", "dead relus"),
    ("missing zero_grad", "no zero_grad"), ("No_Zero_Grad", "no zero_grad"),
    ("double softmax", "softmax before loss"), ("BN train mode", "bn train mode"),
    ("unstandardised inputs", "unscaled inputs"), ("learning rate", "lr too high"),
])
def test_common_spellings_are_read(spelling, cause):
    assert cause_of(spelling, "A") == cause


@pytest.mark.parametrize("name", sorted(PATIENTS))
def test_every_wrong_guess_is_explained_from_the_evidence(name):
    for guess in CAUSES:
        if guess == PATIENTS[name].cause:
            continue
        text = explain_guess(guess, name)
        assert text.startswith(f'{name}: not "{guess}".'), text
        assert "nan" not in text.replace("NaN", ""), text  # every number was measured
        assert any(ch.isdigit() for ch in text) or "no ReLU" in text or "no batch" in text \
            or "not a recurrent" in text or "no softmax" in text, text


def test_a_partial_answer_names_what_is_missing_without_counting_an_attempt():
    feedback = check("11.1", {"A": "dead relus", "B": "vanishing"})
    assert feedback.status == WRONG and "still to name: C, D" in feedback.message
    assert check("11.1", {"A": "dead relus"}).hint_level == 1  # not moved on


@pytest.mark.parametrize("answer", [{"A": 3}, {"A": None}, {1: "vanishing"}, "vanishing",
                                    {"A": "exploding gradient spikes"}, [("A", "dead")]])
def test_odd_answers_to_11_1_are_explained(answer):
    feedback = check("11.1", answer)
    assert feedback.status == WRONG, feedback.text()
    assert "patient" in feedback.message or "causes should be a dict" in feedback.message


def test_the_list_of_causes_is_given_for_an_unknown_cause():
    feedback = check("11.1", {"A": "bad luck"})
    for cause in CAUSES:
        assert cause in feedback.message


def test_the_reference_fixes_cure_every_patient():
    feedback = check("11.2", FIXES)
    assert feedback.status == CORRECT, feedback.text()


def test_fewer_than_three_fixed_patients_are_asked_for_more():
    feedback = check("11.2", {"D": {"softmax_output": False}})
    assert feedback.status == WRONG and "at least 3" in feedback.message


@pytest.mark.parametrize("answer, words", [
    ({"Z": {"lr": 0.1}}, ["no patient 'Z'"]),
    ({"A": {"lr": -1}}, ["Patient A", "lr"]),
    ({"A": {"lr": "small"}}, ["Patient A", "lr"]),
    ({"A": {}}, ["dict of the settings"]),
    ({"G": {"zero_grad": True}}, ["no setting 'zero_grad'"]),
    ([("A", {"lr": 0.01})], ["fixes should be a dict"]),
    ({}, ["fixes should be a dict"]),
])
def test_odd_answers_to_11_2_are_explained(answer, words):
    feedback = check("11.2", answer)
    assert feedback.status == WRONG, feedback.text()
    for word in words:
        assert word in feedback.message, feedback.text()


def test_a_fix_that_leaves_the_cause_is_told_so():
    feedback = check("11.2", {"H": {"lr": 0.01}, "D": {"softmax_output": False},
                              "F": {"eval_mode": True}})
    assert feedback.status == WRONG
    assert "H with {'lr': 0.01}" in feedback.message
    assert "D with" not in feedback.message and "F with" not in feedback.message
