"""The workshop guide (tools/workshop.py, `make workshop`): generated, and in sync."""

import pytest

from tools import workshop
from tools.editions import course_notebooks
from utils.exercises import REGISTRY


def test_committed_guide_is_in_sync():
    assert workshop.GUIDE_PATH.read_text() == workshop.generate(), (
        "docs/workshop.md is out of date: run `make workshop` (make sync runs it too)")


def test_guide_covers_every_notebook_and_exercise():
    text = workshop.generate()
    for entry in workshop.entries(course_notebooks()):
        assert f"### {entry.label} · {entry.title}" in text
    labels = {path.stem[:2] for path in course_notebooks()}
    for exercise_id, exercise in REGISTRY.items():
        if f"{int(exercise_id.split('.')[0]):02d}" in labels:
            assert f"Exercise {exercise_id} · {exercise.title}:" in text
            compared = [slip for slip in exercise.wrong_answers if slip.compared]
            assert (compared or exercise.wrong_answers)[0].description in text
    for heading in ("## Before the session", "### Half day", "### Full day", "### Two days"):
        assert heading in text


@pytest.mark.parametrize("text, minutes", [
    ("**Study time:** 90 minutes · **Run time:** …", 90),
    ("**Study time:** 2 hours · …", 120),
    ("**Study time:** 1.5 h", 90),
    ("no study time here", None),
])
def test_study_time_is_read_from_the_title_cell(text, minutes):
    assert workshop.study_minutes(text) == minutes


def entry(label, study, run=None):
    return workshop.Entry(label, f"notebook {label}", study, run, "")


def test_plan_packs_in_order_and_lists_what_does_not_fit():
    chosen = [entry("01", 100, 20), entry("02", 90), entry("03", 150), entry("04", None)]
    sessions, left_over = workshop.plan(chosen, 2, session_minutes=200)
    assert chosen[0].slot_minutes == 101  # study time + 3 × 20 s, rounded up
    assert [[item[0].label for item in session] for session in sessions] == [["01"], ["02"]]
    assert [item.label for item in left_over] == ["03", "04"]
    with pytest.raises(ValueError, match="sessions must be a whole number"):
        workshop.plan(chosen, 0)


def test_a_notebook_without_notes_is_to_be_written(tmp_path):
    notes = tmp_path / "notes.toml"
    notes.write_text('[schedules]\nhalf_day = ["03"]\n')
    text = workshop.generate(course_notebooks()[:2], notes)
    assert text.count("to be written") == 2


def test_notes_need_a_figure_and_two_questions(tmp_path):
    notes = tmp_path / "notes.toml"
    notes.write_text('[notes.03]\nfigure = "x"\nquestions = ["only one?"]\n')
    with pytest.raises(ValueError, match="notes.03 needs a figure .* exactly two questions"):
        workshop.read_notes(notes)
