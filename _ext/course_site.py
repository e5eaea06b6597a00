"""The course site around the chapters: downloads, exercise links, alt text, syllabus, layout.

A small Sphinx extension that Jupyter Book loads through ``sphinx.local_extensions`` in
``_config.yml``. Everything it knows about the course comes from one setting in that file,
``course_chapters``: for each chapter (its document name) the slide section it teaches, the
package modules it uses and the released exercise notebook that goes with it. From it the
extension

- lists the syllabus table (the ``{course-syllabus}`` directive on the landing page);
- adds a link to the chapter's exercise notebook at the end of its ``## Exercise`` section and
  serves that notebook (the released student copy from ``exercises/``, never ``solutions/``)
  at the same path in the built site;
- offers every chapter as an executed ``.ipynb`` in the page's download menu, next to the
  ``.md`` source (Jupyter Book offers ``.ipynb`` only when the source itself is one);
- gives every figure an alt text made of its own titles and axis labels, which the chapters'
  kernels write into each PNG file while the book executes (``_ext/kernel/figure_alt.py``),
  falling back on the titles written in the cell's code, then on the chapter's name;
- adds ``course.css`` (long output lines wrap, wide tables scroll inside themselves).
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STARTUP = HERE / "kernel" / "figure_alt.py"

# Where the exercise notebooks are served in the site (mirrors the repository's folder).
EXERCISE_FOLDER = "exercises"
TITLE_CALL = re.compile(r"(?:set_title|suptitle|title|set_xlabel|set_ylabel|xlabel|ylabel)\(\s*"
                        r"(?P<q>['\"])(?P<text>[^'\"\n]{2,120})(?P=q)")
TITLES_KEYWORD = re.compile(r"titles?\s*=\s*(?P<list>\[[^\]\n]*\]|\([^)\n]*\)|['\"][^'\"\n]+['\"])")


def chapter_settings(app) -> dict:
    return app.config.course_chapters or {}


def exercise_path(app, docname: str) -> str | None:
    """The exercise notebook of a chapter, relative to the repository root, or None."""
    return (chapter_settings(app).get(docname) or {}).get("exercise")


def relative_uri(from_docname: str, target: str) -> str:
    """A link from the HTML page of ``from_docname`` to ``target`` (a path in the site)."""
    return posixpath.relpath(target, posixpath.dirname(from_docname) or ".")


# --- Kernel-side: figures carry their titles -------------------------------------------------

def install_figure_words(app, config):
    """Execute the chapters with an IPython startup file that stores figure titles in PNGs.

    The kernels inherit this process's environment; the IPython folder lives in the build
    folder so that nothing is written into the repository.
    """
    ipython_dir = Path(app.outdir).parent / ".ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copy2(STARTUP, startup / "50-figure-alt.py")
    os.environ["IPYTHONDIR"] = str(ipython_dir)


# --- Alt text ---------------------------------------------------------------------------------

def png_words(path: Path) -> str:
    """The Title and Description a PNG file carries, as one sentence ('' when none)."""
    try:
        from PIL import Image
        with Image.open(path) as image:
            text = dict(getattr(image, "text", {}) or {})
    except Exception:  # an unreadable image keeps the fallback alt text
        return ""
    parts = [text.get("Title", "").strip(), text.get("Description", "").strip()]
    return ". ".join(part for part in parts if part)


def literal_strings(expression: str) -> list[str]:
    try:
        value = ast.literal_eval(expression)
    except Exception:
        return []
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)]


def code_words(code: str) -> str:
    """Titles and labels written as string literals in a cell's code."""
    words = [match["text"] for match in TITLE_CALL.finditer(code)]
    for match in TITLES_KEYWORD.finditer(code):
        words += literal_strings(match["list"])
    unique = list(dict.fromkeys(word.strip() for word in words if word.strip()))
    return "; ".join(unique)


