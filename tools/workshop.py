"""Generate the workshop guide, ``docs/workshop.md``, from what the course already knows.

Run from the repository root (``make workshop``)::

    python -m tools.workshop            # rewrite docs/workshop.md
    python -m tools.workshop --check    # exit 1 if docs/workshop.md is out of date

Sources, none typed twice:

* ``utils/course.py``: each notebook's title and measured run time (``make bench``);
* each notebook's title cell: its study time (``**Study time:** 90 minutes``);
* ``utils.exercises.REGISTRY``: each exercise's typical mistakes (its ``Slip`` objects);
* ``docs/workshop_notes.toml``: per notebook the one figure to discuss and two discussion
  questions, and which notebooks the half-day and full-day schedules cover.

Every notebook ``notebooks/NN_*.ipynb`` present joins the guide by existing; one without
notes yet gets a "to be written" line.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tools.editions import REPO_ROOT, course_notebooks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

GUIDE_PATH = REPO_ROOT / "docs" / "workshop.md"
NOTES_PATH = REPO_ROOT / "docs" / "workshop_notes.toml"
SESSION_MINUTES = 210  # one teaching session (half a day: 3.5 h), its break included
BREAK_MINUTES = 15  # one break per session
#: The schedules: (key in the notes file or None for the whole course, heading, sessions).
SCHEDULES = (("half_day", "Half day", 1), ("full_day", "Full day", 2),
             ("two_days", "Two days", 4))
#: A learner's "Run all" on a slower laptop takes up to this many times the measured time.
SLOW_MACHINE_FACTOR = 3
MISTAKES_PER_EXERCISE = 4
STUDY_TIME = re.compile(r"\*\*Study time:\*\*\s*(\d+(?:\.\d+)?)\s*(minutes?|min|hours?|h)\b")


@dataclass
class Entry:
    """One notebook as the guide sees it."""

    label: str
    title: str
    study_minutes: int | None
    run_time_s: int | None
    run_time: str

    @property
    def slot_minutes(self) -> int | None:
        """Minutes to plan: the study time plus a slow laptop's "Run all"."""
        if self.study_minutes is None:
            return None
        run = self.run_time_s or 0
        return self.study_minutes + math.ceil(SLOW_MACHINE_FACTOR * run / 60)


def study_minutes(title_cell_source: str) -> int | None:
    """The study time of a title cell in minutes (``2 hours`` → 120); None if it has none."""
    match = STUDY_TIME.search(title_cell_source)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return round(value * 60) if unit.startswith("h") else round(value)


def entries(notebooks: list[Path]) -> list[Entry]:
    """An ``Entry`` per notebook, from its title cell and ``utils.course.CURRICULUM``."""
    from utils.course import CURRICULUM

    lessons = {lesson.stem: lesson for lesson in CURRICULUM}
    found = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        lesson = lessons.get(path.stem)
        title_cell = nb.cells[0].source if nb.cells else ""
        heading = re.match(r"#\s*\d+\s*·\s*(.+)", title_cell)
        title = lesson.title if lesson else (heading.group(1).strip() if heading
                                             else path.stem)
        found.append(Entry(label=path.stem[:2], title=title,
                           study_minutes=study_minutes(title_cell),
                           run_time_s=lesson.run_time_s if lesson else None,
                           run_time=lesson.run_time if lesson else "not measured yet"))
    return found


