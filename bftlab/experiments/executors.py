"""Run a sweep's missing runs on local processes or a Dask cluster, and store each result.

Every run is independent and deterministic, so any ``concurrent.futures``
executor will do: local processes (the default, one per core), a Dask
``distributed`` cluster through ``Client.get_executor()`` (when one machine is
not enough), or this process one run at a time (``serial``, for debugging).
Workers only compute: they get a resolved spec as plain data and return the
report. This process writes every result to the store, so Dask workers need no
shared file system, and an interrupted sweep leaves only whole reports behind.

Process hygiene: local workers are children of multiprocessing's fork server,
not of the sweep process, and each holds the pipes that keep the fork server
and the resource tracker alive. So if the sweep process is killed (SIGKILL:
no cleanup runs) a busy worker would go on forever and keep the other two
alive with it. Each worker therefore watches the sweep process and exits at
once when it is gone; the fork server and the resource tracker then see their
pipes close and exit on their own.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bftlab import __version__
from bftlab.errors import UsageError
from bftlab.experiments.store import Store

if TYPE_CHECKING:  # annotations only: the commands import these lazily, so that the CLI starts fast
    from bftlab.experiments.sweep import Sweep

__all__ = ["EXECUTORS", "SweepOutcome", "make_executor", "run_missing", "run_one"]

EXECUTORS = ("local", "dask", "serial")


def run_one(spec_data: dict[str, Any], timeline_bin_s: float | None = None) -> dict[str, Any]:
    """Run one resolved spec (plain data) and return its report; what every worker executes."""
    from bftlab.pipeline import execute
    from bftlab.specs.spec import spec_from_dict

    return execute(spec_from_dict(spec_data, "<sweep run>"), timeline_bin_s=timeline_bin_s)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


PARENT_POLL_S = 0.2


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie counts as gone: its parent just has not reaped it yet)."""
    proc = f"/proc/{pid}/stat"
    if os.path.exists("/proc/self/stat"):
        try:
            with open(proc, encoding="ascii", errors="replace") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except OSError:
            return True
    try:  # no /proc: a signal-0 probe (cannot tell a zombie, but the sweep's parent is normally a shell that reaps)
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def _watch(pid: int) -> None:
    # Runs as long as this worker does (a daemon thread); one cheap check per PARENT_POLL_S.
    while not _gone(pid):
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # nobody will store what this worker computes; exit without waiting for the run


def _worker_init(sweep_pid: int) -> None:
    """Set up a local worker: leave Ctrl-C to the sweep process, and die with it."""
    _ignore_sigint()
    threading.Thread(target=_watch, args=(sweep_pid,), name="bftlab-sweep-watch", daemon=True).start()


class _SerialExecutor(cf.Executor):
    """Runs each call at submit time in this process (for debugging and profiling)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:
            fut.set_exception(exc)
        return fut


def _terminate(executor: cf.Executor) -> None:
    """Stop local worker processes now instead of letting them finish runs nobody will store."""
    if not isinstance(executor, cf.ProcessPoolExecutor):
        return
    if hasattr(executor, "terminate_workers"):  # Python >= 3.14
        executor.terminate_workers()
        return
    # Before 3.14 the pool has no public way to stop busy workers; its process table is the only handle.
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))  # the cores this process may use, not the machine's
    return os.cpu_count() or 1


@contextlib.contextmanager
def make_executor(kind: str = "local", workers: int | None = None, scheduler: str | None = None
                  ) -> Iterator[tuple[cf.Executor, str]]:
    """An executor and a short description of it, closed on exit.

    ``local``: ``workers`` processes (default: all cores). ``dask``: a client of
    the scheduler at ``scheduler`` (``tcp://host:8786``), or of a new local
    cluster of ``workers`` processes if no scheduler is given. ``serial``: this process.
    """
    if kind not in EXECUTORS:
        raise UsageError(f"--executor {kind!r}: expected one of {', '.join(EXECUTORS)}.")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: needs at least 1 worker.")
    if scheduler and kind != "dask":
        raise UsageError(f"--scheduler {scheduler}: only used with --executor dask.")
    if kind == "serial":
        yield _SerialExecutor(), "this process"
    elif kind == "local":
        n = workers or _cores()
        # forkserver/spawn: workers start clean, never inheriting the parent's threads or locks.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        ex = cf.ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context(method),
                                    initializer=_worker_init, initargs=(os.getpid(),))
        try:
            yield ex, f"{n} local process{'es' if n != 1 else ''}"
        except BaseException:
            _terminate(ex)
            raise
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
    else:
        with _dask_client(workers, scheduler) as (client, where):
            yield client.get_executor(), where


@contextlib.contextmanager
def _dask_client(workers: int | None, scheduler: str | None) -> Iterator[tuple[Any, str]]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--executor dask needs Dask: pip install 'bftlab[dask]'.") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot connect ({exc}).") from None
        with client:
            yield client, f"Dask scheduler {scheduler}"
        return
    n = workers or _cores()
    with LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        yield client, f"a local Dask cluster of {n} worker{'s' if n != 1 else ''}"


# ------------------------------------------------------------------ the driver
@dataclass(frozen=True)
class SweepOutcome:
    """What one invocation did: runs in the sweep, already stored before, run now, failed."""

    total: int
    already: int
    ran: int
    failed: tuple[tuple[str, str], ...]  # (run label, error)
    interrupted: bool


def run_missing(sweep: Sweep, store: Store, executor: cf.Executor, *, progress: bool = True,
                say: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                provenance: dict[str, Any] | None = None) -> SweepOutcome:
    """Run every run of ``sweep`` whose report is not in ``store``, storing each as it finishes.

    A failed run is reported and the others go on (its error is returned, not raised).
    KeyboardInterrupt cancels what has not started and returns ``interrupted=True``.
    """
    from tqdm import tqdm

    from bftlab.specs.spec import spec_from_dict, spec_to_yaml

    runs = sweep.runs
    missing = [r for r in runs if not store.has(r.key)]
    already = len(runs) - len(missing)
    bin_s = sweep.file.timeline_bin_s
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(runs), initial=already, desc=sweep.name, unit="run", disable=not progress or not missing,
               file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    futures: dict[cf.Future, Any] = {}
    try:
        futures = {executor.submit(run_one, r.spec, bin_s): r for r in missing}
        for fut in cf.as_completed(futures):
            run = futures[fut]
            try:
                report = fut.result()
            except Exception as exc:  # a bug in a run: keep the others going, report it at the end
                spec_path = store.save_spec(run.key, spec_to_yaml(spec_from_dict(run.spec, "<sweep run>")))
                failed.append((run.label(), f"{type(exc).__name__}: {exc}; replay: bftlab run {spec_path}"))
                bar.update(1)
                continue
            if report.get("version") != __version__:
                raise UsageError(f"a worker runs bftlab {report.get('version')}, this client {__version__}; "
                                 f"install the same version on every worker.")
            report = {**report, "provenance": {**(provenance or {}), "key": run.key, "sweep": sweep.file.name,
                                               "point": {k: v for k, v in run.point}}}
            store.save(run.key, report, spec_to_yaml(spec_from_dict(run.spec, "<sweep run>")))
            bar.update(1)
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()
        _terminate(executor)
        bar.close()
        done = sum(store.has(r.key) for r in runs)
        return SweepOutcome(len(runs), already, done - already, tuple(failed), True)
    bar.close()
    return SweepOutcome(len(runs), already, len(missing) - len(failed), tuple(failed), False)
