"""Benchmark the course notebooks: wall time and peak kernel memory per notebook.

Run from the repository root::

    python -m tools.bench                          # every notebooks/NN_*.ipynb, sorted
    python -m tools.bench notebooks/03_relu.ipynb  # only the named notebooks

Each notebook runs top to bottom in a fresh ``python3`` kernel whose working
directory is the notebook's folder, exactly as a student would run it
("Restart Kernel and Run All Cells").  Cells tagged ``skip-execution`` are not
run, cells tagged ``raises-exception`` may raise; any other error marks the
notebook FAILED and the benchmark goes on with the next one.

For every notebook the script records

* **wall time**: from just before the kernel starts until the last cell has
  finished (kernel start-up included, kernel shutdown excluded);
* **peak memory**: the peak resident set size of the kernel process.  On Linux
  this is ``VmHWM`` from ``/proc/<pid>/status``, read after the last cell and
  before the kernel is shut down, so it is exact.  Elsewhere the resident set
  size is sampled with psutil every 0.1 s, which can miss short spikes.  Only
  the kernel process itself is measured, not processes it spawns (for example
  DataLoader workers).

The results are printed as a Markdown table and written to ``build/bench.md``.
Exceeding a budget is reported but is not an error (exit code 0); a notebook
that fails to execute gives exit code 1; a missing notebook file, or no
notebooks at all, gives exit code 2.  Ctrl-C (or SIGTERM) stops the run with
exit code 130 and no report; the running kernel is shut down first.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import importlib.metadata
import os
import platform
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

# --- Budgets (from the course guide) -----------------------------------------
NOTEBOOK_WALL_BUDGET_S = 60.0  # one notebook, seconds of wall time
NOTEBOOK_MEMORY_BUDGET_BYTES = int(1.5 * 1024**3)  # one notebook, peak kernel RSS: 1.5 GiB
COURSE_WALL_BUDGET_S = 8 * 60.0  # the whole course, summed wall time: 8 minutes

# --- Settings -----------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
REPORT_PATH = REPO_ROOT / "build" / "bench.md"
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 300
SAMPLE_INTERVAL_S = 0.1  # psutil fallback only
MAX_ERROR_CHARS = 200  # error text shown in the table

MIB = 1024**2
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it


class UsageError(Exception):
    """A problem with the command line, reported with exit code 2."""


@dataclass
class Result:
    """The measurements for one notebook."""

    notebook: Path
    wall_s: float
    peak_bytes: int | None  # None when it could not be measured
    error: str | None = None  # "ErrorName: message" when the notebook FAILED

    @property
    def failed(self) -> bool:
        """Whether the notebook failed to execute."""
        return self.error is not None

    @property
    def status(self) -> str:
        """``ok``, ``OVER BUDGET (...)`` or ``FAILED: <error>``."""
        if self.error is not None:
            return f"FAILED: {self.error}"
        return budget_status(
            self.wall_s, NOTEBOOK_WALL_BUDGET_S, self.peak_bytes, NOTEBOOK_MEMORY_BUDGET_BYTES
        )


def budget_status(
    wall_s: float,
    wall_budget_s: float,
    peak_bytes: int | None = None,
    memory_budget_bytes: int | None = None,
) -> str:
    """Compare a measurement with its budgets.

    Returns ``ok``, ``OVER BUDGET (time)``, ``OVER BUDGET (memory)`` or
    ``OVER BUDGET (time, memory)``.  An unknown peak (None) or a missing memory
    budget is never over budget.
    """
    over = []
    if wall_s > wall_budget_s:
        over.append("time")
    if (
        peak_bytes is not None
        and memory_budget_bytes is not None
        and peak_bytes > memory_budget_bytes
    ):
        over.append("memory")
    return f"OVER BUDGET ({', '.join(over)})" if over else "ok"


def resolve_notebooks(names: list[str]) -> list[Path]:
    """Return the notebooks to benchmark.

    With no names, every ``notebooks/NN_*.ipynb`` in sorted order; otherwise
    the named files, in the order given.  Raises UsageError when a named file
    does not exist or when there is nothing to run.
    """
    if not names:
        notebooks = sorted(NOTEBOOK_DIR.glob(NOTEBOOK_PATTERN))
        if not notebooks:
            raise UsageError(f"no notebooks matching {NOTEBOOK_PATTERN} in {NOTEBOOK_DIR}")
        return notebooks
    paths = [Path(name) for name in names]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise UsageError("notebook not found: " + ", ".join(missing))
    return [path.resolve() for path in paths]


def kernel_pid(client: NotebookClient) -> int | None:
    """The process id of the client's kernel, or None if it is not known.

    jupyter_client's LocalProvisioner keeps the ``subprocess.Popen`` of the
    kernel as ``provisioner.process`` (and its pid as ``provisioner.pid``).
    """
    provisioner = getattr(client.km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    pid = getattr(process, "pid", None) or getattr(provisioner, "pid", None)
    return pid if isinstance(pid, int) else None


def read_vmhwm(pid: int) -> int | None:
    """Peak resident set size ("high water mark") of a process in bytes, Linux only.

    Returns None when ``/proc/<pid>/status`` cannot be read (not Linux, or the
    process is gone).
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]  # "VmHWM:   123456 kB"
            assert unit == "kB", line
            return int(value) * 1024
    return None


