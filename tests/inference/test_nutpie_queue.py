"""nutpie runs sample one at a time: a run started meanwhile waits, compiled, for its turn."""

from __future__ import annotations

import threading
import time

import pytest

from grassroots.inference import sampling


class FakeSampler:
    """What ``nutpie.sample(..., blocking=False)`` returns, finished when told."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name, self.finished, self.cancelled = log, name, False, False

    @property
    def is_finished(self) -> bool:
        if not self.finished:  # as nutpie 0.16 answers while its chains run
            raise TimeoutError("Timeout while waiting for sampler to finish")
        return True

    def wait(self) -> str:
        while not self.finished:
            time.sleep(0.01)
        return f"trace of {self.name}"

    def cancel(self) -> None:
        self.cancelled = True
        self.log.append(f"cancel {self.name}")


@pytest.fixture
def runs(monkeypatch):
    """Runs on a fresh queue; ``wait()`` returns the fake trace without PyMC's cleaning."""
    monkeypatch.setattr(sampling, "_clean", lambda trace: trace)
    queue, log, samplers = sampling._NutpieQueue(), [], {}

    def make(name: str) -> sampling._NutpieRun:
        def start() -> FakeSampler:
            log.append(f"start {name}")
            samplers[name] = FakeSampler(log, name)
            return samplers[name]

        return sampling._NutpieRun(start, 0.0, False, queue)

    return make, log, samplers


def eventually(condition, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_second_run_starts_when_the_first_finishes(runs):
    make, log, samplers = runs
    first, second, third = make("a"), make("b"), make("c")
    time.sleep(0.3)
    assert log == ["start a"], "b and c wait, compiled, while a samples"
    samplers["a"].finished = True
    assert eventually(lambda: log == ["start a", "start b"])
    time.sleep(0.2)
    assert log == ["start a", "start b"]
    samplers["b"].finished = True
    assert eventually(lambda: log == ["start a", "start b", "start c"])
    samplers["c"].finished = True
    assert [run.wait().trace for run in (second, first, third)] == [
        "trace of b",
        "trace of a",
        "trace of c",
    ]


def test_sampling_seconds_run_from_the_start_to_the_end_of_the_chains(runs):
    make, _, samplers = runs
    first, second = make("a"), make("b")
    time.sleep(0.4)  # b waits for its turn: not counted
    samplers["a"].finished = True
    assert eventually(lambda: "b" in samplers)
    samplers["b"].finished = True
    time.sleep(0.4)  # b's draws asked for late: not counted either
    assert first.wait().sample_seconds >= 0.4
    assert second.wait().sample_seconds < 0.3


def test_draws_asked_for_before_their_turn_start_the_run_at_once(runs):
    make, log, samplers = runs
    make("a")
    second = make("b")
    assert log == ["start a"]
    # Asking for b's draws starts b beside a (the caller needs them now).
    waiting = threading.Thread(target=second.wait)
    waiting.start()
    assert eventually(lambda: log == ["start a", "start b"])
    samplers["b"].finished = True
    waiting.join(5)
    assert not waiting.is_alive()
    samplers["a"].finished = True


def test_a_cancelled_run_does_not_start_the_next(runs):
    make, log, samplers = runs
    first, second = make("a"), make("b")
    first.cancel()
    time.sleep(0.3)
    assert log == ["start a", "cancel a"]
    second.cancel()
    assert log == ["start a", "cancel a"], "b never started, so nothing to stop"
    third = make("c")
    assert log[-1] == "start c", "the queue is free again"
    samplers["c"].finished = True
    assert third.wait().trace == "trace of c"


def test_a_run_that_fails_to_start_raises_on_wait_and_frees_its_turn(runs, monkeypatch):
    make, log, samplers = runs
    queue = sampling._NutpieQueue()

    def broken():
        raise RuntimeError("no initial point")

    failing = sampling._NutpieRun(broken, 0.0, False, queue)
    with pytest.raises(RuntimeError, match="no initial point"):
        failing.wait()
    started = []
    sampling._NutpieRun(lambda: started.append(1) or FakeSampler(log, "x"), 0.0, False, queue)
    assert started == [1]
