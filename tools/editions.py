"""Student and instructor editions of the course, built from the one source in ``notebooks/``.

Run from the repository root (``make editions``)::

    python -m tools.editions                 # both editions of every notebook, into build/
    python -m tools.editions --jobs 1        # one kernel at a time
    python -m tools.editions notebooks/07_optimizers.ipynb   # only the named notebooks

* **Student edition** (``build/student/``): the notebooks as committed, without the cells
  tagged ``solution`` (the collapsed reference solutions), for workshops where the answers
  come later. Nothing else changes: its code cells are the source's, which the test suite
  already executes top to bottom with every exercise unattempted (nbval), so it is not
  executed again here.
* **Instructor edition** (``build/instructor/``): every exercise skeleton (the code cell
  before the exercise's ``check("N.M", name)`` cell) followed by the code of its reference
  solution, which replaces the learner's placeholder, then executed top to bottom with
  outputs and figures, so it shows what every check says to a correct answer. The build
  fails when a cell raises or a check does not say "correct". Each filled cell keeps its
  skeleton in its metadata
  (``course.skeleton``), so the static site can show the learner's view.

A new notebook ``notebooks/NN_*.ipynb`` joins both editions by existing. Neither edition
is committed (``build/`` is ignored).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
BUILD_DIR = REPO_ROOT / "build"
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 300

SOLUTION_TAG = "solution"
FILLED_MARK = "# Instructor edition: the reference solution (the skeleton above is replaced)."
# The same conventions as tests/notebook_parts.py (a test checks that both agree).
SOLUTION_SUMMARY = re.compile(r"<summary>.*?Exercise (\d+\.\d+).*?</summary>", re.DOTALL)
PYTHON_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
CHECK_CALL = re.compile(r"""check\(\s*["'](\d+\.\d+)["']\s*,\s*(\w+)\s*\)""")


def course_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Every course notebook ``NN_*.ipynb`` in ``notebook_dir``, in course order.

    With the environment variable ``COURSE_COMMITTED_ONLY=1``, only those that git tracks
    (for building in a working tree where other notebooks are still being written).
    """
    paths = sorted(Path(notebook_dir).glob(NOTEBOOK_PATTERN))
    if os.environ.get("COURSE_COMMITTED_ONLY") == "1":
        listed = subprocess.run(["git", "ls-files", "--", str(notebook_dir)], check=True,
                                cwd=notebook_dir, capture_output=True, text=True).stdout
        tracked = {Path(line).name for line in listed.splitlines()}
        paths = [path for path in paths if path.name in tracked]
    return paths


def tags(cell: nbformat.NotebookNode) -> list[str]:
    """The cell's tags (an empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []))


def solutions(nb: nbformat.NotebookNode) -> dict[str, str]:
    """{exercise id: reference solution code} from the markdown cells tagged ``solution``."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and SOLUTION_TAG in tags(cell):
            summary = SOLUTION_SUMMARY.search(cell.source)
            code = PYTHON_FENCE.findall(cell.source)
            if summary and code:
                found[summary.group(1)] = "\n".join(code)
    return found


def check_cells(nb: nbformat.NotebookNode) -> dict[str, int]:
    """{exercise id: index of its check cell}: the first code cell with ``check("N.M", name)``
    (a ``demonstration=True`` call does not count)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for exercise_id, _ in CHECK_CALL.findall(cell.source):
                found.setdefault(exercise_id, index)
    return found


def student_edition(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without its ``solution`` cells; everything else as it is."""
    student = copy.deepcopy(nb)
    student.cells = [cell for cell in student.cells if SOLUTION_TAG not in tags(cell)]
    return student


def filled(skeleton: str, solution: str) -> str:
    """A skeleton cell followed by its reference solution: the skeleton's own set-up lines
    (an import, a network to examine) still run, and the solution then defines the answer
    (a function raising ``NotImplementedError`` or a placeholder ``...`` is replaced)."""
    return f"{skeleton.rstrip()}\n\n{FILLED_MARK}\n{solution.strip()}"


def instructor_edition(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with each exercise skeleton filled with its reference solution's code
    (``filled``; not executed). The skeleton is kept in ``metadata["course"]["skeleton"]``."""
    instructor = copy.deepcopy(nb)
    code = solutions(nb)
    for exercise_id, check_index in check_cells(nb).items():
        if exercise_id not in code:
            raise ValueError(f"exercise {exercise_id} has a check cell but no cell tagged "
                             "'solution' with its code")
        skeleton = instructor.cells[check_index - 1]
        if skeleton.cell_type != "code":
            raise ValueError(f"exercise {exercise_id}: the cell before its check is not "
                             "the learner's code cell")
        skeleton.metadata["course"] = {"exercise": exercise_id, "skeleton": skeleton.source}
        skeleton.source = filled(skeleton.source, code[exercise_id])
    return instructor


def execute(nb: nbformat.NotebookNode, cwd: Path = NOTEBOOK_DIR,
            timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Run the notebook top to bottom in a fresh ``python3`` kernel whose working directory
    is ``cwd`` (cells tagged ``skip-execution`` are not run, ``raises-exception`` may raise;
    any other error raises ``nbclient.exceptions.CellExecutionError``)."""
    from nbclient import NotebookClient

    os.environ.pop("MPLBACKEND", None)  # the kernel must use the inline backend
    executed = copy.deepcopy(nb)
    client = NotebookClient(executed, kernel_name=KERNEL_NAME, timeout=timeout,
                            store_widget_state=False,
                            resources={"metadata": {"path": str(cwd)}})
    # No imitation of a front end for Output widgets (as in tools/bench.py and
    # tools/claims.py): it stalled 07's explorer cell for the whole cell timeout (300 s)
    # here. An explorer's first drawing then lands in the cell's own outputs, which is what
    # a static page can show anyway.
    client.comm_open_handlers = {}
    client.execute()
    return executed


def output_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed or displayed as text (streams, text/plain, errors)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
        else:
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def instructor_problems(executed: nbformat.NotebookNode) -> list[str]:
    """What is wrong with an executed instructor edition: an error output (except in a cell
    tagged ``raises-exception``), or a check that does not say "✔ … correct!". Empty when
    all is well."""
    problems = []
    for index, cell in enumerate(executed.cells):
        if "raises-exception" in tags(cell):  # fails on purpose, to show the error
            continue
        if cell.cell_type == "code" and any(output.get("output_type") == "error"
                                            for output in cell.get("outputs", [])):
            problems.append(f"cell {index} raised: {output_text(cell)[-300:]}")
    for exercise_id, index in check_cells(executed).items():
        text = output_text(executed.cells[index])
        if f"✔ Exercise {exercise_id} " not in text or "correct!" not in text:
            problems.append(f"exercise {exercise_id}: the check says {text.strip()[:300]!r}, "
                            "not correct")
    return problems


def build_instructor(source: Path, out_dir: Path) -> tuple[Path, float]:
    """Write the executed instructor edition of ``source`` into ``out_dir``; return its path
    and the seconds the execution took."""
    nb = nbformat.read(source, as_version=4)
    started = time.perf_counter()
    executed = execute(instructor_edition(nb), cwd=Path(source).parent)
    seconds = time.perf_counter() - started
    target = Path(out_dir) / Path(source).name
    nbformat.write(executed, target)
    return target, seconds


def build_student(source: Path, out_dir: Path) -> Path:
    """Write the student edition of ``source`` into ``out_dir``; return its path."""
    target = Path(out_dir) / Path(source).name
    nbformat.write(student_edition(nbformat.read(source, as_version=4)), target)
    return target


def build_editions(sources: Iterable[Path], out_dir: Path = BUILD_DIR,
                   jobs: int = 2) -> dict[str, float]:
    """Both editions of ``sources`` into ``out_dir/student`` and ``out_dir/instructor``,
    executing up to ``jobs`` instructor notebooks at once; return {notebook name: seconds}.

    Raises ``RuntimeError`` naming every notebook that failed to execute or whose checks do
    not all say correct.
    """
    sources = [Path(path) for path in sources]
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a whole number ≥ 1, got {jobs!r}.")
    missing = [str(path) for path in sources if not path.is_file()]
    if missing:
        raise ValueError(f"no such notebook: {', '.join(missing)}")
    student_dir, instructor_dir = Path(out_dir) / "student", Path(out_dir) / "instructor"
    for folder in (student_dir, instructor_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        build_student(source, student_dir)
    seconds, failures = {}, []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {source.name: pool.submit(build_instructor, source, instructor_dir)
                   for source in sources}
        for name, future in futures.items():
            try:
                target, seconds[name] = future.result()
            except Exception as error:  # a cell raised: name the notebook, go on
                failures.append(f"{name}: {type(error).__name__}: {str(error)[-1500:]}")
                continue
            problems = instructor_problems(nbformat.read(target, as_version=4))
            failures += [f"{name}: {problem}" for problem in problems]
    if failures:
        raise RuntimeError("The instructor edition failed:\n" + "\n".join(failures))
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Command line: build both editions; exit code 1 when one fails."""
    parser = argparse.ArgumentParser(prog="python -m tools.editions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to build (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help="default: build/")
    parser.add_argument("--jobs", type=int, default=2, help="kernels at once (default 2)")
    args = parser.parse_args(argv)
    sources = args.notebooks or course_notebooks()
    started = time.perf_counter()
    try:
        seconds = build_editions(sources, args.out, args.jobs)
    except (RuntimeError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    for name, value in seconds.items():
        print(f"{name}: executed in {value:.1f} s")
    print(f"student edition: {args.out / 'student'}; instructor edition: "
          f"{args.out / 'instructor'} ({len(seconds)} notebooks, "
          f"{time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