class PeakRssSampler:
    """Sample a process's resident set size in a background thread; keep the peak.

    The fallback for systems without ``/proc/<pid>/status``.  Use ``start(pid)``
    and ``stop()``, which returns the peak in bytes (None if nothing was sampled).
    """

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.peak_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        """Start sampling process ``pid``."""
        import psutil  # only needed for the fallback

        process = psutil.Process(pid)

        def sample() -> None:
            while True:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:  # the process has gone away
                    return
                self.peak_bytes = max(rss, self.peak_bytes or 0)
                if self._stop.wait(self.interval_s):
                    return

        self._thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        """Stop sampling and return the peak resident set size in bytes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.peak_bytes


def _first_line(text: str) -> str:
    """The first non-empty line of ``text`` (empty string if there is none)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def describe_error(exc: BaseException) -> str:
    """A short ``ErrorName: message`` for an execution failure."""
    if isinstance(exc, CellExecutionError):
        return f"{exc.ename}: {_first_line(exc.evalue)}".rstrip(": ")
    return f"{type(exc).__name__}: {_first_line(str(exc))}".rstrip(": ")


async def _shutdown_kernel(client: NotebookClient) -> None:
    """Shut down the client's kernel (if any) and close its channels.

    A polite shutdown request first; jupyter_client kills the kernel if it
    does not exit within its grace period.
    """
    km, kc = client.km, client.kc
    try:
        if km is not None:
            if km.has_kernel:
                await km.shutdown_kernel(now=not await km.is_alive())
            else:
                await km.cleanup_resources()
    finally:
        if kc is not None:
            kc.stop_channels()
        client.km = client.kc = None
        # nbclient registers an exit-time cleanup and unregisters it only when
        # execution gets past kernel start-up; the kernel is gone now either way.
        atexit.unregister(client._cleanup_kernel)


class _InterruptibleClient(NotebookClient):
    """A NotebookClient on which Ctrl-C (SIGINT) or SIGTERM stops the benchmark.

    nbclient's own signal handlers only shut the kernel down, after which the
    benchmark would record a "dead kernel" and go on with the next notebook.
    This client replaces them, right after nbclient installs them, with
    handlers that set ``interrupted`` and cancel the running task.
    """

    interrupted = False

    def install_signal_handlers(self, cancel: bool = True) -> None:
        """On SIGINT or SIGTERM set ``interrupted`` and, if ``cancel``, cancel this task.

        Use ``cancel=False`` while shutting the kernel down, so that the
        shutdown itself is not cut short.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task() if cancel else None

        def on_signal() -> None:
            self.interrupted = True
            if task is not None:
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal)
            except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
                pass

    async def async_start_new_kernel(self, **kwargs: object) -> None:
        """Start the kernel; nbclient calls this just after installing its own handlers."""
        self.install_signal_handlers()
        await super().async_start_new_kernel(**kwargs)


async def _benchmark_notebook_async(path: Path) -> Result:
    """Execute one notebook in a fresh kernel and measure it (see benchmark_notebook)."""
    use_proc = sys.platform.startswith("linux")
    sampler = PeakRssSampler()
    pid: int | None = None

    def on_kernel_ready(notebook: nbformat.NotebookNode) -> None:
        nonlocal pid
        pid = kernel_pid(client)
        if pid is not None and not use_proc:
            sampler.start(pid)

    error: str | None = None
    peak_bytes: int | None = None
    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)  # may raise; handled by benchmark_notebook
    client = _InterruptibleClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        skip_cells_with_tag="skip-execution",
        allow_errors=False,  # only cells tagged `raises-exception` may raise
        resources={"metadata": {"path": str(path.parent)}},  # kernel working directory
        on_notebook_start=on_kernel_ready,
        store_widget_state=False,
    )
    # No imitation of a front end for Output widgets: under CPU load nbclient's messages
    # back to the kernel stalled notebook 01's explorer cell for minutes (tools/claims.py).
    client.comm_open_handlers = {}
    client.install_signal_handlers()
    try:
        try:
            # cleanup_kc=False keeps the kernel alive afterwards so that we can
            # read its memory high-water mark; we shut it down ourselves below.
            await client.async_execute(cleanup_kc=False)
        except Exception as exc:  # noqa: BLE001 -- a cell error, timeout, dead kernel, ...
            error = describe_error(exc)
        wall_s = time.perf_counter() - start
        if use_proc and pid is not None:
            peak_bytes = read_vmhwm(pid)
    finally:
        sampler_peak = sampler.stop()
        client.install_signal_handlers(cancel=False)
        await _shutdown_kernel(client)
    if client.interrupted:  # nbclient reports a cancelled cell as a dead kernel
        raise KeyboardInterrupt
    if not use_proc:
        peak_bytes = sampler_peak
    return Result(path, wall_s, peak_bytes, error)


def benchmark_notebook(path: Path) -> Result:
    """Execute ``path`` top to bottom in a fresh kernel; return its Result.

    Never raises for a notebook error: the error is recorded in the Result.
    Ctrl-C (SIGINT) or SIGTERM while it runs raises KeyboardInterrupt (or
    CancelledError); either way the kernel is shut down before this returns.
    """
    try:
        return asyncio.run(_benchmark_notebook_async(path))
    except Exception as exc:  # noqa: BLE001 -- e.g. the notebook is not valid JSON
        return Result(path, 0.0, None, describe_error(exc))


def display_name(path: Path) -> str:
    """``path`` relative to the current directory when it lies below it."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _cell(text: str) -> str:
    """Make ``text`` safe inside a Markdown table cell."""
    text = " ".join(text.split()).replace("|", "\\|")
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


