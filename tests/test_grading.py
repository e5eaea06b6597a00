"""cnncourse.grading in isolation: fair checks, the runtime monitor, the checker, the guard, the
sandbox command, and the instructor's commands on a course folder."""

import importlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from cnncourse.grading import Checker, CheckFailure, check_array, check_equal, check_raises, check_shape
from cnncourse.grading.checks import check_scalar, diagnose, same_values, tolerance
from cnncourse.grading.monitor import CallMonitor, ForbiddenSet
from cnncourse.grading.preprocessors import SUSPICIOUS, SandboxedExecute, _clean, strip_hidden_tests
from cnncourse.grading.sandbox import Limits, bwrap_command

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ checks
def test_check_array_says_what_was_expected_what_came_back_and_why():
    check_array(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-12], "ok")
    with pytest.raises(CheckFailure, match=r"y: expected shape \(2,\), got shape \(3,\)"):
        check_array(np.zeros(3), np.zeros(2), "y")
    with pytest.raises(CheckFailure, match=r"1 of 4 values differ.*index \(1, 0\): expected 3.0, got 5.0"):
        check_array(np.array([[1.0, 2.0], [5.0, 4.0]]), [[1.0, 2.0], [3.0, 4.0]], "y")
    with pytest.raises(CheckFailure, match="got None. Did the function forget to `return`"):
        check_array(None, np.zeros(2), "y")
    with pytest.raises(CheckFailure, match="expected a float result, got dtype int64"):
        check_array(np.array([1, 2]), [1, 2], "y", dtype="float")
    with pytest.raises(CheckFailure, match="expected a NumPy array, got a list"):
        check_array([1.0, 2.0], [1.0, 2.0], "y")
    check_array([1.0, 2.0], [1.0, 2.0], "y", need_array=False)
    with pytest.raises(CheckFailure, match="Likely cause: the kernel was not flipped"):
        check_array(np.array([3.0, 2.0]), [2.0, 3.0], "y", causes={"the kernel was not flipped": [3.0, 2.0]})
    with pytest.raises(CheckFailure, match="rows and columns are swapped"):
        check_array(np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(3, 2), "y")
    with pytest.raises(CheckFailure, match="an overflow or a division by zero"):
        check_array(np.array([np.inf, 1.0]), [1.0, 1.0], "y")


def test_tolerance_follows_the_students_precision():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(30, 30)), rng.normal(size=(5, 5))
    exact = scipy.signal.convolve2d(image, kernel, "valid")
    in_float32 = scipy.signal.convolve2d(image.astype(np.float32), kernel.astype(np.float32), "valid")
    in_float16 = (image.astype(np.float16)[:5, :5] * np.float16(1.0))
    check_array(in_float32, exact, "float32 work", dtype="float")
    check_array(in_float16, image[:5, :5], "float16 work", dtype="float")
    with pytest.raises(CheckFailure):
        check_array(exact * (1 + 1e-3), exact, "a float64 result that is 0.1% off", dtype="float")
    assert tolerance(np.float32)[0] > tolerance(np.float64)[0]


def test_shapes_and_tuples_are_compared_by_value_whatever_the_container():
    for value in [(3, 4), [3, 4], np.array([3, 4]), (np.int64(3), np.int32(4))]:
        check_shape(value, (3, 4))
        check_equal(value, (3, 4))
    with pytest.raises(CheckFailure, match=r"expected \(3, 4\), got \(4, 3\).*swapped"):
        check_shape((4, 3), (3, 4))
    with pytest.raises(CheckFailure, match="the float 3.0"):
        check_shape((3.0, 4), (3, 4))
    with pytest.raises(CheckFailure, match="got None. Did the function forget to `return`"):
        check_shape(None, (3, 4))
    with pytest.raises(CheckFailure, match="expected 'a'"):
        check_equal(np.array([1, 2]), "a")  # an array against a plain value does not crash


def test_scalar_raises_and_same_values():
    check_scalar(np.float32(0.1), 0.1)
    check_scalar(np.array([2.0]), 2.0)
    with pytest.raises(CheckFailure, match="expected a number, got a list"):
        check_scalar([2.0], 2.0)
    check_raises(ValueError, int, "x")
    with pytest.raises(CheckFailure, match="expected ValueError, but nothing was raised"):
        check_raises(ValueError, lambda: None, name="f()")
    assert same_values((np.ones(2), 3), [np.ones(2, np.float32), 3.0])
    assert not same_values(np.ones(2), np.ones(3))
    assert "the sign is flipped" in diagnose(-np.arange(4.0), np.arange(4.0))


# ------------------------------------------------------------------------------ monitor
def _alias_scipy(x):
    from scipy.signal import convolve2d as c2
    return c2(x, x)


