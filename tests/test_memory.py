"""Memory given back after each step of the night (leadrank.memory.release_after_step)."""

import gc

import pytest

from leadrank import memory, night


def _record_release(monkeypatch, resident: float | None) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(memory, "resident_mb", lambda: resident)
    monkeypatch.setattr(memory.gc, "collect", lambda: calls.append("gc") or 0)
    monkeypatch.setattr(memory, "release_memory", lambda rows: calls.append(f"release {rows}"))
    return calls


@pytest.mark.parametrize(("resident", "expected"), [
    (memory.RELEASE_FROM_MB * 4, ["gc", f"release {memory.RELEASE_FROM_ROWS}"]),
    (None, ["gc", f"release {memory.RELEASE_FROM_ROWS}"]),  # no /proc: released anyway
    (memory.RELEASE_FROM_MB / 4, []),  # a small process (a test's run) is left alone
])
def test_a_large_process_collects_and_gives_memory_back_after_a_step(monkeypatch, resident, expected):
    calls = _record_release(monkeypatch, resident)
    memory.release_after_step()
    assert calls == expected


def test_every_step_gives_memory_back_when_it_ends_or_fails(monkeypatch):
    calls = _record_release(monkeypatch, memory.RELEASE_FROM_MB * 4)
    tonight = night.Night("r1", None)
    assert night.Step("ok", "ok", "ok", (), (), call=lambda n: n.run_id).run(tonight) == "r1"
    assert calls == ["gc", f"release {memory.RELEASE_FROM_ROWS}"]

    def broken(_):
        raise ValueError("step failed")

    with pytest.raises(ValueError, match="step failed"):
        night.Step("bad", "bad", "bad", (), (), call=broken).run(tonight)
    assert calls == ["gc", f"release {memory.RELEASE_FROM_ROWS}"] * 2


def test_resident_size_is_read_where_proc_is():
    size = memory.resident_mb()
    assert size is None or 10 < size < 1_000_000


def test_paused_gc_pauses_the_collector_until_the_last_block_in_any_thread_ends():
    """Steps run as threads of one process: a block ending in one thread must not turn the
    collector back on under another's, nor leave it off after both."""
    import threading

    from leadrank.memory import paused_gc

    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused_gc():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with paused_gc():
        assert not gc.isenabled()
        thread.start()
        assert inside.wait(5)
    assert not gc.isenabled()  # the other thread's block is still open
    release.set()
    thread.join(5)
    assert gc.isenabled()
    gc.disable()
    try:  # off before: stays off
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
