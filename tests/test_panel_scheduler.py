"""The panel's worker: newest request wins, bursts are debounced (msem_nb.widget.scheduler)."""

import threading
import time

import pytest

from msem_nb.widget.scheduler import Scheduler


def test_a_newer_request_supersedes_a_running_job():
    started = threading.Event()
    release = threading.Event()
    shown, ran = [], []

    def job(payload, publish):
        ran.append(payload)
        if payload == "slow":
            started.set()
            release.wait(5)
        publish(lambda: shown.append(payload))

    s = Scheduler(job, debounce=0.0)
    try:
        s.request("slow")
        assert started.wait(5)
        s.request("fast")            # arrives while "slow" is still fitting
        release.set()
        assert s.wait(5)
        assert ran == ["slow", "fast"]
        assert shown == ["fast"]     # the stale result was never shown
    finally:
        s.close()


def test_publish_reports_staleness_so_jobs_can_stop_early():
    results = []
    gate = threading.Event()

    def job(payload, publish):
        gate.wait(5)
        results.append(publish(lambda: None))

    s = Scheduler(job, debounce=0.0)
    try:
        s.request(1)
        time.sleep(0.05)
        s.request(2)
        gate.set()
        assert s.wait(5)
        assert results == [False, True]
    finally:
        s.close()


def test_a_burst_is_fitted_once_and_a_lone_click_at_once():
    ran = []
    s = Scheduler(lambda p, publish: ran.append((p, time.monotonic())), debounce=0.2)
    try:
        t0 = time.monotonic()
        s.request("click")
        assert s.wait(5)
        assert ran[0][0] == "click" and ran[0][1] - t0 < 0.15     # leading edge: no wait
        time.sleep(0.25)
        ran.clear()
        for k in range(5):           # typing: five changes 20 ms apart
            s.request(f"key{k}", immediate=False)
            time.sleep(0.02)
        assert s.wait(5)
        assert [p for p, _ in ran] == ["key4"]
    finally:
        s.close()


def test_on_request_and_crashes_are_reported_under_the_lock():
    seen = []

    def job(payload, publish):
        raise RuntimeError("boom")

    s = Scheduler(job, debounce=0.0, on_request=lambda g, p: seen.append(("req", g)),
                  on_crash=lambda g, e: seen.append(("crash", g, str(e))))
    try:
        s.request("x")
        assert s.wait(5)
        assert seen == [("req", 1), ("crash", 1, "boom")]
        s.request("y")               # the worker survived
        assert s.wait(5)
        assert seen[-1] == ("crash", 2, "boom")
    finally:
        s.close()
    with pytest.raises(RuntimeError):
        s.request("z")


def test_wait_times_out():
    gate = threading.Event()
    s = Scheduler(lambda p, publish: gate.wait(5), debounce=0.0)
    try:
        s.request(None)
        assert s.wait(0.05) is False
        gate.set()
        assert s.wait(5) is True
    finally:
        s.close()
