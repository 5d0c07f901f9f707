"""Real-time scheduling for the threads a part's decision waits on (issue 12, item 5).

Measured on the 2-core development machine with other work running (load 6-8) and
one busy-loop process, 600 parts/min, fast bundle (``tests/benchmarks/bench_line.py``):
at normal priority the decision p99 was 150-800 ms (the decision thread, or the
capture thread between stamping a frame and handing it over, waits for a time slice);
with the capture and decision threads under ``SCHED_FIFO`` it was 5-6 ms, the work
itself. Raising only the decision thread left a 25-30 ms tail: the frame waits in
the (normal) capture thread, and the GIL passes through it.

Linux grants ``SCHED_FIFO`` to a process with ``CAP_SYS_NICE`` or a real-time limit
(``ulimit -r``, systemd ``LimitRTPRIO=``); otherwise the thread stays as it was and
the answer says why. The kernel's real-time throttling (95% of each second by default)
keeps a runaway real-time thread from freezing the machine. On by default for live
line runs where the system permits it (measured: p99 3.8-4.8 ms at load 4-9 against
12-330 ms at normal priority); ``EDGECONSOLE_RT_PRIORITY=0`` turns it off (the test
suite does, so parallel workers never run real-time threads beside each other). Live
sources only: an offline file read as fast as the model allows would hold a core at
real-time priority. Where it is not permitted, the session says so once per run.

At normal priority the tail is run-queue time (the OS gave the core to other
programs), not the GIL (the decision thread's lock waits stayed under 2 ms headless):
measured with ``tests/benchmarks/probe_offcpu.py``. What an unprivileged thread could
set (a shorter EEVDF slice, a lower switch interval, niced helper threads) did not
change it; docs/RELIABILITY.md, line-rate section, lists the figures.
"""

from __future__ import annotations

import gc
import os
import threading

#: Real-time priorities (1-99): the decision thread above the capture thread feeding it.
DECISION_PRIORITY = 10
CAPTURE_PRIORITY = 5
ENV = "EDGECONSOLE_RT_PRIORITY"


def wanted() -> bool:
    """Whether the decision path should ask for real-time scheduling: yes unless
    ``ENV`` says no (0, false, no, off)."""
    return os.environ.get(ENV, "").strip().lower() not in ("0", "false", "no", "off")


def permitted(priority: int = DECISION_PRIORITY) -> str:
    """Empty when this process may put a thread under ``SCHED_FIFO`` at ``priority``,
    else why not (a sentence for the person at the station)."""
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_FIFO"):
        return "this system has no real-time scheduling"
    import resource

    return refusal(os.geteuid(), resource.getrlimit(resource.RLIMIT_RTPRIO)[0], priority)


def refusal(euid: int, rtprio_limit: int, priority: int = DECISION_PRIORITY) -> str:
    """Why a process of ``euid`` whose ``ulimit -r`` is ``rtprio_limit`` may not run a
    thread at real-time ``priority`` (empty: it may). Root is assumed to hold
    CAP_SYS_NICE; a container that drops it is seen when the thread asks."""
    if euid == 0 or rtprio_limit >= priority:
        return ""
    return (
        f"real-time priority is not permitted for this user (ulimit -r is {rtprio_limit}; "
        f"{priority} needed)"
    )


def realtime_thread(priority: int) -> str:
    """Put the calling thread under ``SCHED_FIFO`` at ``priority`` (Linux: per thread;
    threads it starts later inherit it). Returns what the thread runs at, e.g.
    ``"SCHED_FIFO 10"``, or ``"normal (...)"`` with the reason it could not."""
    if not 1 <= priority <= 99:
        raise ValueError(f"a real-time priority is 1..99, not {priority}")
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_FIFO"):
        return "normal (no real-time scheduling on this system)"
    try:
        # Linux schedules threads: the calling thread's id, not the process's.
        tid = threading.get_native_id()
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        return "normal (not permitted: needs CAP_SYS_NICE or ulimit -r)"
    except OSError as exc:
        return f"normal ({exc.strerror or exc})"
    return f"SCHED_FIFO {priority}"


def current() -> str:
    """What the calling thread runs at: ``"SCHED_FIFO 10"``, ``"normal"``, ``"nice 10"``."""
    if not hasattr(os, "sched_getscheduler"):
        return "normal"
    tid = threading.get_native_id()
    policy = os.sched_getscheduler(tid)
    if policy in (getattr(os, "SCHED_FIFO", -1), getattr(os, "SCHED_RR", -1)):
        name = "SCHED_FIFO" if policy == os.SCHED_FIFO else "SCHED_RR"
        return f"{name} {os.sched_getparam(tid).sched_priority}"
    if policy == getattr(os, "SCHED_IDLE", -1):
        return "SCHED_IDLE"
    nice = os.getpriority(os.PRIO_PROCESS, tid)
    return "normal" if nice == 0 else f"nice {nice}"


def lower_thread_priority(increment: int = 10) -> None:
    """Nice the calling thread only (Linux: per thread); threads it starts inherit it.
    The opposite of ``realtime_thread``: work that must leave the window (or the
    decision path) its time slices."""
    try:
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment)
        )
    except (AttributeError, OSError):
        pass  # not supported here: run at normal priority


def settle_heap() -> int:
    """A process that must keep time (the virtual PLC's scan) moves what it has built so
    far out of the cyclic collector's sight (``gc.freeze``) and returns how many objects
    that was. CPython's full collection walks every long-lived object; in ``sim plc`` it
    stalled the PLC's thread 15-30 ms at a fixed part number (the same two parts missed
    in two 10,000-part runs of bench_plc). Objects made later are still collected."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