def cell_code(image: nodes.image) -> str:
    node = image.parent
    while node is not None and "cell" not in node.get("classes", []):
        node = node.parent
    if node is None:
        return ""
    blocks = [block.astext() for block in node.findall(nodes.literal_block)
              if "cell_output" not in block.parent.get("classes", [])]
    return blocks[0] if blocks else ""


def add_alt_text(app, doctree, docname):
    title = app.env.titles.get(docname)
    chapter = title.astext() if title is not None else docname
    number = 0
    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        number += 1
        uri = image.get("uri", "")
        path = Path(uri) if os.path.isabs(uri) else Path(app.srcdir) / uri
        words = png_words(path) if path.suffix.lower() == ".png" else ""
        if not words:
            words = code_words(cell_code(image))
        image["alt"] = (f"Figure: {words}" if words
                        else f"Figure {number} of the chapter '{chapter}', drawn by the code above")


# --- Exercise links ---------------------------------------------------------------------------

def exercise_section(doctree) -> nodes.section | None:
    for section in doctree.findall(nodes.section):
        if section.children and isinstance(section[0], nodes.title) \
                and section[0].astext().strip().lower() == "exercise":
            return section
    return None


def add_exercise_link(app, doctree, docname):
    exercise = exercise_path(app, docname)
    if not exercise:
        return
    if not (Path(app.srcdir) / exercise).is_file():
        logger.warning(f"course_chapters: the exercise of {docname}, {exercise}, does not "
                       "exist (run `make release`)", location=docname)
        return
    section = exercise_section(doctree)
    if section is None:
        logger.warning(f"{docname} has an exercise ({exercise}) but no '## Exercise' section",
                       location=docname)
        return
    link = nodes.reference("", "", nodes.literal(text=posixpath.basename(exercise)),
                           refuri=relative_uri(docname, exercise), internal=False,
                           classes=["course-exercise-link"])
    paragraph = nodes.paragraph("", "")
    paragraph += nodes.Text("Download the exercise notebook: ")
    paragraph += link
    paragraph += nodes.Text(" (the student version; open it in Jupyter with the course's "
                            "environment, see the course page).")
    section += paragraph


def check_exercises(app, config):
    for docname, settings in chapter_settings(app).items():
        exercise = (settings or {}).get("exercise")
        if exercise and not exercise.startswith(EXERCISE_FOLDER + "/"):
            logger.warning(f"course_chapters: {exercise} is not a released exercise "
                           f"(it must be under {EXERCISE_FOLDER}/)")


def copy_exercises(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    root = Path(app.srcdir)
    for docname, settings in chapter_settings(app).items():
        exercise = (settings or {}).get("exercise")
        if docname not in app.env.all_docs or not exercise or not (root / exercise).is_file():
            continue
        target = Path(app.outdir) / exercise
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / exercise, target)


# --- The chapter as a notebook ----------------------------------------------------------------

def has_outputs(notebook) -> bool:
    return any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def executed_notebook(app, pagename):
    """The chapter as a notebook with its outputs, or None for a page that is not a notebook.

    MyST-NB writes each notebook it reads to ``<build>/jupyter_execute``, with outputs when it
    has just executed it; when the outputs came from jupyter-cache, it writes the notebook
    without them, so they are merged back from the cache here.
    """
    import nbformat
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return None
    notebook = nbformat.read(executed, as_version=4)
    if has_outputs(notebook):
        return notebook
    from jupyter_cache import get_cache
    cache_path = app.env.mystnb_config.execution_cache_path  # as MyST-NB resolved it
    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(notebook)
    except KeyError:  # not in the cache (execution off or failed): the notebook as it is
        return notebook
    return merged


def offer_notebook(app, pagename, templatename, context, doctree):
    """Put the executed notebook of a Markdown chapter beside its source for the download menu.

    The theme lists ``context['ipynb_source']`` (a path under ``_sources``) as the ``.ipynb``
    download; Jupyter Book sets it only when the source is a notebook file or a launch button
    is configured.
    """
    if doctree is None or not context.get("sourcename", "").endswith(".md"):
        return
    notebook = executed_notebook(app, pagename)
    if notebook is None:
        return
    import nbformat
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


