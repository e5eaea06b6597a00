"""Every nbgrader assignment: released copy in sync; reference full marks, stub zero; wrong answers
lose exactly their cells; correct-but-different answers full marks. All graded in one class run
(sandboxed, in parallel) of a throw-away course."""

import json

import pytest

from exercise_cases import CORRECT, WRONG
from nbgrader_course import (ASSIGNMENTS, REPO, answered, grade_class, make_course, nbgrader_meta,
                             notebooks, solution_sources, submit)

each_assignment = pytest.mark.parametrize("assignment", ASSIGNMENTS)


def test_assignments_exist():
    assert ASSIGNMENTS, "solutions/ holds no assignment"
    for assignment in ASSIGNMENTS:
        assert assignment in WRONG, f"{assignment} has no wrong-answer cases in tests/exercise_cases"
        assert WRONG[assignment], f"{assignment}: no wrong-answer case"
        assert CORRECT[assignment], f"{assignment}: no correct-but-different case"


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
            for student, case in cases.get(assignment, {}).items():
                submit(course, assignment, f"{kind}-{student}",
                       {name: answered(nb, case.edit(answers[name])) for name, nb in release.items()})
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
    for student, case in WRONG[assignment].items():
        result = graded[(assignment, f"wrong-{student}")]
        assert result.status == "graded", f"{student}: {result.reason}"
        assert result.lost() == set(case.lost), (
            f"{student} ({case.why}): lost {sorted(result.lost())}, expected {sorted(case.lost)}")


@pytest.mark.slow
@each_assignment
def test_correct_but_different_answers_score_full_marks(assignment, graded):
    for student in CORRECT[assignment]:
        result = graded[(assignment, f"correct-{student}")]
        assert result.status == "graded", f"{student}: {result.reason}"
        assert result.score == result.max_score, f"{student} lost {sorted(result.lost())}"
        assert not result.flags, f"{student} was flagged: {result.flags}"
