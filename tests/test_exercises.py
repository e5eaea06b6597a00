"""Every nbgrader assignment: released copy in sync; reference full marks, stub zero; wrong answers
lose exactly their cells; correct-but-different answers full marks. All graded in one class run
(sandboxed, in parallel) of a throw-away course, the cases grouped into fewer submissions where
no check is lost (tests/exercise_cases/__init__.py)."""

import json

import pytest

from exercise_cases import CORRECT, WRONG, combine, pack_correct, pack_wrong, student_name
from nbgrader_course import (ASSIGNMENTS, REPO, answered, grade_class, make_course, nbgrader_meta,
                             notebooks, solution_sources, submit)

each_assignment = pytest.mark.parametrize("assignment", ASSIGNMENTS)


def test_assignments_exist():
    assert ASSIGNMENTS, "solutions/ holds no assignment"
    for assignment in ASSIGNMENTS:
        assert assignment in WRONG, f"{assignment} has no wrong-answer cases in tests/exercise_cases"
        assert WRONG[assignment], f"{assignment}: no wrong-answer case"
        assert CORRECT[assignment], f"{assignment}: no correct-but-different case"


def submissions(assignment: str) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """The class run's students for the cases of one assignment: ``{"wrong": [(student, cases)],
    "correct": [...]}`` (cases grouped as tests/exercise_cases explains)."""
    answers, order = {}, {}
    for nb in notebooks(REPO / "solutions" / assignment).values():
        answers.update(solution_sources(nb))
        for cell in nb.cells:
            if nbgrader_meta(cell).get("grade_id"):
                order.setdefault(nbgrader_meta(cell)["grade_id"], len(order))
    groups = {"wrong": pack_wrong(WRONG[assignment], answers, order),
              "correct": pack_correct(CORRECT[assignment], answers)}
    return {kind: [(student_name(kind, names), names) for names in packed] for kind, packed in groups.items()}


@each_assignment
def test_every_case_is_graded_once_and_a_shared_submission_keeps_each_check(assignment):
    for kind, cases in (("wrong", WRONG), ("correct", CORRECT)):
        packed = [name for _, names in submissions(assignment)[kind] for name in names]
        assert sorted(packed) == sorted(cases[assignment]), f"{kind} cases lost or repeated: {packed}"
    for _, names in submissions(assignment)["wrong"]:
        lost = [WRONG[assignment][name].lost for name in names]
        assert len(names) <= 2 and (len(names) == 1 or not lost[0] & lost[1]), names


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """A throw-away course folder in which every assignment was just released."""
    return make_course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="session")
def graded(course):
    """One class run over every assignment: reference, stub, every wrong and correct case."""
    for assignment in ASSIGNMENTS:
        source = notebooks(course / "solutions" / assignment)
        release = notebooks(course / "exercises" / assignment)
        answers = {name: solution_sources(nb) for name, nb in source.items()}
        submit(course, assignment, "reference",
               {name: answered(nb, answers[name]) for name, nb in release.items()})
        submit(course, assignment, "stub", dict(release))
        for kind, cases in (("wrong", WRONG), ("correct", CORRECT)):
            for student, names in submissions(assignment)[kind]:
                edit = combine(*(cases[assignment][name].edit for name in names))
                submit(course, assignment, student,
                       {name: answered(nb, edit(answers[name])) for name, nb in release.items()})
    return grade_class(course, ASSIGNMENTS)


@each_assignment
def test_source_notebooks_are_well_formed(assignment):
    for name, nb in notebooks(REPO / "solutions" / assignment).items():
        cells = [nbgrader_meta(c) for c in nb.cells if nbgrader_meta(c)]
        graded_cells = [m for m in cells if m.get("grade")]
        assert graded_cells, f"{name} has no graded cell"
        assert all(m.get("points", 0) > 0 for m in graded_cells), f"{name}: a graded cell has no points"
        ids = [m["grade_id"] for m in cells]
        assert len(ids) == len(set(ids)), f"{name}: grade ids repeat: {ids}"
        solutions = [c for c in nb.cells if nbgrader_meta(c).get("solution")]
        assert solutions and all("### BEGIN SOLUTION" in c.source for c in solutions)
        hidden = [c for c in nb.cells if "### BEGIN HIDDEN TESTS" in c.source]
        assert hidden, f"{name} has no hidden tests"
        assert all(nbgrader_meta(c).get("grade") for c in hidden)
        for cell in nb.cells:
            assert cell.get("outputs", []) == [], f"{name}: commit source notebooks without outputs"
        setup = nb.cells[1].source if len(nb.cells) > 1 else ""
        assert "Checker(" in setup and "forbidden=" in setup, f"{name}: the set-up cell must declare the rules"


@pytest.mark.slow
@each_assignment
def test_released_exercises_equal_a_fresh_release(assignment, course):
    committed = REPO / "exercises" / assignment
    fresh = course / "exercises" / assignment
    files = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert files == fresh_files, "exercises/ is out of date: run `make release`"
    for path in files:
        if path.suffix == ".ipynb":
            ours = json.loads((committed / path).read_text())
            theirs = json.loads((fresh / path).read_text())
        else:
            ours, theirs = (committed / path).read_bytes(), (fresh / path).read_bytes()
        assert ours == theirs, f"exercises/{assignment}/{path} is out of date: run `make release`"


@each_assignment
def test_released_exercises_hide_solutions_and_hidden_tests(assignment):
    for name, nb in notebooks(REPO / "exercises" / assignment).items():
        text = "\n".join(cell.source for cell in nb.cells)
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert "raise NotImplementedError()" in text


@pytest.mark.slow
@each_assignment
def test_reference_solution_scores_full_marks(assignment, graded):
    result = graded[(assignment, "reference")]
    assert result.status == "graded" and result.max_score > 0
    assert result.score == result.max_score, f"lost points in {sorted(result.lost())}"
    assert not result.flags, f"an honest submission was flagged: {result.flags}"


@pytest.mark.slow
@each_assignment
def test_released_stub_scores_zero(assignment, graded):
    result = graded[(assignment, "stub")]
    assert result.status == "graded" and result.max_score > 0
    assert result.score == 0, f"the stub scores in {sorted(set(result.cells) - result.lost())}"
    assert not result.flags, f"the untouched stub was flagged: {result.flags}"


@pytest.mark.slow
@each_assignment
def test_wrong_answers_lose_exactly_their_cells(assignment, graded):
    for student, names in submissions(assignment)["wrong"]:
        result = graded[(assignment, student)]
        expected = set().union(*(WRONG[assignment][name].lost for name in names))
        why = " + ".join(f"{name} ({WRONG[assignment][name].why})" for name in names)
        assert result.status == "graded", f"{why}: {result.reason}"
        assert result.lost() == expected, f"{why}: lost {sorted(result.lost())}, expected {sorted(expected)}"


@pytest.mark.slow
@each_assignment
def test_correct_but_different_answers_score_full_marks(assignment, graded):
    for student, names in submissions(assignment)["correct"]:
        result = graded[(assignment, student)]
        who = " + ".join(names)
        assert result.status == "graded", f"{who}: {result.reason}"
        assert result.score == result.max_score, f"{who} lost {sorted(result.lost())}"
        assert not result.flags, f"{who} was flagged: {result.flags}"
