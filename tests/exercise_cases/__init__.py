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


# ------------------------------------------------------------------------------ submissions
# Every submission costs a kernel, the imports and (in the later exercises) a training run, so
# the class run of the tests groups cases into fewer submissions where that loses no check:
#
# - correct-but-different answers that edit different cells share one submission: it must still
#   score full marks, so any cell one of them loses fails the test (their combination is what a
#   student who wrote all of them would hand in);
# - two wrong answers share one when they edit different cells, lose disjoint sets of cells, and
#   everything the first one edits or loses comes before the second one's first edit: the second
#   runs only after the first one's cells were graded, so it cannot change them, and the union of
#   the two expected sets must be lost exactly. (What this gives up: an unexpected knock-on effect
#   of the first answer on the very cells the second one loses would go unnoticed.)

def edited_cells(case: Case, answers: dict) -> frozenset:
    """The solution cells (grade ids) that a case changes."""
    changed = case.edit(dict(answers))
    return frozenset(grade_id for grade_id, source in changed.items() if source != answers.get(grade_id))


def pack_correct(cases: dict, answers: dict) -> list[tuple[str, ...]]:
    """Correct-but-different cases grouped so that no two in a group edit the same cell."""
    groups: list[tuple[set, list]] = []
    for name, case in cases.items():
        cells = edited_cells(case, answers)
        for taken, names in groups:
            if not taken & cells:
                taken |= cells
                names.append(name)
                break
        else:
            groups.append((set(cells), [name]))
    return [tuple(names) for _, names in groups]


def pack_wrong(cases: dict, answers: dict, order: dict) -> list[tuple[str, ...]]:
    """Wrong cases in pairs (see above) or alone; ``order`` maps every grade id to its position."""
    items = []
    for name, case in cases.items():
        cells = edited_cells(case, answers)
        assert cells, f"wrong case {name} changes no answer"
        items.append((min(order[c] for c in cells), name, cells, frozenset(case.lost)))
    items.sort()
    packed, used = [], set()
    for i, (_, name, cells, lost) in enumerate(items):
        if name in used:
            continue
        used.add(name)
        reach = max(order[c] for c in cells | lost)
        partner = next((other for start, other, other_cells, other_lost in reversed(items[i + 1:])
                        if other not in used and start > reach and not (cells & other_cells)
                        and not (lost & other_lost)), None)
        if partner is None:
            packed.append((name,))
        else:
            used.add(partner)
            packed.append((name, partner))
    return packed


def student_name(kind: str, names: tuple[str, ...]) -> str:
    joined = f"{kind}-" + "--".join(names)
    return joined if len(joined) <= 150 else f"{kind}-{names[0]}-and-{len(names) - 1}-more"
