"""The sandbox a student's notebook runs in while it is graded.

Every kernel is started by bubblewrap (``bwrap``, Debian package ``bubblewrap``) in fresh user,
PID, network, IPC and UTS namespaces, as an unprivileged user with no capabilities:

* the whole file system is mounted read-only; the course folder and the grader's home are
  replaced by empty folders, into which only the Python environment and the ``cnncourse`` package
  are mounted back, read-only: ``solutions/``, the gradebook, ``submitted/``, ``autograded/`` and
  every other student are out of sight;
* the only writable places are a scratch copy of the student's own assignment folder (the working
  directory) and a private ``/tmp``;
* there is no network (an empty network namespace), and no process outside can be seen or
  signalled;
* ``prlimit`` caps address space (memory), CPU time and file size.

The kernel talks to the grader over unix sockets in a folder bound into the sandbox
(``transport="ipc"``); TCP cannot cross the network namespace. Interrupts are sent as messages
(``interrupt_mode="message"``) because a signal to bwrap would not reach the kernel inside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Instance


@dataclass(frozen=True)
class Limits:
    """Resource caps of one grading kernel."""

    memory_bytes: int = 4 * 1024 ** 3      # address space; allocations past it raise MemoryError
    cpu_seconds: int = 600                 # CPU time of the whole notebook run
    file_bytes: int = 256 * 1024 ** 2      # largest file the student's code may write
    threads: int = 1                       # BLAS/OpenMP/torch threads of the kernel


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@lru_cache(maxsize=1)
def check_available() -> str:
    """bwrap's version if it can run a sandboxed command here; raise SandboxUnavailable otherwise."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; install it with `apt-get install bubblewrap` "
            "(grading without a sandbox would run students' code as you, in the course folder)")
    done = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user",
                           "--die-with-parent", "true"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SandboxUnavailable(f"bwrap cannot create a sandbox here: {done.stderr.strip()}")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    return version


def _under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def bwrap_command(command: list[str], workdir: str, rundir: str, course_root: str | None,
                  limits: Limits) -> list[str]:
    """The full command line that runs ``command`` in the sandbox."""
    import cnncourse

    package = Path(cnncourse.__file__).resolve().parent
    hidden = {Path(p).resolve() for p in (course_root, os.path.expanduser("~"), "/root", "/home")
              if p and os.path.isdir(p)}
    needed = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), package,
              Path(sys.executable).resolve().parent}
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/run"]
    # Hide the course, the homes; then bring back read-only what Python needs from inside them.
    for folder in sorted(hidden, key=lambda p: len(p.parts)):
        if not any(_under(folder, other) and folder != other for other in hidden):
            args += ["--tmpfs", str(folder)]
    # /tmp, /var/tmp and /run are empty in the sandbox too: an environment or a checkout that
    # lives there (a fresh clone under /tmp, say) is brought back like one inside the course.
    masked = hidden | {Path(p).resolve() for p in ("/tmp", "/var/tmp", "/run")}
    for path in sorted(needed, key=lambda p: len(p.parts)):
        if any(_under(path, folder) for folder in masked) and not any(
                _under(path, other) and path != other for other in needed):
            args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", workdir, workdir, "--bind", rundir, rundir, "--chdir", workdir,
             "--unshare-user", "--uid", "65534", "--gid", "65534",
             "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
             "--hostname", "grading", "--die-with-parent", "--new-session", "--clearenv"]
    threads = str(limits.threads)
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home", "IPYTHONDIR": "/tmp/home/.ipython", "MPLCONFIGDIR": "/tmp/home/.mpl",
        "MPLBACKEND": "Agg", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
        "CNNCOURSE_GRADING": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    for key, value in environment.items():
        args += ["--setenv", key, value]
    args += ["--", "prlimit", f"--as={limits.memory_bytes}", f"--cpu={limits.cpu_seconds}",
             f"--fsize={limits.file_bytes}", "--core=0", "--"]
    return args + command


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start inside :func:`bwrap_command`'s sandbox."""

    limits = Instance(Limits, args=())

    def __init__(self, workdir: str, rundir: str, course_root: str | None, limits: Limits, **kwargs):
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(rundir, "kernel"))
        kwargs.setdefault("connection_file", os.path.join(rundir, "connection.json"))
        super().__init__(**kwargs)
        self.workdir, self.rundir, self.course_root = workdir, rundir, course_root
        self.limits = limits

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        return bwrap_command(command, self.workdir, self.rundir, self.course_root, self.limits)

    async def _async_pre_start_kernel(self, **kwargs):
        self.kernel_spec.interrupt_mode = "message"
        command, kwargs = await super()._async_pre_start_kernel(**kwargs)
        log = open(os.path.join(self.rundir, "kernel.log"), "ab")
        kwargs["stdout"] = log
        kwargs["stderr"] = subprocess.STDOUT
        kwargs["cwd"] = self.workdir
        return command, kwargs
