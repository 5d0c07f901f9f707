"""Real-time scheduling of the decision path's threads: granted where the system permits
it, refused with the reason where it does not, one thread at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from edgeconsole.core import sched


def _in_thread(fn: object) -> tuple[str, str]:
    """(what fn returned, what the thread then runs at), from a fresh thread."""
    out: list[str] = []

    def body() -> None:
        out.append(fn())  # type: ignore[operator]
        out.append(sched.current())

    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    assert not t.is_alive()
    return out[0], out[1]


def _permitted() -> bool:
    return os.geteuid() == 0 or _rtprio_limit() >= 7


def _rtprio_limit() -> int:
    import resource

    return int(resource.getrlimit(resource.RLIMIT_RTPRIO)[0])


def test_a_thread_gets_real_time_scheduling_where_permitted_and_only_that_thread() -> None:
    before = sched.current()
    got, now = _in_thread(lambda: sched.realtime_thread(7))
    if _permitted():
        assert got == now == "SCHED_FIFO 7"
    else:
        assert got.startswith("normal (") and now == before
    assert sched.current() == before  # the calling thread is untouched


def test_refused_with_the_reason_when_not_permitted() -> None:
    if os.geteuid() == 0:
        # Root may always: ask as an unprivileged user with no real-time limit instead.
        code = (
            # Imports first: the interpreter's files may not be readable by "nobody".
            "import os, resource; from edgeconsole.core import sched; "
            "resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0)); "
            "os.setgid(65534); os.setuid(65534); "
            "print(sched.realtime_thread(10)); print(sched.current())"
        )
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert res.returncode == 0, res.stderr
        got, now = res.stdout.splitlines()
    else:
        if _rtprio_limit() >= 10:
            pytest.skip("this account may use real-time priorities")
        got, now = _in_thread(lambda: sched.realtime_thread(10))
    assert got == "normal (not permitted: needs CAP_SYS_NICE or ulimit -r)"
    assert now == "normal"


@pytest.mark.parametrize("priority", [0, 100, -1])
def test_a_priority_outside_1_to_99_is_refused(priority: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.99"):
        sched.realtime_thread(priority)


@pytest.mark.parametrize(
    ("value", "wanted"),
    [("1", True), ("yes", True), ("", True), ("0", False), ("off", False), (" No ", False)],
)
def test_real_time_is_asked_for_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, value: str, wanted: bool
) -> None:
    monkeypatch.setenv(sched.ENV, value)
    assert sched.wanted() is wanted
    monkeypatch.delenv(sched.ENV)
    assert sched.wanted() is True


def test_permitted_says_why_not_in_a_sentence() -> None:
    assert sched.refusal(0, 0) == ""  # root (CAP_SYS_NICE)
    assert sched.refusal(1000, 99) == ""
    assert sched.refusal(1000, 10, priority=10) == ""
    why = sched.refusal(1000, 0)
    assert why == ("real-time priority is not permitted for this user (ulimit -r is 0; 10 needed)")
    assert "ulimit -r is 5" in sched.refusal(1000, 5, priority=10)
