"""Regenerate the parts of the notebooks and README that come from ``utils/course.py``.

Run ``make sync`` (or ``python -m tools.sync_notebooks``) after changing the
repository address, the curriculum or after adding a notebook. It rewrites:

- the badges line of each notebook's title cell (Colab and Binder links to that
  very notebook) and its "Run time" (measured by ``make bench``, kept in
  ``utils/course.py``);
- the first code cell of each notebook (the identical setup cell);
- the badges line of the README (opening the welcome notebook);
- the course map: the cell tagged ``course-map`` in ``00_welcome.ipynb`` and
  the table between the ``course-map`` markers in ``README.md``.

The tests check that running this would change nothing.
"""

import re
import sys
from pathlib import Path

import nbformat

from utils import course

ROOT = course.REPO_ROOT
NOTEBOOKS = ROOT / "notebooks"
BADGE_LINE = re.compile(r"^\[!\[Open in Colab\].*$", re.MULTILINE)
RUN_TIME = re.compile(r"(\*\*Run time:\*\* )[^·\n]*?( ·|$)", re.MULTILINE)
README_MAP = re.compile(r"(<!-- course-map:start -->\n).*?(<!-- course-map:end -->)", re.DOTALL)


def notebook_path(lesson) -> Path:
    return NOTEBOOKS / lesson.filename


def is_available(lesson) -> bool:
    return notebook_path(lesson).is_file()


def course_map(link_prefix: str) -> str:
    """The curriculum as a Markdown table; available notebooks are links."""
    rows = ["| # | notebook | paper reproduced at CPU scale | status |", "|---|---|---|---|"]
    for lesson in course.CURRICULUM:
        if is_available(lesson):
            name, status = f"[{lesson.title}]({link_prefix}{lesson.filename})", "available"
        else:
            name, status = lesson.title, "coming"
        rows.append(f"| {lesson.label} | {name} | {lesson.paper} | {status} |")
    return "\n".join(rows)


def synced_notebook(nb, lesson):
    """Return a copy of ``nb`` with its generated parts brought up to date."""
    nb = nbformat.from_dict(nb)
    title = nb.cells[0]
    if BADGE_LINE.search(title.source):
        title.source = BADGE_LINE.sub(lambda _: course.badges(lesson), title.source)
    if lesson.run_time_s is not None:
        title.source = RUN_TIME.sub(lambda m: m.group(1) + lesson.run_time + m.group(2),
                                    title.source)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if code_cells:
        code_cells[0].source = course.setup_cell_source()
    for cell in nb.cells:
        if "course-map" in cell.metadata.get("tags", []):
            heading = cell.source.split("\n", 1)[0]
            cell.source = heading + "\n\n" + course_map(link_prefix="")
    return nb


def synced_readme(text: str) -> str:
    """The README with its badges (opening the welcome notebook) and course map up to date."""
    text = BADGE_LINE.sub(lambda _: course.badges(course.lesson(0)), text, count=1)
    table = course_map(link_prefix="notebooks/")
    return README_MAP.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)


def lesson_for(path: Path):
    for lesson in course.CURRICULUM:
        if lesson.filename == path.name:
            return lesson
    raise ValueError(f"{path.name} is not in the curriculum of utils/course.py.")


def main() -> int:
    changed = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        new = synced_notebook(nb, lesson_for(path))
        if new != nb:
            nbformat.write(new, path)
            changed.append(path.name)
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    new_text = synced_readme(text)
    if new_text != text:
        readme.write_text(new_text, encoding="utf-8")
        changed.append("README.md")
    print("updated: " + ", ".join(changed) if changed else "everything already in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