def plan(chosen: list[Entry], sessions: int,
         session_minutes: int = SESSION_MINUTES) -> tuple[list[list[tuple[Entry, int, int]]],
                                                          list[Entry]]:
    """Pack notebooks, in order, into ``sessions`` sessions of ``session_minutes`` (a break
    included); return the sessions as (entry, start, end) minutes and the notebooks that
    did not fit (self-study)."""
    if not isinstance(sessions, int) or sessions < 1:
        raise ValueError(f"sessions must be a whole number ≥ 1, got {sessions!r}.")
    room = session_minutes - BREAK_MINUTES
    packed: list[list[tuple[Entry, int, int]]] = [[] for _ in range(sessions)]
    left_over, current, used = [], 0, 0
    for entry in chosen:
        slot = entry.slot_minutes
        if slot is None:
            left_over.append(entry)
            continue
        while current < sessions and used + slot > room and packed[current]:
            current, used = current + 1, 0
        if current >= sessions or slot > room:
            left_over.append(entry)
            continue
        packed[current].append((entry, used, used + slot))
        used += slot
    return packed, left_over


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _measured(entry: Entry) -> str:
    if entry.run_time_s is None:
        return "not measured yet"
    return f"{entry.run_time_s} s (up to {SLOW_MACHINE_FACTOR * entry.run_time_s} s)"


def _schedule_section(heading: str, chosen: list[Entry], sessions: int,
                      everything: list[Entry]) -> list[str]:
    packed, left_over = plan(chosen, sessions)
    lines = [f"### {heading} ({sessions} session{'s' if sessions > 1 else ''} of "
             f"{SESSION_MINUTES / 60:g} h, a {BREAK_MINUTES}-minute break in each)", ""]
    for number, session in enumerate(packed, start=1):
        if not session:
            continue
        total = session[-1][2]
        lines += [f"Session {number} ({total + BREAK_MINUTES} minutes with the break):", "",
                  "| Time | Notebook | Study | Run all (measured) | Planned |",
                  "|---|---|---|---|---|"]
        for entry, start, end in session:
            lines.append(f"| {_clock(start)}–{_clock(end)} | {entry.label} · {entry.title} | "
                         f"{entry.study_minutes} min | {_measured(entry)} | "
                         f"{end - start} min |")
        lines.append("")
    if left_over:
        names = ", ".join(f"{entry.label} · {entry.title}" for entry in left_over)
        lines += [f"Self-study before or after (does not fit, or has no study time yet): "
                  f"{names}.", ""]
    others = [entry for entry in everything if entry not in chosen]
    if others:
        names = ", ".join(f"{entry.label} · {entry.title}" for entry in others)
        lines += [f"Not in this schedule: {names}.", ""]
    return lines


def typical_mistakes(label: str) -> list[str]:
    """One line per exercise of notebook ``label``: its title and the typical mistakes its
    check recognises (from the exercise's ``Slip`` objects)."""
    from utils.exercises import REGISTRY

    number = str(int(label))
    ids = sorted((exercise_id for exercise_id in REGISTRY
                  if exercise_id.split(".")[0] == number),
                 key=lambda exercise_id: int(exercise_id.split(".")[1]))
    lines = []
    for exercise_id in ids:
        exercise = REGISTRY[exercise_id]
        slips = [slip for slip in exercise.wrong_answers if slip.compared] or list(
            exercise.wrong_answers)
        named = "; ".join(slip.description for slip in slips[:MISTAKES_PER_EXERCISE])
        more = len(exercise.wrong_answers) - min(len(slips), MISTAKES_PER_EXERCISE)
        extra = f" (and {more} more the check names)" if more > 0 else ""
        lines.append(f"- Exercise {exercise_id} · {exercise.title}: {named}{extra}.")
    return lines


def read_notes(path: Path = NOTES_PATH) -> dict:
    """The notes file as a dict (``schedules`` and ``notes``)."""
    with open(path, "rb") as handle:
        notes = tomllib.load(handle)
    for label, note in notes.get("notes", {}).items():
        questions = note.get("questions", [])
        if not isinstance(note.get("figure"), str) or len(questions) != 2:
            raise ValueError(f"{path.name}: notes.{label} needs a figure (text) and exactly "
                             f"two questions, got {note!r}")
    return notes