def _getattr_pad(x):
    return getattr(np, "p" + "ad")(x, 1)


def _importlib_pad(x):
    return importlib.import_module("numpy").pad(x, 1)


def _reference(x):
    import cnncourse.scratch
    return cnncourse.scratch.pad2d(x, 1)


def _own_helpers(x):
    def pad(a):
        out = np.zeros((a.shape[0] + 2, a.shape[1] + 2))
        out[1:-1, 1:-1] = a
        return out

    def convolve(a):
        return np.flip(a) * 2

    return convolve(pad(x))


def _switches_off(x):
    sys.setprofile(None)
    return np.pad(x, 1)


@pytest.mark.parametrize("function, routine", [
    (_alias_scipy, "scipy.signal.convolve2d"), (_getattr_pad, "numpy.pad"), (_importlib_pad, "numpy.pad"),
    (_reference, "cnncourse.scratch.convolution.pad2d"), (_switches_off, "sys.setprofile"),
])
def test_the_monitor_catches_forbidden_routines_by_identity(function, routine):
    forbidden = ForbiddenSet(["numpy.pad", "scipy.signal", "cnncourse"])
    monitor = CallMonitor(forbidden)
    with monitor:
        function(np.ones((3, 3)))
    assert sys.getprofile() is None
    assert monitor.violations and monitor.violations[0].routine == routine


def test_the_monitor_lets_the_students_own_helpers_through_whatever_their_names():
    monitor = CallMonitor(ForbiddenSet(["numpy.pad", "numpy.convolve", "scipy.signal"]))
    with monitor:
        _own_helpers(np.ones((3, 3)))
    assert monitor.violations == []
    with pytest.raises(TypeError, match="dotted names"):
        ForbiddenSet([3])


# ------------------------------------------------------------------------------ checker
CHECK = Checker("01-convolution", forbidden=["numpy.pad", "scipy.signal", "cnncourse"],
                references="cnncourse.grading.references.convolution")


def pad2d(image, v, boundary="fill"):  # a correct student function
    image = np.asarray(image, dtype=float)
    out = np.zeros((image.shape[0] + 2 * v, image.shape[1] + 2 * v))
    out[v:v + image.shape[0], v:v + image.shape[1]] = image
    if boundary == "edge" and v > 0:
        out[:v, v:-v], out[-v:, v:-v] = image[0], image[-1]
        out[:, :v], out[:, -v:] = out[:, v:v + 1], out[:, -v - 1:-v]
    return out


def convolve2d_valid(image, kernel):  # a wrong student function: no flip
    image, kernel = np.asarray(image, float), np.asarray(kernel, float)
    rows, cols = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1
    return np.array([[np.sum(image[i:i + kernel.shape[0], j:j + kernel.shape[1]] * kernel)
                      for j in range(cols)] for i in range(rows)])


