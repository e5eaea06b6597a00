"""Every nbgrader assignment: released copy in sync, reference full marks, stub zero, wrong
answers lose exactly the points they should."""

import json

import pytest

from exercise_cases import CASES
from nbgrader_course import (ASSIGNMENTS, REPO, answered, autograde, nbgrader_meta, notebooks,
                             solution_sources)

each_assignment = pytest.mark.parametrize("assignment", ASSIGNMENTS)


def test_assignments_exist():
    assert ASSIGNMENTS, "solutions/ holds no assignment"


@pytest.fixture(scope="session")
def graded(course):
    """Autograde, per assignment: the reference answers, the untouched stub, and every case."""
    results = {}

    def grade(assignment):
        if assignment not in results:
            source = notebooks(course / "solutions" / assignment)
            release = notebooks(course / "exercises" / assignment)
            submissions = {"reference": {}, "stub": dict(release)}
            for name, nb in release.items():
                answers = solution_sources(source[name])
                submissions["reference"][name] = answered(nb, answers)
            for student, case in CASES.get(assignment, {}).items():
                submissions[student] = {
                    name: answered(nb, case.edit(solution_sources(source[name])))
                    for name, nb in release.items()}
            results[assignment] = autograde(course, assignment, submissions)
        return results[assignment]

    return grade


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


@pytest.mark.slow
@each_assignment
def test_released_exercises_equal_a_fresh_generate_assignment(assignment, course):
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
    result = graded(assignment)["reference"]
    assert result.max_score > 0
    assert result.score == result.max_score, f"lost points in {sorted(result.lost())}"


@pytest.mark.slow
@each_assignment
def test_released_stub_scores_zero(assignment, graded):
    result = graded(assignment)["stub"]
    assert result.max_score > 0
    assert result.score == 0, f"the stub scores in {sorted(set(result.cells) - result.lost())}"


@pytest.mark.slow
@each_assignment
def test_wrong_answers_lose_exactly_their_points(assignment, graded):
    results = graded(assignment)
    for student, case in CASES.get(assignment, {}).items():
        result = results[student]
        assert result.lost() == case.lost, (
            f"{student} ({case.why}): lost {sorted(result.lost())}, expected {sorted(case.lost)}")
        assert 0 < result.score < result.max_score
