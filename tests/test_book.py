"""The book builds from a clean output folder with every warning an error, and serves its own
MathJax."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tools import BIN, env_with_tools

REPO = Path(__file__).resolve().parents[1]
MATHJAX = REPO / "_vendor" / "mathjax" / "tex-chtml.js"


def toc_files():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


@pytest.fixture(scope="session")
def book(tmp_path_factory):
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


@pytest.mark.slow
def test_nbgrader_folders_are_not_in_the_book(book):
    for folder in ("solutions", "exercises", "tests", "node_modules"):
        assert not (book / folder).exists(), f"{folder}/ leaked into the book"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Chromium is not installed (apt-get install chromium; .ci/run does it)")
def test_formulas_render_in_a_browser(book, tmp_path):
    """Headless Chromium loads the chapter from disk, offline, and MathJax typesets it."""
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000",
         "--dump-dom", (book / "book" / "01-convolution.html").as_uri()],
        capture_output=True, text=True, timeout=180)
    dom = done.stdout
    assert "<mjx-container" in dom, f"MathJax did not typeset the page:\n{done.stderr[-3000:]}"
    assert dom.count("<mjx-container") >= 20
    assert "<mjx-merror" not in dom, "MathJax reported a TeX error"
