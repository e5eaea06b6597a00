"""The book builds from a clean output folder with every warning an error, serves its own
MathJax, its chapters as notebooks and its exercises, and works in a browser, offline.

The browser tests load every page of the built site in headless Chromium (``tests/browser.py``)
once, at 1280 px and at 420 px wide, and check what a reader would meet: errors, images, links,
formulas, layout, search and downloads.

To check a build you already have: ``CNNCOURSE_BOOK_HTML=_build/html pytest -m slow
tests/test_book.py``.
"""

import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import nbformat
import pytest
import yaml
from tools import BIN, env_with_tools

REPO = Path(__file__).resolve().parents[1]
MATHJAX = REPO / "_vendor" / "mathjax" / "tex-chtml.js"
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
COURSE_CHAPTERS = CONFIG["sphinx"]["config"]["course_chapters"]
HASH_NAME = re.compile(r"[0-9a-f]{32,}")


def toc_files():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    """The whole book, built once per session (or the build named by $CNNCOURSE_BOOK_HTML,
    an existing ``_build/html`` folder, to check a build without rebuilding it)."""
    if os.environ.get("CNNCOURSE_BOOK_HTML"):
        return Path(os.environ["CNNCOURSE_BOOK_HTML"])
    assert MATHJAX.is_file(), "MathJax is missing: run `make assets` (make test does it)"
    out = tmp_path_factory.mktemp("book")
    done = subprocess.run(
        [str(BIN / "jupyter-book"), "build", str(REPO), "--all", "-W", "--path-output", str(out)],
        capture_output=True, text=True, env=env_with_tools(), timeout=1200)
    assert done.returncode == 0, f"jupyter-book build failed:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return out / "_build" / "html"


@pytest.mark.slow
def test_every_toc_entry_is_a_page(book):
    for entry in toc_files():
        assert (book / f"{entry}.html").is_file(), f"{entry} was not built"
    assert (book / "index.html").is_file()


@pytest.mark.slow
def test_chapters_are_executed_with_figures_and_no_errors(book):
    page = (book / "book" / "01-convolution.html").read_text()
    assert len(re.findall(r'<img[^>]+src="\.\./_images/[^"]+\.png"', page)) >= 5
    assert "convolve2d agrees: True" in page
    assert "agrees with torch: True" in page
    assert "def convolve2d(image, kernel" in page  # the package code, shown from its source
    assert "Traceback" not in page and "output error" not in page