PREPARATION = """\
## Before the session

- **The pinned environment.** On each learner's laptop (or on the room's machines), the
  day before: `make lab` creates `.venv`, installs the exact versions of `constraints.txt`
  (CPU PyTorch on Linux) and opens JupyterLab on the welcome notebook. Once installed it
  works offline: nothing is downloaded at run time (the digits data set ships in `data/`).
  Ask everyone to run the welcome notebook (00) to the end: its environment check trains a
  small network and says whether the set-up works.
- **Binder warm-up.** For learners without a working install, each notebook's title cell
  has a Binder badge. The first launch after a push builds the image (minutes): open one
  badge yourself after the last push before the session. mybinder.org allows at most 100
  concurrent users per repository and 2 GB of memory each; for a larger group ask
  mybinder.org for a quota in advance. Binder sessions are not saved: learners download
  their notebooks before leaving.
- **Colab.** The Colab badge works as well: the first cell of each notebook clones the
  course and installs it without touching Colab's own packages.
- **Editions.** `make editions` writes `build/student/` (the solutions removed, to hand out
  when answers come later) and `build/instructor/` (every exercise filled with its reference
  solution and executed: what each check says to a correct answer).
- **The site.** `make site` writes the executed course as a static website to
  `build/site/` (open `build/site/index.html`; no server needed), with this guide in it:
  useful on a projector when a live kernel is not.
"""


def generate(notebooks: list[Path] | None = None, notes_path: Path = NOTES_PATH) -> str:
    """The text of the workshop guide."""
    notebooks = course_notebooks() if notebooks is None else notebooks
    found = entries(notebooks)
    notes = read_notes(notes_path)
    by_label = {entry.label: entry for entry in found}
    lines = [
        "# Workshop guide",
        "",
        "<!-- Generated by `make workshop` (python -m tools.workshop) from utils/course.py, "
        "the notebooks' title cells, the exercises' typical mistakes and "
        "docs/workshop_notes.toml. Edit those, not this file. -->",
        "",
        "Schedules and notes for teaching *Vanishing Gradients* live. The times are each "
        "notebook's study time (its title cell) plus its \"Run all\" time as `make bench` "
        f"measured it on a quiet 2-core laptop CPU, taken {SLOW_MACHINE_FACTOR} times for a "
        "slower one. Each notebook stands alone after its prerequisites (its title cell "
        "names them), so a schedule can skip notebooks.",
        "",
        PREPARATION,
        "## Schedules",
        "",
    ]
    schedules = notes.get("schedules", {})
    for key, heading, sessions in SCHEDULES:
        labels = schedules.get(key, []) if key else list(by_label)
        chosen = [by_label[label] for label in labels if label in by_label]
        lines += _schedule_section(heading, chosen, sessions, found)
    lines += ["## Per notebook", ""]
    for entry in found:
        note = notes.get("notes", {}).get(entry.label)
        study = (f"{entry.study_minutes} min" if entry.study_minutes is not None
                 else "not stated yet")
        lines += [f"### {entry.label} · {entry.title}", "",
                  f"Study time {study} · Run all: {entry.run_time}.", ""]
        if note is None:
            lines += ["*Notes for this notebook: to be written (add them to "
                      "`docs/workshop_notes.toml`).*", ""]
        else:
            lines += [f"**The figure to discuss.** {note['figure'].strip()}", ""]
        mistakes = typical_mistakes(entry.label)
        lines += ["**Typical mistakes its checks catch.**", ""]
        lines += mistakes or ["- (no exercises)"]
        lines.append("")
        if note is not None:
            lines += ["**Discussion questions.**", ""]
            lines += [f"{number}. {question}" for number, question in
                      enumerate(note["questions"], start=1)]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: write the guide, or with ``--check`` compare it with the file."""
    parser = argparse.ArgumentParser(prog="python -m tools.workshop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if docs/workshop.md is out of date")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = GUIDE_PATH.read_text() if GUIDE_PATH.exists() else ""
        if current != text:
            print(f"{GUIDE_PATH.relative_to(REPO_ROOT)} is out of date: run make workshop",
                  file=sys.stderr)
            return 1
        return 0
    GUIDE_PATH.parent.mkdir(parents=True, exist_ok=True)
    GUIDE_PATH.write_text(text)
    print(f"wrote {GUIDE_PATH.relative_to(REPO_ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
