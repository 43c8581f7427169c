"""How a sweep's local workers start: fork when nothing but the main thread runs (Linux), else spawn."""

import multiprocessing
import subprocess
import sys
import threading

import pytest

from abm.simulation.sweep import _worker_context


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")
def test_workers_fork_when_only_the_main_thread_runs():
    # In a fresh interpreter: the test process itself may run other threads (left by other tests).
    code = ("import multiprocessing; from abm.simulation.sweep import _worker_context; "
            "print(_worker_context(multiprocessing).get_start_method())")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "fork"


def test_workers_spawn_while_another_thread_runs():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert _worker_context(multiprocessing).get_start_method() == "spawn"
    finally:
        stop.set()
        thread.join()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")
def test_a_forked_worker_does_not_keep_the_sweep_folder_locked(tmp_path):
    import fcntl

    from abm.simulation.sweep import _Lock

    ready, release = multiprocessing.get_context("fork").Event(), multiprocessing.get_context("fork").Event()
    child = multiprocessing.get_context("fork").Process(target=_wait_for, args=(ready, release))
    with _Lock(tmp_path):
        child.start()
        assert ready.wait(10)
    try:  # the sweep released its lock while its forked child lives on: another sweep may take it
        with open(tmp_path / ".lock", "a+") as other:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        release.set()
        child.join(10)


def _wait_for(ready, release):
    ready.set()
    release.wait(10)
