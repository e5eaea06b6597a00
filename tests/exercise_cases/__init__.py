"""Wrong and correct-but-different answers for every assignment, with the marks they must get.

One module per assignment (``ex01_convolution.py``, ...) defines ``ASSIGNMENT``, ``WRONG`` (cases
that must lose exactly the listed graded cells) and ``CORRECT`` (different but correct answers
that must score full marks). A case edits the reference answers (grade_id -> source).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Case:
    edit: Callable[[dict], dict]
    lost: frozenset = frozenset()
    why: str = ""


def replace(grade_id: str, old: str, new: str):
    """Edit one answer by replacing a piece of the reference's source."""
    def edit(answers: dict) -> dict:
        assert old in answers[grade_id], f"{grade_id}: the reference no longer contains {old!r}"
        return {**answers, grade_id: answers[grade_id].replace(old, new)}
    return edit


def substitute(grade_id: str, source: str):
    """Replace one answer by the given source."""
    def edit(answers: dict) -> dict:
        assert grade_id in answers, f"no solution cell {grade_id!r}"
        return {**answers, grade_id: source}
    return edit


def combine(*edits):
    def edit(answers: dict) -> dict:
        for one in edits:
            answers = one(answers)
        return answers
    return edit


def _load():
    wrong, correct = {}, {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("ex"):
            cases = importlib.import_module(f"{__name__}.{module.name}")
            wrong[cases.ASSIGNMENT] = cases.WRONG
            correct[cases.ASSIGNMENT] = cases.CORRECT
    return wrong, correct


WRONG, CORRECT = _load()