def _mib(peak_bytes: int | None) -> str:
    return "n/a" if peak_bytes is None else f"{peak_bytes / MIB:.0f}"


def environment_line() -> str:
    """Date, Python and torch versions and CPU count of this machine."""
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "not installed"
    cpus = f"{os.cpu_count()} CPUs"
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
        if usable != os.cpu_count():
            cpus += f" ({usable} usable)"
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"Run on {now} · Python {platform.python_version()} · torch {torch_version} · "
        f"{cpus} · {platform.system()} {platform.machine()}"
    )


def stated_run_time(notebook: Path) -> int | None:
    """The run time (s) that the notebook's title cell states, from ``utils/course.py``."""
    from utils import course

    for lesson in course.CURRICULUM:
        if lesson.filename == notebook.name:
            return lesson.run_time_s
    return None


def stated_time_note(wall_s: float, stated_s: int | None) -> str:
    """'' when the stated run time fits the measurement, else a note saying it is stale."""
    if stated_s is None or stated_s / 2 <= wall_s <= 1.3 * stated_s:
        return ""
    return f"; stated run time out of date ({stated_s} s)"


def format_report(results: list[Result]) -> str:
    """The Markdown report: environment, budgets, one row per notebook, a total row."""
    lines = [
        "# Notebook benchmark",
        "",
        environment_line(),
        "",
        (
            f"Budgets: ≤ {NOTEBOOK_WALL_BUDGET_S:.0f} s wall and "
            f"≤ {NOTEBOOK_MEMORY_BUDGET_BYTES / 1024**3:.1f} GiB "
            f"({NOTEBOOK_MEMORY_BUDGET_BYTES / MIB:.0f} MiB) peak kernel memory per notebook; "
            f"≤ {COURSE_WALL_BUDGET_S / 60:.0f} min wall for the whole course."
        ),
        "",
        "The stated run time is the title cell's, from `run_time_s` in `utils/course.py`; a "
        "measurement more than 30 % above it (or below half of it) on a quiet machine means "
        "it is out of date: update it there and run `make sync`.",
        "",
        "| notebook | wall (s) | stated (s) | peak memory (MiB) | status |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        stated = stated_run_time(r.notebook)
        status = r.status + stated_time_note(r.wall_s, stated)
        lines.append(
            f"| {_cell(display_name(r.notebook))} | {r.wall_s:.1f} | "
            f"{'—' if stated is None else stated} | {_mib(r.peak_bytes)} | {_cell(status)} |"
        )
    total_s = sum(r.wall_s for r in results)
    peaks = [r.peak_bytes for r in results if r.peak_bytes is not None]
    total_status = budget_status(total_s, COURSE_WALL_BUDGET_S)
    n_failed = sum(r.failed for r in results)
    if n_failed:
        total_status += f"; {n_failed} FAILED"
    lines.append(
        f"| **total** ({len(results)} notebooks) | **{total_s:.1f}** | "
        f"| **{_mib(max(peaks) if peaks else None)}** | {total_status} |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="Time each notebook in a fresh kernel and measure its peak memory.",
    )
    parser.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help=f"notebooks to run (default: notebooks/{NOTEBOOK_PATTERN})",
    )
    args = parser.parse_args(argv)
    try:
        notebooks = resolve_notebooks(args.notebooks)
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    results = []
    for i, path in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {display_name(path)} ...", file=sys.stderr, flush=True)
        try:
            result = benchmark_notebook(path)
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("bench: interrupted; no report written", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(
            f"    {result.wall_s:.1f} s, {_mib(result.peak_bytes)} MiB: {result.status}",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)

    report = format_report(results)
    print(report, end="")
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(report, encoding="utf-8")
    print(f"Report written to {display_name(REPORT_PATH)}", file=sys.stderr)
    return EXIT_FAILED if any(r.failed for r in results) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
