"""The executed course as a static website: ``build/site/`` (``make site``).

Run from the repository root::

    python -m tools.site                    # from build/instructor/, executing what is stale
    python -m tools.site --editions DIR     # from the executed notebooks in DIR only

Pages are made with nbconvert's HTML exporter (the ``lab`` template), which builds offline;
Jupyter Book 2 cannot (it downloads its theme at build time) and Jupyter Book 1 is in
maintenance mode (see the shared tooling notes). The site has

* ``index.html``: the course map (every notebook of ``utils.course.CURRICULUM``; a notebook
  not written yet is listed without a link) and a link to the workshop guide;
* one page per notebook, from its executed instructor edition (``tools.editions``): every
  output, figure and claim's ✔ line. Each exercise shows the learner's skeleton, then the
  check as it answered the reference solution, then the solution, collapsed
  (``<details>``), as in the notebook;
* ``workshop.html``: ``docs/workshop.md``;
* ``checklist.html``: the gradient doctor's checklist (``utils.checklist``, as in
  ``docs/checklist.md``).

Links between notebooks (``03_x.ipynb``) point at their pages. MathJax (2.7, from the
``jupyter-server-mathjax`` package) is copied into ``mathjax/`` and the pages load it from
there, so the formulas render without a network too (a projector in a room without one).
A new notebook joins the site by existing.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat

from tools.editions import (
    BUILD_DIR,
    REPO_ROOT,
    build_editions,
    check_cells,
    course_notebooks,
)
from utils import checklist

SITE_DIR = BUILD_DIR / "site"
WORKSHOP_GUIDE = REPO_ROOT / "docs" / "workshop.md"
TEMPLATE = "lab"
SITE_TITLE = "Vanishing Gradients"
#: Where the pages find MathJax: the copy in the site itself (``copy_mathjax``).
MATHJAX_DIR = "mathjax"
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
#: The package ships MathJax's STIX-Web fonts only (not its default TeX fonts): use them.
MATHJAX_FONTS = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": '
                 '{availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", '
                 'webFont: "STIX-Web", imageFont: null}});</script>\n')
NOTEBOOK_LINK = re.compile(r'href="(?:\.\./notebooks/|\./)?(\d\d_[A-Za-z0-9_]+)\.ipynb(#[^"]*)?"')
EXERCISE_NOTE = ("*On this page the check below ran on the reference solution (shown, "
                 "collapsed, under it): this is what it says to a correct answer.*")


def _markdown_cell(source: str, **metadata: object) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source, metadata=dict(metadata))


def _navigation(names: list[str], index: int) -> str:
    """The line of links at the top of a notebook page."""
    links = ["[Course map](index.html)"]
    if index > 0:
        links.append(f"[← {names[index - 1][:2]}]({names[index - 1]}.html)")
    if index + 1 < len(names):
        links.append(f"[{names[index + 1][:2]} →]({names[index + 1]}.html)")
    links.append("[Workshop guide](workshop.html)")
    links.append("[Checklist](checklist.html)")
    return " · ".join(links)


def site_notebook(executed: nbformat.NotebookNode, navigation: str) -> nbformat.NotebookNode:
    """The page's notebook: the executed instructor edition with each exercise's skeleton
    shown as the learner gets it, a note before its check, and the navigation on top."""
    page = copy.deepcopy(executed)
    notes = []
    for exercise_id, check_index in check_cells(page).items():
        skeleton = page.cells[check_index - 1]
        course = skeleton.metadata.get("course", {})
        if course.get("exercise") == exercise_id and "skeleton" in course:
            skeleton.source = course["skeleton"]
            notes.append(check_index)
    for check_index in sorted(notes, reverse=True):
        page.cells.insert(check_index, _markdown_cell(EXERCISE_NOTE))
    page.cells.insert(0, _markdown_cell(navigation))
    return page


def to_html(nb: nbformat.NotebookNode, title: str) -> str:
    """The notebook as one standalone HTML page (images embedded)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name=TEMPLATE, mathjax_url=MATHJAX_URL)
    nb = copy.deepcopy(nb)
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    mathjax_script = f'<script src="{MATHJAX_URL}">'
    body = body.replace(mathjax_script, MATHJAX_FONTS + mathjax_script, 1)
    body = body.replace('href="../docs/checklist.md"', 'href="checklist.html"')
    return NOTEBOOK_LINK.sub(lambda match: f'href="{match.group(1)}.html'
                             f'{match.group(2) or ""}"', body)


