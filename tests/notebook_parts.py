"""Reading the parts of a course notebook that the tests check: exercises and solutions."""

import re

EXERCISE_HEADING = re.compile(r"^### Exercise (\d+\.\d+) · (.+)$", re.MULTILINE)
SOLUTION_SUMMARY = re.compile(r"<summary>.*?Exercise (\d+\.\d+).*?</summary>", re.DOTALL)
PYTHON_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
CHECK_CALL = re.compile(r"""check\(\s*["'](\d+\.\d+)["']\s*,\s*(\w+)\s*\)""")


def tags(cell):
    return cell.metadata.get("tags", [])


def exercise_headings(nb):
    """{exercise id: (title, index of the markdown cell)} for every exercise heading."""
    found = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for exercise_id, title in EXERCISE_HEADING.findall(cell.source):
                found[exercise_id] = (title.strip(), index)
    return found


def solutions(nb):
    """{exercise id: solution code} from the markdown cells tagged ``solution``."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "solution" in tags(cell):
            summary = SOLUTION_SUMMARY.search(cell.source)
            code = PYTHON_FENCE.findall(cell.source)
            if summary and code:
                found[summary.group(1)] = "\n".join(code)
    return found


def check_calls(nb):
    """{exercise id: (answer name, index of the code cell)} for every ``check("N.M", name)``."""
    found = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for exercise_id, name in CHECK_CALL.findall(cell.source):
                found.setdefault(exercise_id, (name, index))
    return found
