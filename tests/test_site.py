"""The static site (tools/site.py, `make site`): built offline from the executed instructor
edition of this test session, without executing anything again."""

import re

import nbformat
import pytest

from tools import site as site_tool
from tools.editions import course_notebooks
from utils.course import CURRICULUM

from course_build import editions, no_network, site
from notebook_parts import exercise_headings, solutions


def test_site_has_every_notebook_the_course_map_and_the_guide():
    folder, seconds = site()
    sources = course_notebooks()
    pages = sorted(path.name for path in folder.glob("*.html"))
    assert pages == sorted([f"{path.stem}.html" for path in sources]
                           + ["index.html", "workshop.html", "checklist.html"])
    size = site_tool.site_size(folder)
    print(f"\nsite: {len(pages)} pages, {size / 1e6:.1f} MB, built in {seconds:.1f} s")
    index = (folder / "index.html").read_text()
    for lesson in CURRICULUM:
        assert lesson.title.replace("&", "&amp;") in index
        linked = f'href="{lesson.stem}.html"' in index
        assert linked == any(path.stem == lesson.stem for path in sources), lesson.stem
    assert 'href="workshop.html"' in index
    assert "Schedules" in (folder / "workshop.html").read_text()
    assert 'href="checklist.html"' in index
    checklist_page = (folder / "checklist.html").read_text()
    assert "checklist" in checklist_page and 'href="03_vanishing_gradients.html"' in checklist_page


def test_each_page_shows_figures_claims_and_collapsed_solutions():
    folder, _ = site()
    root, _, _ = editions()
    for path in course_notebooks():
        page = (folder / f"{path.stem}.html").read_text()
        executed = nbformat.read(root / "instructor" / path.name, as_version=4)
        figures = sum("image/png" in output.get("data", {}) for cell in executed.cells
                      for output in cell.get("outputs", []))
        assert page.count('src="data:image/png;base64,') >= figures, path.name
        if "claim(" in "".join(cell.source for cell in executed.cells):
            assert re.search(r"✔ [^<]+ = ", page), f"{path.name}: no claim's ✔ line"
        for exercise_id in exercise_headings(executed):
            assert f"Exercise {exercise_id}" in page
            assert f"✔ Exercise {exercise_id} " in page, f"{exercise_id}: no correct check"
        assert page.count("<details>") >= len(solutions(executed)), path.name
        assert page.count("<summary>") == page.count("<details>")
        if exercise_headings(executed):
            assert "NotImplementedError" in page or "= ..." in page, (
                f"{path.name}: the page should show the learner's skeleton")
        assert not re.search(r'href="(\.\./notebooks/)?\d\d_\w+\.ipynb"', page), (
            f"{path.name}: a link to a notebook file instead of its page")
        assert 'href="index.html"' in page


def test_site_needs_executed_notebooks(tmp_path):
    with pytest.raises(ValueError, match="no executed notebooks in .*: run `make editions`"):
        site_tool.build_site(tmp_path, tmp_path / "site")


def test_site_does_not_replace_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "in").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "in" / "42_a_page.ipynb")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty and holds no site"):
        site_tool.build_site(tmp_path / "in", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_page_of_a_tiny_notebook_builds_offline(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 42 · A page\n\nSee [03](03_vanishing_gradients.ipynb)."),
        nbformat.v4.new_code_cell("print('✔ x = 1 < 2')")])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                  text="✔ x = 1 < 2\n")]
    (tmp_path / "in").mkdir()
    nbformat.write(nb, tmp_path / "in" / "42_a_page.ipynb")
    with no_network():
        pages = site_tool.build_site(tmp_path / "in", tmp_path / "site",
                                     tmp_path / "no_guide.md")
    html = (tmp_path / "site" / "42_a_page.html").read_text()
    assert 'href="03_vanishing_gradients.html"' in html and "✔ x = 1 &lt; 2" in html
    assert "run <code>make workshop</code>" in (tmp_path / "site" / "workshop.html").read_text()
    # MathJax comes with the site: the page loads it from there, not from a CDN.
    assert f'src="{site_tool.MATHJAX_URL}"' in html and "libs/mathjax" not in html
    assert (tmp_path / "site" / "mathjax" / "MathJax.js").is_file()
    assert html.index(site_tool.MATHJAX_FONTS) < html.index(f'src="{site_tool.MATHJAX_URL}"')
    config = site_tool.MATHJAX_URL.split("config=")[1].split(",")[0]
    assert (tmp_path / "site" / "mathjax" / "config" / f"{config}.js").is_file()
    assert len(pages) == 4