def copy_mathjax(site_dir: Path) -> Path:
    """Copy MathJax's files into ``site_dir/mathjax`` (12 MB) and return that folder."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    return Path(shutil.copytree(source, Path(site_dir) / MATHJAX_DIR))


def course_map(pages: list[str]) -> str:
    """The index page's Markdown: the course map with links to the pages that exist."""
    from utils.course import CURRICULUM

    lines = [f"# {SITE_TITLE}", "",
             "An open Jupyter course on why deep networks stop learning and how each fix "
             "works. Every page is a notebook of the course, executed: its figures, every "
             "claim's ✔ line (each quantitative statement measured and checked), and each "
             "exercise's check as it answers the reference solution, which is shown "
             "collapsed.", "",
             "[The workshop guide](workshop.html): schedules, preparation, and per notebook a "
             "figure to discuss, typical mistakes and discussion questions.", "",
             "[The gradient doctor's checklist](checklist.html): what to measure when a deep "
             "network does not learn, in what order, and which fix.", "",
             "## The course map", "",
             "| # | Notebook | Paper reproduced | Run time |", "|---|---|---|---|"]
    for lesson in CURRICULUM:
        name = (f"[{lesson.title}]({lesson.stem}.html)" if lesson.stem in pages
                else f"{lesson.title} (not written yet)")
        lines.append(f"| {lesson.label} | {name} | {lesson.paper} | {lesson.run_time} |")
    extra = [stem for stem in pages if stem not in {lesson.stem for lesson in CURRICULUM}]
    for stem in extra:
        lines.append(f"| {stem[:2]} | [{stem}]({stem}.html) | | |")
    return "\n".join(lines) + "\n"


def stale_editions(sources: list[Path], editions: Path) -> list[Path]:
    """The sources whose executed instructor edition is missing or older than the source."""
    stale = []
    for source in sources:
        target = editions / source.name
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            stale.append(source)
    return stale


def build_site(editions: Path, site_dir: Path = SITE_DIR,
               workshop_guide: Path = WORKSHOP_GUIDE) -> list[Path]:
    """Write the site from the executed notebooks in ``editions``; return the pages written.

    Raises ``ValueError`` when ``editions`` holds no executed notebook, or when
    ``site_dir`` is a non-empty folder that holds no earlier site (it is replaced).
    """
    executed = sorted(Path(editions).glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise ValueError(f"no executed notebooks in {editions}: run `make editions` first "
                         "(or python -m tools.site without --editions)")
    site_dir = Path(site_dir)
    if site_dir.exists() and any(site_dir.iterdir()):
        if not (site_dir / "index.html").exists():
            raise ValueError(f"{site_dir} is not empty and holds no site (no index.html): "
                             "refusing to replace it; give an empty or new folder")
        shutil.rmtree(site_dir)
    site_dir.mkdir(parents=True)
    copy_mathjax(site_dir)
    names = [path.stem for path in executed]
    written = []
    for index, path in enumerate(executed):
        nb = nbformat.read(path, as_version=4)
        first_line = nb.cells[0].source.splitlines()[0] if nb.cells else path.stem
        title = f"{first_line.lstrip('# ').strip()} · {SITE_TITLE}"
        page = site_notebook(nb, _navigation(names, index))
        target = site_dir / f"{path.stem}.html"
        target.write_text(to_html(page, title), encoding="utf-8")
        written.append(target)
    index_nb = nbformat.v4.new_notebook(cells=[_markdown_cell(course_map(names))])
    (site_dir / "index.html").write_text(to_html(index_nb, SITE_TITLE), encoding="utf-8")
    guide = workshop_guide.read_text() if workshop_guide.exists() else (
        "# Workshop guide\n\nNot generated yet: run `make workshop`.\n")
    guide_nb = nbformat.v4.new_notebook(cells=[
        _markdown_cell("[Course map](index.html)"), _markdown_cell(guide)])
    (site_dir / "workshop.html").write_text(
        to_html(guide_nb, f"Workshop guide · {SITE_TITLE}"), encoding="utf-8")
    checklist_nb = nbformat.v4.new_notebook(cells=[
        _markdown_cell("[Course map](index.html)"), _markdown_cell(checklist.markdown())])
    (site_dir / "checklist.html").write_text(
        to_html(checklist_nb, f"The gradient doctor's checklist · {SITE_TITLE}"),
        encoding="utf-8")
    return [site_dir / "index.html", *written, site_dir / "workshop.html",
            site_dir / "checklist.html"]


def site_size(site_dir: Path = SITE_DIR) -> int:
    """Bytes of every file under ``site_dir``."""
    return sum(path.stat().st_size for path in Path(site_dir).rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    """Command line: build the site (executing stale instructor notebooks first)."""
    parser = argparse.ArgumentParser(prog="python -m tools.site", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--editions", type=Path, default=None,
                        help="executed notebooks to use as they are (default: "
                             "build/instructor/, brought up to date first)")
    parser.add_argument("--out", type=Path, default=SITE_DIR, help="default: build/site/")
    parser.add_argument("--jobs", type=int, default=2, help="kernels at once (default 2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    editions = args.editions
    if editions is None:
        editions = BUILD_DIR / "instructor"
        sources = course_notebooks()
        stale = stale_editions(sources, editions)
        if stale:
            print(f"executing the instructor edition of {len(stale)} notebook(s)")
            try:
                build_editions(stale, BUILD_DIR, args.jobs)
            except (RuntimeError, ValueError) as error:
                print(error, file=sys.stderr)
                return 1
        # only the notebooks that exist now (a renamed or removed one leaves the site)
        current = {path.name for path in sources}
        for old in editions.glob("*.ipynb"):
            if old.name not in current:
                old.unlink()
    try:
        pages = build_site(editions, args.out)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args.out}: {len(pages)} pages, {site_size(args.out) / 1e6:.1f} MB, "
          f"{time.perf_counter() - started:.0f} s; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