@pytest.mark.slow
def test_mathjax_is_served_locally(book):
    assert (book / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (book / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    for page in book.rglob("*.html"):
        text = page.read_text()
        assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, f"{page} uses a CDN"
    chapter = (book / "book" / "01-convolution.html").read_text()
    assert '<script defer="defer" src="../_static/mathjax/tex-chtml.js' in chapter
    assert r"\begin{bmatrix}" in chapter


def chapter_pages(book):
    """The chapters of the built book that exist (the course pages have no code cells)."""
    return [name for name in COURSE_CHAPTERS if (book / f"{name}.html").is_file()]


@pytest.mark.slow
def test_nbgrader_folders_are_not_in_the_book(book):
    for folder in ("solutions", "tests", "node_modules", "submitted", "autograded", "feedback"):
        assert not (book / folder).exists(), f"{folder}/ leaked into the book"
    for notebook in book.rglob("*.ipynb"):
        text = notebook.read_text()
        for marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
            assert marker not in text, f"{notebook} holds {marker}"


@pytest.mark.slow
def test_every_chapter_offers_its_notebook_and_source(book):
    for name in chapter_pages(book):
        page = (book / f"{name}.html").read_text()
        for suffix in (".ipynb", ".md"):
            assert f'href="../_sources/{name}{suffix}"' in page, f"{name} offers no {suffix}"
            assert (book / "_sources" / f"{name}{suffix}").is_file()
        notebook = nbformat.read(book / "_sources" / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3"
        assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
            f"{name}.ipynb has no outputs: it is not the executed notebook"


@pytest.mark.slow
def test_every_exercise_is_served_and_linked_from_its_chapter(book):
    for name in chapter_pages(book):
        exercise = COURSE_CHAPTERS[name].get("exercise")
        if not exercise:
            continue
        served = book / exercise
        assert served.is_file(), f"{exercise} is not served with the book"
        assert served.read_bytes() == (REPO / exercise).read_bytes(), f"{exercise} is stale"
        page = (book / f"{name}.html").read_text()
        exercise_section = page[page.index('id="exercise"'):]
        assert f'href="../{exercise}"' in exercise_section, f"{name} does not link {exercise}"


@pytest.mark.slow
def test_figures_have_alt_text(book):
    for page in book.rglob("*.html"):
        for tag in re.findall(r"<img [^>]*>", page.read_text()):
            alt = re.search(r'alt="([^"]*)"', tag)
            assert alt and len(alt.group(1).strip()) > 8, f"{page.name}: no alt text in {tag}"
            assert not HASH_NAME.search(alt.group(1)), f"{page.name}: file hash as alt: {tag}"


# --- In a browser -------------------------------------------------------------------------------

PAGE_REPORT = """(() => {
  const root = document.documentElement;
  return {
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, alt: i.getAttribute("alt"),
                                             loaded: i.complete && i.naturalWidth > 0})),
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    math: document.querySelectorAll("mjx-container").length,
    mathErrors: [...document.querySelectorAll("mjx-merror")].map(e => e.textContent),
    pageOverflow: root.scrollWidth - root.clientWidth,
    wideOutputs: [...document.querySelectorAll("div.cell_output pre, div.output pre")]
      .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 100)),
  };
})()"""


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does it)")
    from browser import Browser
    chromium = Browser(tmp_path_factory.mktemp("chromium"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def site(book):
    from browser import Site
    served = Site(book)
    yield served
    served.close()


@pytest.fixture(scope="session")
def visited(book, site, browser):
    """Every HTML page of the site, loaded once at 1280 px and measured again at 420 px."""
    report = {}
    pages = sorted(page.relative_to(book).as_posix() for page in book.rglob("*.html")
                   if not page.relative_to(book).as_posix().startswith("_"))  # theme templates
    for page in pages:
        url = site.url(page)
        browser.set_width(1280)
        browser.open(url)
        wide = browser.evaluate(PAGE_REPORT)
        problems, requests = browser.problems(), browser.requests()
        browser.set_width(420)
        time.sleep(0.2)
        narrow = browser.evaluate(PAGE_REPORT)
        report[page] = {"wide": wide, "narrow": narrow, "problems": problems,
                        "requests": requests}
    return report


@pytest.mark.slow
def test_every_page_loads_without_errors_offline(visited, site):
    assert "book/intro.html" in visited and "search.html" in visited
    for page, report in visited.items():
        assert report["problems"] == [], f"{page}: {report['problems']}"
        outside = [url for url in report["requests"]
                   if urlsplit(url).scheme in ("http", "https", "ws", "wss")
                   and not url.startswith(site.base)]
        assert outside == [], f"{page} requested outside the site: {outside}"


@pytest.mark.slow
def test_formulas_are_typeset_without_mathjax_errors(visited):
    for page, report in visited.items():
        assert report["wide"]["mathErrors"] == [], f"{page}: {report['wide']['mathErrors']}"
    assert visited["book/01-convolution.html"]["wide"]["math"] >= 20


@pytest.mark.slow
def test_every_image_loads_with_alt_text(visited):
    count = 0
    for page, report in visited.items():
        for image in report["wide"]["images"]:
            count += 1
            assert image["loaded"], f"{page}: {image['src']} did not load"
            assert image["alt"] and not HASH_NAME.search(image["alt"]), f"{page}: {image}"
    assert count >= 5


@pytest.mark.slow
def test_every_internal_link_resolves(visited, site):
    checked = {}
    for page, report in visited.items():
        for link in report["wide"]["links"]:
            if not link.startswith(site.base):
                continue
            address, fragment = urldefrag(link)
            target = site.path(address)
            assert target.is_file(), f"{page} links to a missing {link}"
            if fragment and target.suffix == ".html":
                if target not in checked:
                    checked[target] = target.read_text()
                assert f'id="{fragment}"' in checked[target], f"{page}: no #{fragment} in {link}"


@pytest.mark.slow
def test_no_horizontal_scroll_for_outputs(visited):
    for page, report in visited.items():
        assert report["wide"]["wideOutputs"] == [], f"{page} at 1280 px: {report['wide']['wideOutputs']}"
        assert report["wide"]["pageOverflow"] <= 1, f"{page} scrolls sideways at 1280 px"
        assert report["narrow"]["pageOverflow"] <= 1, f"{page} scrolls sideways at 420 px"


@pytest.mark.slow
def test_search_finds_a_chapter_by_a_term(site, browser):
    browser.set_width(1280)
    browser.open(site.url("search.html?q=padding"))
    found = []
    for _ in range(100):
        found = browser.evaluate('[...document.querySelectorAll("#search-results a, ul.search a")]'
                                 ".map(a => a.href)")
        if any("book/01-convolution.html" in href for href in found):
            break
        time.sleep(0.2)
    assert any("book/01-convolution.html" in href for href in found), f"search found {found}"
    assert browser.problems() == []


@pytest.mark.slow
def test_download_links_return_files(visited, site):
    downloads = sorted({link for report in visited.values() for link in report["wide"]["links"]
                        if link.startswith(site.base)
                        and urlsplit(link).path.endswith((".ipynb", ".md"))})
    assert any(link.endswith("01-convolution.ipynb") for link in downloads), downloads
    assert any("exercises/" in link for link in downloads), downloads
    for link in downloads:
        with urllib.request.urlopen(link, timeout=30) as response:
            assert response.status == 200, link
            body = response.read()
        assert body, f"{link} is empty"
        if link.endswith(".ipynb"):
            nbformat.validate(nbformat.reads(body.decode(), as_version=4))
            assert "### BEGIN SOLUTION" not in body.decode(), f"{link} holds a solution"
        else:
            assert body.decode().startswith("---") or body.decode().startswith("#"), link
