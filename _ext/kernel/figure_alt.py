"""IPython startup file used only while the book executes its chapters.

It makes every matplotlib figure that a chapter displays carry its own words in its PNG file:
the figure and axes titles as the PNG ``Title`` and the axis labels as its ``Description``.
The book's Sphinx extension (``_ext/course_site.py``) reads them back and writes them as the
image's alt text, so no chapter has to repeat its titles by hand.
"""

import IPython.core.pylabtools as _pylabtools

_print_figure = _pylabtools.print_figure


def _figure_words(fig):
    titles, labels = [], []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        titles.append(suptitle.get_text().strip())
    for ax in fig.get_axes():
        for loc in ("left", "center", "right"):
            text = ax.get_title(loc=loc).strip()
            if text:
                titles.append(text)
        for text in (ax.get_xlabel().strip(), ax.get_ylabel().strip()):
            if text and text not in labels:
                labels.append(text)
    return "; ".join(titles), "; ".join(labels)


def print_figure(fig, fmt="png", bbox_inches="tight", base64=False, **kwargs):
    if fmt == "png" and "metadata" not in kwargs:
        try:
            title, description = _figure_words(fig)
        except Exception:  # never let alt text break a figure
            title, description = "", ""
        metadata = {}
        if title:
            metadata["Title"] = title
        if description:
            metadata["Description"] = "axes: " + description
        if metadata:
            kwargs["metadata"] = metadata
    return _print_figure(fig, fmt, bbox_inches, base64, **kwargs)


# select_figure_formats (called when the inline backend starts) looks the name up here.
_pylabtools.print_figure = print_figure