# --- Scripts -------------------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"^ *<script>[^\n]*</script>\n", flags=re.MULTILINE)


def drop_duplicate_scripts(app, exception):
    """Keep the first of identical inline scripts in every page.

    Some extensions (sphinx-thebe, sphinx-togglebutton) register their inline configuration
    again when Jupyter Book re-initialises the build, and a second ``const THEBE_JS_URL``
    is a SyntaxError in the console of every page.
    """
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        seen = set()

        def first_only(match):
            if match.group(0) in seen:
                return ""
            seen.add(match.group(0))
            return match.group(0)

        cleaned = INLINE_SCRIPT.sub(first_only, text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def set_default_mode(app, pagename, templatename, context, doctree):
    """Start in the light colour mode (the figures have white backgrounds).

    The theme reads the template variable ``default_mode``, which nothing sets: an empty mode is
    an error in the console of a reader who never chose one.
    """
    if not context.get("default_mode"):
        context["default_mode"] = "light"


# --- The syllabus table -----------------------------------------------------------------------

class CourseSyllabus(Directive):
    """A table of the chapters: slide section, chapter, package modules, exercise."""

    has_content = False

    def run(self):
        env = self.state.document.settings.env
        app = env.app
        chapters = chapter_settings(app)
        table = nodes.table(classes=["course-syllabus"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (22, 30, 28, 20):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self.row([nodes.Text(text) for text in
                          ("Slide section", "Chapter", "Package", "Exercise")])
        body = nodes.tbody()
        group += body
        for docname, settings in chapters.items():
            settings = settings or {}
            if docname not in env.found_docs:
                continue
            chapter = addnodes.pending_xref("", nodes.inline(text=docname), refdomain="std",
                                            reftype="doc", reftarget="/" + docname,
                                            refexplicit=False, refwarn=True)
            modules = nodes.inline()
            for i, module in enumerate(settings.get("modules", [])):
                if i:
                    modules += nodes.Text(", ")
                modules += nodes.literal(text=module)
            exercise = settings.get("exercise")
            if exercise:
                name = nodes.literal(text=posixpath.basename(posixpath.dirname(exercise)),
                                     classes=["course-exercise-name"])
                if (Path(app.srcdir) / exercise).is_file():
                    cell = nodes.reference("", "", name, internal=False,
                                           refuri=relative_uri(env.docname, exercise))
                else:  # announced, not released yet: a name, never a broken link
                    cell = name
            else:
                cell = nodes.Text(settings.get("exercise_note", "none"))
            body += self.row([nodes.Text(settings.get("slides", "")), chapter, modules, cell])
        return [table]

    @staticmethod
    def row(contents):
        row = nodes.row()
        for content in contents:
            entry = nodes.entry()
            paragraph = nodes.paragraph()
            paragraph += content
            entry += paragraph
            row += entry
        return row


def add_static(app, config):
    config.html_static_path = list(config.html_static_path) + [str(HERE / "static")]


def setup(app):
    app.add_config_value("course_chapters", {}, "env", [dict])
    app.add_directive("course-syllabus", CourseSyllabus)
    app.connect("config-inited", install_figure_words)
    app.connect("config-inited", add_static)
    app.connect("config-inited", check_exercises)
    app.connect("doctree-resolved", add_alt_text)
    app.connect("doctree-resolved", add_exercise_link)
    app.connect("html-page-context", offer_notebook, priority=400)
    # Before any theme handler that returns a template name: Sphinx stops at the first result.
    app.connect("html-page-context", set_default_mode, priority=450)
    app.connect("build-finished", copy_exercises)
    app.connect("build-finished", drop_duplicate_scripts)
    app.add_css_file("course.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
