"""EngineService: one request at a time, a bounded line, cancellation, crash recovery."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import pytest

from app.engine import LoadParams
from app.events import Event, EventKind
from app.request import ChatMessage, GenerationRequest
from app.server.service import (
    EngineService,
    QueueFullError,
    ServiceClosedError,
    ServiceState,
    model_id_for,
)
from app.server.testing import FakeEngineClient, loaded_fake

PARAMS = LoadParams("/models/fake-model.gguf")


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def ask(text: str = "hello", **kwargs: object) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), **kwargs)  # type: ignore[arg-type]


class Collector:
    """A sink that records events and lets a test wait for the end."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.done = threading.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.kind in (EventKind.DONE, EventKind.ERROR):
            self.done.set()

    def wait(self, timeout: float = 5.0) -> list[Event]:
        assert self.done.wait(timeout), "the request did not finish"
        return self.events

    @property
    def last(self) -> Event:
        return self.events[-1]

    def text(self, kind: EventKind) -> str:
        return "".join(e.text for e in self.events if e.kind is kind)


@pytest.fixture
def fake() -> FakeEngineClient:
    return loaded_fake()


@pytest.fixture
def service(fake: FakeEngineClient) -> Iterator[EngineService]:
    with EngineService(PARAMS, client=fake) as svc:
        yield svc


def test_model_id_from_file_name() -> None:
    assert model_id_for("/m/Qwen3-8B-Q4_K_M.gguf") == "Qwen3-8B-Q4_K_M"
    assert model_id_for("big-model-00001-of-00003.gguf") == "big-model"
    assert EngineService(PARAMS, client=loaded_fake(), model_id="mine").model_id == "mine"


def test_runs_a_request_to_the_end(service: EngineService) -> None:
    sink = Collector()
    service.submit(ask("hi"), sink)
    events = sink.wait()
    assert sink.text(EventKind.CONTENT) == "You said: hi"
    assert sink.text(EventKind.REASONING) == "Let me think about it."
    assert [e.kind for e in events[-2:]] == [EventKind.STATS, EventKind.DONE]
    assert not service.busy and service.queued == 0


def test_requests_run_one_at_a_time_in_order(
    fake: FakeEngineClient, service: EngineService
) -> None:
    fake.hold = threading.Event()
    sinks = [Collector() for _ in range(4)]
    for i, sink in enumerate(sinks):
        service.submit(ask(f"q{i}"), sink)
    wait_until(lambda: service.busy and service.queued == 3)
    fake.hold.set()
    for sink in sinks:
        sink.wait()
    assert [r.messages[-1].content for r in fake.requests] == ["q0", "q1", "q2", "q3"]
    assert all(s.last.kind is EventKind.DONE for s in sinks)


def test_queue_limit_refuses_beyond_the_limit(
    fake: FakeEngineClient, service: EngineService
) -> None:
    fake.hold = threading.Event()
    running, waiting = Collector(), Collector()
    service.submit(ask(), running, queue_limit=1)
    wait_until(lambda: service.busy and service.queued == 0)
    service.submit(ask(), waiting, queue_limit=1)
    with pytest.raises(QueueFullError) as err:
        service.submit(ask(), Collector(), queue_limit=1)
    assert err.value.limit == 1
    service.submit(ask(), Collector())  # the desktop app's own requests have no limit
    fake.hold.set()
    running.wait()
    waiting.wait()


def test_queue_limit_zero_allows_one_running_request(service: EngineService) -> None:
    sink = Collector()
    service.submit(ask(), sink, queue_limit=0)
    sink.wait()


def test_cancelling_a_waiting_job_skips_it(fake: FakeEngineClient, service: EngineService) -> None:
    fake.hold = threading.Event()
    first, second = Collector(), Collector()
    service.submit(ask("one"), first)
    wait_until(lambda: service.busy and service.queued == 0)
    job = service.submit(ask("two"), second)
    job.cancel()
    assert second.wait()[-1].data["finish_reason"] == "cancelled"  # at once, not in turn
    assert service.queued == 0
    fake.hold.set()
    first.wait()
    assert second.wait()[-1].data["finish_reason"] == "cancelled"
    assert [r.messages[-1].content for r in fake.requests] == ["one"]


def test_cancelling_a_running_job_stops_the_engine() -> None:
    fake = loaded_fake(token_delay=0.02)
    with EngineService(PARAMS, client=fake) as service:
        sink = Collector()
        job = service.submit(ask("a long question " * 20), sink)
        wait_until(lambda: sink.events)
        job.cancel()
        events = sink.wait()
    assert events[-1].data["finish_reason"] == "cancelled"
    assert len(events) < 10


def test_a_sink_that_fails_cancels_its_request() -> None:
    fake = loaded_fake(token_delay=0.01)

    def broken(event: Event) -> None:
        raise RuntimeError("event loop closed")

    with EngineService(PARAMS, client=fake) as service:
        service.submit(ask("x " * 50), broken)
        after = Collector()
        service.submit(ask("next"), after)
        after.wait()
    assert fake.cancels >= 1
    assert after.text(EventKind.CONTENT) == "You said: next"


def test_crash_fails_the_request_in_flight_and_restarts(
    fake: FakeEngineClient, service: EngineService
) -> None:
    fake.crash_after = 3
    states: queue.Queue[ServiceState] = queue.Queue()
    service.add_listener(states.put)
    crashed, after = Collector(), Collector()
    service.submit(ask(), crashed)
    service.submit(ask("again"), after)
    assert crashed.wait()[-1].kind is EventKind.ERROR
    assert crashed.last.data["crashed"] is True
    assert after.wait()[-1].kind is EventKind.DONE
    assert fake.restarts == 1
    assert service.state.restarts == 1 and service.state.ready
    seen = []
    while not states.empty():
        seen.append(states.get())
    assert any(s.busy for s in seen) and not seen[-1].busy


def test_failed_restart_reports_unavailable_then_recovers(
    fake: FakeEngineClient, service: EngineService
) -> None:
    fake.crash_after = 0
    fake.fail_restart = True
    first = Collector()
    service.submit(ask(), first)
    assert first.wait()[-1].data["crashed"] is True
    wait_until(lambda: not service.busy)
    assert not service.state.ready
    second = Collector()
    service.submit(ask(), second)
    assert second.wait()[-1].kind is EventKind.ERROR
    assert "unavailable" in second.last.text
    fake.fail_restart = False
    third = Collector()
    service.submit(ask("ok now"), third)
    assert third.wait()[-1].kind is EventKind.DONE


def test_close_fails_waiting_jobs_and_refuses_new_ones(fake: FakeEngineClient) -> None:
    fake.hold = threading.Event()
    service = EngineService(PARAMS, client=fake)
    running, waiting = Collector(), Collector()
    service.submit(ask(), running)
    wait_until(lambda: service.busy and service.queued == 0)
    service.submit(ask(), waiting)
    service.close()
    assert waiting.wait()[-1].kind is EventKind.ERROR
    assert waiting.last.data.get("shutdown") is True
    assert running.wait()[-1].data.get("finish_reason") == "cancelled"
    with pytest.raises(ServiceClosedError):
        service.submit(ask(), Collector())
    assert not fake.closed  # a client passed in belongs to the caller


def test_load_uses_an_already_loaded_client() -> None:
    fake = loaded_fake()
    service = EngineService(PARAMS, client=fake)
    assert service.load() is fake.info
    unloaded = FakeEngineClient()
    service2 = EngineService(PARAMS, client=unloaded)
    assert service2.load().path == PARAMS.model_path