def convolve2d_same(image, kernel, boundary="fill"):  # correct, but calls the wrong helper
    return convolve2d_valid(pad2d(image, kernel.shape[0] // 2, boundary), kernel)


def test_a_later_task_is_graded_with_the_reference_for_a_wrong_earlier_function():
    image, kernel = np.random.default_rng(1).normal(size=(6, 7)), np.arange(9.0).reshape(3, 3)
    with pytest.raises(CheckFailure, match="the kernel was not flipped"):
        CHECK.array("convolve2d_valid", CHECK.call("convolve2d_valid", convolve2d_valid, image, kernel),
                    CHECK.reference("convolve2d_valid")(image, kernel), dtype="float",
                    causes={"the kernel was not flipped": CHECK.reference("convolve2d_valid")(image, kernel[::-1, ::-1])})
    same = CHECK.call("convolve2d_same", convolve2d_same, image, kernel, "edge")
    CHECK.array("convolve2d_same", same, CHECK.reference("convolve2d_same")(image, kernel, "edge"))
    assert any("used the reference convolve2d_valid" in note for note in CHECK.notes)
    assert globals()["convolve2d_valid"].__name__ == "convolve2d_valid"  # the stand-in is gone


def test_the_checker_names_the_task_the_routine_and_a_changed_input():
    def uses_pad(image, v, boundary="fill"):
        return np.pad(image, v)

    def changes_input(image, v, boundary="fill"):
        image[0, 0] = 7.0
        return pad2d(image, v)

    with pytest.raises(CheckFailure, match=r"pad2d: uses_pad\(.*\) called numpy.pad .* forbids"):
        CHECK.call("pad2d", uses_pad, np.ones((2, 2)), 1)
    with pytest.raises(CheckFailure, match="changed its input `image`"):
        CHECK.call("pad2d", changes_input, np.ones((2, 2)), 1)
    with pytest.raises(CheckFailure, match="expected a function, got int"):
        CHECK.call("pad2d", 3, np.ones((2, 2)), 1)
    with pytest.raises(CheckFailure, match=r"raised IndexError"):
        CHECK.call("pad2d", lambda image, v: image[9], np.ones((2, 2)), 1)
    CHECK.raises("pad2d", ValueError, lambda *a: int("x"), 1)
    with pytest.raises(CheckFailure, match="expected ValueError, but nothing was raised"):
        CHECK.raises("pad2d", ValueError, pad2d, np.ones((2, 2)), 1)
    assert "numpy.pad" in CHECK.rules()
    with pytest.raises(TypeError, match="forbidden must be a list"):
        Checker("x", forbidden="numpy.pad")


# ------------------------------------------------------------------------------ grader pieces
def test_feedback_cells_lose_their_hidden_tests_and_paths():
    source = "visible()\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS\nafter()"
    assert strip_hidden_tests(source) == "visible()\nafter()"
    assert sys.prefix not in _clean(f'File "{sys.prefix}/lib/x.py", line 3')
    assert str(REPO) not in _clean(f"{REPO}/cnncourse/grading/checks.py")


def test_static_review_flags_suspicious_code_only():
    import nbformat

    honest = nbformat.v4.new_code_cell("def f(x):\n    return np.flip(x)")
    cheat = nbformat.v4.new_code_cell("get_ipython().input_transformers_cleanup.append(lambda l: [])")
    for cell in (honest, cheat):
        cell.metadata["nbgrader"] = {"grade_id": "answer", "solution": True, "locked": False}
    nb = nbformat.v4.new_notebook(cells=[honest, cheat])
    flags = SandboxedExecute._static_review(nb)
    assert flags == ["review: answer line 1 registers an IPython input transformer"]
    assert len(SUSPICIOUS) >= 10


def test_the_sandbox_hides_the_course_and_binds_back_only_python_and_the_package(tmp_path):
    command = bwrap_command(["python", "-m", "ipykernel_launcher"], str(tmp_path / "w"), str(tmp_path / "r"),
                            str(REPO), Limits(memory_bytes=2 ** 30, cpu_seconds=60))
    text = " ".join(command)
    assert f"--tmpfs {REPO} " in text or f"--tmpfs {REPO.parent}" in text
    assert "--unshare-net" in command and "--unshare-pid" in command and "--clearenv" in command
    assert "--as=1073741824" in command and "--cpu=60" in command
    assert f"--ro-bind {REPO / 'cnncourse'} {REPO / 'cnncourse'}" in text
    assert "solutions" not in text and "gradebook" not in text


def test_an_environment_under_tmp_is_bound_back_into_the_empty_tmp(tmp_path, monkeypatch):
    environment = tmp_path / "clone" / ".venv"  # e.g. a fresh clone under /tmp: the sandbox's /tmp is empty
    (environment / "bin").mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(environment))
    command = bwrap_command(["python"], str(tmp_path / "w"), str(tmp_path / "r"), str(tmp_path / "course"),
                            Limits(memory_bytes=2 ** 30, cpu_seconds=60))
    text = " ".join(command)
    assert f"--ro-bind {environment.resolve()} {environment.resolve()}" in text
    assert text.index("--tmpfs /tmp ") < text.index(f"--ro-bind {environment.resolve()}")


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (.ci/run installs it)")
def test_sandboxed_code_cannot_see_the_course_write_or_reach_the_network(tmp_path):
    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir(), run.mkdir()
    probe = ("import os, socket\n"
             f"print(sorted(os.listdir({str(REPO)!r})))\n"
             f"print(os.path.exists({str(REPO / 'solutions')!r}))\n"
             "try:\n"
             f"    open({str(REPO / 'cnncourse' / 'hacked.py')!r}, 'w')\n"
             "except OSError as e: print('write refused', e.errno)\n"
             "try:\n"
             "    socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
             "except OSError as e: print('network refused', e.errno)\n"
             "open('mine.txt', 'w').write('ok'); print(os.getuid())\n")
    command = bwrap_command([sys.executable, "-c", probe], str(work), str(run), str(REPO),
                            Limits(memory_bytes=2 * 2 ** 30, cpu_seconds=60))
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert "solutions" not in lines[0] and "cnncourse" in lines[0]
    assert lines[1] == "False"
    assert lines[2].startswith("write refused")
    assert lines[3].startswith("network refused")
    assert lines[4] == "65534" and (work / "mine.txt").read_text() == "ok"
    assert not (REPO / "cnncourse" / "hacked.py").exists()


# ------------------------------------------------------------------------------ commands
def test_unknown_assignments_and_missing_course_are_the_instructors_errors(tmp_path):
    from cnncourse.grading.classrun import main

    assert main(["--root", str(tmp_path), "grade"]) == 2
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    (tmp_path / "solutions" / "01-x").mkdir(parents=True)
    assert main(["--root", str(tmp_path), "grade", "99-nothing"]) == 2
    assert main(["--root", str(tmp_path), "grade", "01-x", "--jobs", "0"]) == 2


def test_ufuncs_are_caught_too_though_no_profile_event_sees_them():
    from numpy import logaddexp as alias

    check = Checker("x", forbidden=["numpy.logaddexp", "scipy.special"])
    import scipy.special

    for function in (lambda u: np.logaddexp(0, u), lambda u: getattr(np, "logadd" + "exp")(0, u),
                     lambda u: alias(0, u), lambda u: scipy.special.expit(u)):
        with pytest.raises(CheckFailure, match="called (numpy.logaddexp|scipy.special.expit)"):
            check.call("softplus", function, np.ones(3))
    assert type(np.logaddexp) is np.ufunc and alias is np.logaddexp  # everything put back
    check.call("softplus", lambda u: np.log1p(np.exp(-np.abs(u))) + np.maximum(u, 0), np.ones(3))


def test_a_changed_input_is_put_back_and_an_integer_stays_an_integer():
    data = np.arange(4.0)

    def clobbers(x):
        x[:] = 0
        return x

    with pytest.raises(CheckFailure, match="changed its input"):
        CHECK.call("pad2d", clobbers, data)
    np.testing.assert_array_equal(data, np.arange(4.0))
    assert not same_values(3.0, 3) and same_values(np.int64(3), 3)
    assert same_values(np.float32(1 / 3), 1 / 3)  # compared at the coarser precision


def test_the_checker_stops_a_function_at_its_first_forbidden_call():
    ran_on = []

    def pads_then_trains(image, v, boundary="fill"):
        padded = np.pad(image, v)
        ran_on.append("after the forbidden call")  # a long training run would follow here
        return padded

    def catches_the_stop(image, v, boundary="fill"):
        try:
            np.pad(image, v)
        except Exception:
            pass
        ran_on.append("after the caught stop")
        return pad2d(image, v)

    with pytest.raises(CheckFailure, match=r"called numpy.pad"):
        CHECK.call("pad2d", pads_then_trains, np.ones((2, 2)), 1)
    assert ran_on == []
    with pytest.raises(CheckFailure, match=r"called numpy.pad"):  # catching the stop hides nothing
        CHECK.call("pad2d", catches_the_stop, np.ones((2, 2)), 1)
    assert sys.getprofile() is None


def test_a_forbidden_call_in_an_earlier_function_stops_only_that_function():
    student = {"__name__": "student_notebook"}
    exec(textwrap.dedent("""
        import numpy as np

        def pad2d(image, v, boundary="fill"):
            return np.pad(np.asarray(image, float), v)

        def convolve2d_same(image, kernel, boundary="fill"):
            padded = pad2d(image, kernel.shape[0] // 2, boundary)
            out = np.zeros(image.shape)
            for i in range(image.shape[0]):
                for j in range(image.shape[1]):
                    out[i, j] = np.sum(padded[i:i + 3, j:j + 3] * kernel[::-1, ::-1])
            return np.pad(out, 0)  # still watched after the stand-in for pad2d ran
    """), student)
    image, kernel = np.random.default_rng(2).normal(size=(5, 5)), np.ones((3, 3))
    with pytest.raises(CheckFailure, match=r"convolve2d_same\(.*\) called numpy.pad"):
        CHECK.call("convolve2d_same", student["convolve2d_same"], image, kernel)
    assert any("used the reference pad2d" in note for note in CHECK.notes)


def test_an_expected_nan_does_not_make_the_tolerance_exact():
    expected = np.array([0.25, np.nan, 1.0 / 3.0])  # e.g. the IoU of a class absent from both
    answer = expected.astype(np.float32)
    check_array(answer, expected, "iou_per_class", dtype="float")
    with pytest.raises(CheckFailure):
        check_array(np.array([0.25, 0.0, 1.0 / 3.0]), expected, "iou_per_class", dtype="float")
    assert same_values(answer, expected) and not same_values(np.array([0.25, 0.0, 0.3]), expected)


def test_compiled_cython_functions_of_a_forbidden_package_are_caught():
    check = Checker("x", forbidden=["pycocotools"])
    from pycocotools.mask import iou as overlap  # a Cython function: no profile event at all

    boxes = np.array([[0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(CheckFailure, match=r"called pycocotools\._?mask\.iou"):
        check.call("box_iou", lambda a, b: overlap(a, b, [0]), boxes, boxes)
    assert type(overlap).__name__ == "cython_function_or_method"  # put back after the check
