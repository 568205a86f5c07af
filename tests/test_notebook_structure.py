"""The anatomy of every notebook (course guide §2) and its hygiene in git."""

import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from tools import sync_notebooks
from utils import course

from conftest import NOTEBOOK_DIR, NOTEBOOK_PATHS, ROOT, notebook_params, read_notebook
from notebook_parts import tags

KNOWN_TAGS = {"raises-exception", "nbval-skip", "skip-execution", "solution", "course-map",
              "nbval-ignore-output"}


def lesson_of(path):
    return sync_notebooks.lesson_for(path)


def markdown(nb):
    return [cell for cell in nb.cells if cell.cell_type == "markdown"]


def test_there_are_notebooks_and_all_are_in_the_curriculum():
    assert NOTEBOOK_PATHS, "no notebooks found"
    for path in NOTEBOOK_PATHS:
        lesson_of(path)  # raises for a file that is not in utils/course.py


@pytest.mark.parametrize("path", notebook_params())
def test_valid_nbformat_python3_kernel_and_no_outputs(path):
    nb = read_notebook(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs: commit notebooks without them"
            assert cell.execution_count is None, f"cell {index} has an execution count"
    assert "widgets" not in nb.metadata, "saved widget state: strip it before committing"


@pytest.mark.parametrize("path", notebook_params())
def test_title_cell_has_number_badges_and_time_line(path):
    nb, lesson = read_notebook(path), lesson_of(path)
    title = nb.cells[0]
    assert title.cell_type == "markdown"
    assert title.source.startswith(f"# {lesson.label} · {lesson.title}\n"), (
        f"title should be '# {lesson.label} · {lesson.title}'")
    assert course.badges(lesson) in title.source, "badges missing or stale: run `make sync`"
    for part in ("**Study time:**", "**Run time:**", "**Prerequisites:**"):
        assert part in title.source, f"title cell lacks {part}"


@pytest.mark.parametrize("path", notebook_params())
def test_learning_goals_follow_the_title(path):
    cell = read_notebook(path).cells[1]
    assert cell.source.startswith("## What you will learn")
    bullets = re.findall(r"^- ", cell.source, re.MULTILINE)
    assert 3 <= len(bullets) <= 5, f"{len(bullets)} learning goals; the guide asks for 3 to 5"


@pytest.mark.parametrize("path", notebook_params())
def test_first_code_cell_is_the_identical_setup_cell(path):
    nb = read_notebook(path)
    first_code = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert first_code.source == course.setup_cell_source(), "setup cell differs: run `make sync`"
    assert nb.cells.index(first_code) == 2, "the setup cell comes right after the goals"


@pytest.mark.parametrize("path", notebook_params())
def test_numbered_sections_summary_reading_and_next_link(path):
    nb, lesson = read_notebook(path), lesson_of(path)
    text = "\n".join(cell.source for cell in markdown(nb))
    assert re.search(r"^## 1\. ", text, re.MULTILINE), "no numbered section '## 1. ...'"
    summary = text.find("\n## Summary")
    reading = text.find("\n## Further reading")
    assert summary > 0 and reading > summary, "needs '## Summary' then '## Further reading'"
    assert re.search(r"^- .*\(\d{4}\)", text[reading:], re.MULTILINE), "cite with a year"
    if lesson.number < course.CURRICULUM[-1].number:
        following = course.lesson(lesson.number + 1)
        assert f"]({following.filename})" in text[reading:], (
            f"the end should link to the next notebook, {following.filename}")


@pytest.mark.parametrize("path", notebook_params())
def test_tags_are_known_and_skips_are_paired(path):
    for index, cell in enumerate(read_notebook(path).cells):
        cell_tags = set(tags(cell))
        assert cell_tags <= KNOWN_TAGS, f"cell {index}: unknown tags {cell_tags - KNOWN_TAGS}"
        if "nbval-skip" in cell_tags or "skip-execution" in cell_tags:
            assert {"nbval-skip", "skip-execution"} <= cell_tags, (
                f"cell {index}: use nbval-skip and skip-execution together")


@pytest.mark.parametrize("path", notebook_params())
def test_generated_parts_are_in_sync(path):
    nb = read_notebook(path)
    assert sync_notebooks.synced_notebook(nb, lesson_of(path)) == nb, "run `make sync`"


def test_readme_course_map_and_badges_are_in_sync():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert sync_notebooks.synced_readme(text) == text, "README out of date: run `make sync`"
    for lesson in course.CURRICULUM:
        assert f"| {lesson.label} |" in text


def test_course_map_marks_what_exists():
    table = sync_notebooks.course_map(link_prefix="")
    for lesson in course.CURRICULUM:
        exists = (NOTEBOOK_DIR / lesson.filename).is_file()
        row = next(line for line in table.splitlines() if line.startswith(f"| {lesson.label} |"))
        assert row.endswith("| available |" if exists else "| coming |")
        assert (f"({lesson.filename})" in row) == exists


@pytest.mark.parametrize("path", notebook_params())
def test_badges_point_at_the_notebook_itself(path):
    title = read_notebook(path).cells[0].source
    links = re.findall(r"\]\((https://[^)]+)\)", title)
    targets = [link for link in links if "colab.research.google.com/github" in link
               or "mybinder.org/v2" in link]
    assert len(targets) == 2
    for link in targets:
        assert link.startswith(("https://colab.research.google.com/github/"
                                + course.REPOSITORY.removeprefix("https://github.com/"),
                                "https://mybinder.org/v2/gh/"
                                + course.REPOSITORY.removeprefix("https://github.com/")))
        assert link.endswith(f"notebooks/{path.name}")


def test_code_cells_are_ruff_clean():
    ruff = shutil.which("ruff") or shutil.os.path.join(shutil.os.path.dirname(sys.executable),
                                                        "ruff")
    result = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise",
                             str(NOTEBOOK_DIR)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", notebook_params())
def test_code_lines_fit_colab(path):
    """Colab does not wrap code: every line of every code cell fits in 100 characters."""
    nb = read_notebook(path)
    long = [(index, len(line)) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > 100]
    assert not long, f"code lines over 100 characters (cell, length): {long}"
