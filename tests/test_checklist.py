"""The gradient doctor's checklist: in sync with its committed page, and every name in it real."""

import re

from tools import checklist as checklist_tool
from utils import checklist, diagnosis
from utils.course import CURRICULUM

LESSONS = {item.number for item in CURRICULUM}


def test_committed_page_is_in_sync():
    assert checklist_tool.OUTPUT.read_text(encoding="utf-8") == checklist.markdown(), (
        "docs/checklist.md is out of date: run `make sync`")


def test_every_condition_is_one_the_diagnosis_names():
    for item in checklist.checks():
        for condition in item.conditions:
            assert condition in diagnosis.CONDITIONS, (item.measure, condition)


def test_every_item_has_a_stage_lessons_and_text():
    items = checklist.checks()
    assert len(items) >= 10
    for item in items:
        assert item.stage in checklist.STAGES
        assert item.lessons and set(item.lessons) <= LESSONS
        assert item.measure and item.healthy and item.fix


def test_thresholds_come_from_the_diagnosis():
    text = checklist.markdown()
    assert f"{diagnosis.VANISHING_RATIO:g} and {diagnosis.EXPLODING_RATIO:g}" in text
    assert f"{100 * diagnosis.DEAD_LIMIT:.0f}%" in text


def test_links_point_at_notebooks_that_exist_in_the_curriculum():
    names = {item.filename for item in CURRICULUM}
    for target in re.findall(r"\]\(\.\./notebooks/([^)]+)\)", checklist.markdown()):
        assert target in names
