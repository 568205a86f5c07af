"""Student and instructor editions (tools/editions.py, `make editions`).

The instructor edition is executed once per test session (tests/course_build.py) and must
run top to bottom with every exercise's check saying correct. The student edition is not
executed again: its code cells are exactly the source's (asserted here), and nbval already
runs the source top to bottom with every exercise unattempted.
"""

import nbformat
import pytest

from tools import editions as ed
from utils.exercises import REGISTRY

from conftest import notebook_params, read_notebook
from course_build import editions
from notebook_parts import check_calls, exercise_headings, solutions, tags


def course_params():
    return [pytest.param(path, id=path.name) for path in ed.course_notebooks()]


@pytest.mark.parametrize("path", notebook_params())
def test_tools_read_exercises_as_the_tests_do(path):
    nb = read_notebook(path)
    assert ed.solutions(nb) == solutions(nb)
    assert ed.check_cells(nb) == {key: index for key, (_, index) in check_calls(nb).items()}


@pytest.mark.parametrize("path", course_params())
def test_student_edition_is_the_source_without_its_solutions(path):
    source = read_notebook(path)
    student = ed.student_edition(source)
    kept = [cell for cell in source.cells if "solution" not in tags(cell)]
    assert [cell.source for cell in student.cells] == [cell.source for cell in kept]
    assert [cell.cell_type for cell in student.cells] == [cell.cell_type for cell in kept]
    # Its code cells are the source's, one for one: nbval's run of the source is its run.
    assert ([cell.source for cell in student.cells if cell.cell_type == "code"]
            == [cell.source for cell in source.cells if cell.cell_type == "code"])
    assert not any("solution" in tags(cell) for cell in student.cells)
    assert not any("<details>" in cell.source and "```python" in cell.source
                   for cell in student.cells), "a solution is left in the student edition"
    assert set(exercise_headings(student)) == set(exercise_headings(source))


@pytest.mark.parametrize("path", course_params())
def test_instructor_edition_fills_each_skeleton_with_its_solution(path):
    source = read_notebook(path)
    instructor = ed.instructor_edition(source)
    assert len(instructor.cells) == len(source.cells)
    code = solutions(source)
    filled = 0
    for index, (before, after) in enumerate(zip(source.cells, instructor.cells)):
        course = after.metadata.get("course")
        if course:
            filled += 1
            assert after.source.startswith(before.source.rstrip())
            assert after.source.endswith(code[course["exercise"]].strip())
            assert ed.FILLED_MARK in after.source
            assert course["skeleton"] == before.source
            assert ed.check_cells(source)[course["exercise"]] == index + 1
        else:
            assert after.source == before.source
    assert filled == len(exercise_headings(source))


def test_a_check_without_a_solution_is_named():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = ..."), nbformat.v4.new_code_cell('check("9.9", x)')])
    with pytest.raises(ValueError, match="exercise 9.9 has a check cell but no cell tagged"):
        ed.instructor_edition(nb)


@pytest.mark.parametrize("jobs", [0, 1.5, True])
def test_bad_jobs_are_explained(jobs, tmp_path):
    with pytest.raises(ValueError, match="jobs must be a whole number"):
        ed.build_editions([], tmp_path, jobs=jobs)


def test_a_missing_notebook_is_named(tmp_path):
    with pytest.raises(ValueError, match="no such notebook: .*99_missing.ipynb"):
        ed.build_editions([tmp_path / "99_missing.ipynb"], tmp_path)


def test_instructor_problems_name_a_wrong_check_and_an_error():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("f = 1"), nbformat.v4.new_code_cell('check("1.1", f)')])
    nb.cells[1].outputs = [nbformat.v4.new_output(
        "execute_result", data={"text/plain": "✘ Exercise 1.1 · x: not yet right."},
        execution_count=1)]
    nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="np",
                                                  traceback=[])]
    problems = ed.instructor_problems(nb)
    assert any("cell 0 raised: NameError: np" in problem for problem in problems)
    assert any("exercise 1.1: the check says" in problem for problem in problems)
    nb.cells[0].metadata["tags"] = ["raises-exception"]  # an error shown on purpose
    assert not any("cell 0" in problem for problem in ed.instructor_problems(nb))


def test_editions_build_and_every_check_says_correct():
    root, seconds, wall = editions()
    sources = ed.course_notebooks()
    assert sorted(seconds) == [path.name for path in sources]
    print(f"\ninstructor edition: {len(seconds)} notebooks executed in {wall:.0f} s (2 kernels)")
    for path in sources:
        student = nbformat.read(root / "student" / path.name, as_version=4)
        assert student.cells == ed.student_edition(read_notebook(path)).cells
        executed = nbformat.read(root / "instructor" / path.name, as_version=4)
        assert ed.instructor_problems(executed) == [], path.name
        checks = ed.check_cells(executed)
        assert set(checks) == set(exercise_headings(executed))
        for exercise_id, index in checks.items():
            text = ed.output_text(executed.cells[index])
            assert f"✔ Exercise {exercise_id} · {REGISTRY[exercise_id].title}: correct!" in text
        code = [cell for cell in executed.cells if cell.cell_type == "code"
                and "skip-execution" not in tags(cell) and cell.source.strip()]
        assert all(cell.execution_count is not None for cell in code), path.name
