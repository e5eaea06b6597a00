"""The course site's own code and settings, without building the book (fast).

``_ext/course_site.py`` (the Sphinx extension) and ``_ext/kernel/figure_alt.py`` (the kernel
start-up file that writes figure titles into PNGs) are checked directly; the settings are checked
against each other: the table of contents, ``course_chapters`` in ``_config.yml``, the README's
chapter table, the released exercises and the bibliography.
"""

import importlib.util
import io
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
TOC = yaml.safe_load((REPO / "_toc.yml").read_text())
COURSE_CHAPTERS = CONFIG["sphinx"]["config"]["course_chapters"]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site():
    return load(REPO / "_ext" / "course_site.py", "course_site")


@pytest.fixture
def figure_alt(monkeypatch):
    import IPython.core.pylabtools as pylabtools
    monkeypatch.setattr(pylabtools, "print_figure", pylabtools.print_figure)  # restored after
    return load(REPO / "_ext" / "kernel" / "figure_alt.py", "figure_alt")


def toc_parts():
    return {part["caption"]: [chapter["file"] for chapter in part["chapters"]]
            for part in TOC["parts"]}


# --- The extension ------------------------------------------------------------------------------

def test_figure_titles_and_labels_travel_in_the_png(figure_alt):
    fig, axes = plt.subplots(1, 2)
    fig.suptitle("Two kernels")
    axes[0].set_title("blur")
    axes[1].set_title("edges")
    axes[1].set_xlabel("column j")
    axes[1].set_ylabel("row i")
    png = figure_alt.print_figure(fig, "png")
    plt.close(fig)
    text = Image.open(io.BytesIO(png)).text
    assert text["Title"] == "Two kernels; blur; edges"
    assert text["Description"] == "axes: column j; row i"


def test_the_inline_backend_uses_the_figure_words(figure_alt):
    """IPython's figure formatter looks print_figure up in its module: the patched one."""
    import IPython.core.pylabtools as pylabtools
    assert pylabtools.print_figure is figure_alt.print_figure
    fig, ax = plt.subplots()
    png = pylabtools.print_figure(fig, "png")  # no title: no metadata, and no error
    plt.close(fig)
    assert "Title" not in Image.open(io.BytesIO(png)).text


def test_png_words_reads_what_the_kernel_wrote(site, figure_alt, tmp_path):
    fig, ax = plt.subplots()
    ax.set_title("loss per epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    path = tmp_path / "figure.png"
    path.write_bytes(figure_alt.print_figure(fig, "png"))
    plt.close(fig)
    assert site.png_words(path) == "loss per epoch. axes: epoch; loss"
    assert site.png_words(tmp_path / "missing.png") == ""


def test_code_words_finds_literal_titles(site):
    code = ('ax.set_title("valid convolution")\nplt.suptitle(\'Edges\')\n'
            'show_images([a, b], titles=["original", "blurred"])\nax.set_xlabel(f"{n} px")')
    assert site.code_words(code) == "valid convolution; Edges; original; blurred"
    assert site.code_words("x = 1") == ""


def test_relative_uri_goes_from_the_page_to_the_file(site):
    assert site.relative_uri("book/01-convolution", "exercises/01-convolution/convolution.ipynb") \
        == "../exercises/01-convolution/convolution.ipynb"
    assert site.relative_uri("index", "exercises/a/b.ipynb") == "exercises/a/b.ipynb"


def test_identical_inline_scripts_are_kept_once(site, tmp_path):
    """sphinx-thebe's configuration twice is a SyntaxError in the browser: the second goes."""
    page = tmp_path / "book" / "page.html"
    page.parent.mkdir()
    config = '    <script>const THEBE_JS_URL = "x";</script>\n'
    page.write_text(f"<head>\n{config}    <script src='a.js'></script>\n{config}"
                    "    <script>var other = 1;</script>\n</head>\n")

    class App:
        outdir = str(tmp_path)

        class builder:
            format = "html"

    site.drop_duplicate_scripts(App, None)
    text = page.read_text()
    assert text.count("THEBE_JS_URL") == 1 and "a.js" in text and "var other" in text


# --- The settings agree with each other ---------------------------------------------------------

def test_the_toc_has_the_four_parts_and_the_course_pages():
    parts = toc_parts()
    assert list(parts) == ["Convolution and the layers of a CNN", "Training CNNs",
                           "Architectures", "CNN use cases", "Course"]
    chapters = [name for caption, names in parts.items() if caption != "Course" for name in names]
    assert chapters == list(COURSE_CHAPTERS), "_toc.yml and course_chapters list other chapters"
    assert [name.split("/")[1][:2] for name in chapters] == [f"{n:02d}" for n in range(1, 19)]
    for page in parts["Course"] + [TOC["root"]]:
        assert (REPO / f"{page}.md").is_file(), f"{page}.md is missing"


def test_every_exercise_is_a_released_notebook():
    for name, settings in COURSE_CHAPTERS.items():
        assert {"slides", "modules"} <= set(settings), f"{name} lacks slides or modules"
        exercise = settings.get("exercise")
        if exercise is None:
            continue
        assert exercise.startswith("exercises/") and exercise.endswith(".ipynb"), exercise
        assignment = exercise.split("/")[1]
        if (REPO / f"{name}.md").is_file() and (REPO / "solutions" / assignment).is_dir():
            assert (REPO / exercise).is_file(), f"{name}: {exercise} is not released"


def test_the_modules_named_in_the_syllabus_exist():
    for name, settings in COURSE_CHAPTERS.items():
        for module in settings["modules"]:
            path = REPO / Path(*module.split("."))
            if (REPO / f"{name}.md").is_file():
                assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), \
                    f"{name}: no module {module}"


def test_the_readme_table_lists_the_chapters_and_their_exercises():
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| *(\d\d) *\|([^|]*)\|([^|]*)\|([^|]*)\|", readme, flags=re.MULTILINE)
    assert [number for number, *_ in rows] == [f"{n:02d}" for n in range(1, 19)]
    for (number, _, _, exercise), (name, settings) in zip(rows, COURSE_CHAPTERS.items()):
        assert name.split("/")[1].startswith(number)
        expected = settings.get("exercise")
        assert (expected.split("/")[1] if expected else "—") in exercise, \
            f"README row {number}: {exercise.strip()!r}, course_chapters: {expected!r}"


def test_every_citation_has_an_entry():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (REPO / "references.bib").read_text(),
                          flags=re.MULTILINE))
    assert len(keys) >= 22
    for page in (REPO / "book").glob("*.md"):
        for role in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text()):
            for key in role.split(","):
                assert key.strip() in keys, f"{page.name} cites {key!r}, not in references.bib"


def test_the_glossary_defines_the_course_terms():
    glossary = (REPO / "book" / "glossary.md").read_text()
    terms = set(re.findall(r"^(\S[^\n]*)\n  \S", glossary.split("```{glossary}")[1],
                           flags=re.MULTILINE))
    for term in ("Receptive field", "Stride", "Padding", "Dilation", "Feature map", "Channel",
                 "Kernel", "im2col", "Pooling", "IoU", "mAP", "NMS", "PCK", "Gram matrix",
                 "Mode", "Boundary"):
        assert term in terms, f"the glossary lacks {term!r}"

