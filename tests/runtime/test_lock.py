"""telethon_lock and serialized (issue 2): reentrancy, FIFO, cancellation, loops and threads, misuse,
deadlock detection, wait_timeout, the hold warning and the decorator.

Tasks are ordered with asyncio.Events; "until" helpers only yield to the loop until a state is reached.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import telethon_guard
from telethon_guard import (
    LockDeadlockError,
    LockTimeoutError,
    TelethonGuardError,
    serialized,
    telethon_lock,
)
from telethon_guard.lock import TelethonLock
from telethon_guard.stats import COUNTERS

HERE = "test_lock.py:"


pytestmark = pytest.mark.usefixtures("lock_is_free")


async def until(predicate: Callable[[], bool], *, limit: int = 10_000) -> None:
    """Yield to the event loop until ``predicate()`` holds (a state, never a duration)."""
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("state never reached")


def waiting() -> int:
    return telethon_lock._snapshot()[2]


async def take_turn(wait_timeout: float | None = None) -> bool:
    """Acquire (maybe with a timeout), report whether this task held it, release."""
    async with telethon_lock(wait_timeout=wait_timeout):
        return telethon_lock._owned_by_current_task()


# --------------------------------------------------------------------------------------------------------
# Basics and reentrancy
# --------------------------------------------------------------------------------------------------------
async def test_async_with_holds_and_frees_the_lock() -> None:
    assert telethon_guard.telethon_lock is telethon_lock
    assert not telethon_lock.locked() and telethon_lock.owner is None
    async with telethon_lock:
        assert telethon_lock.locked()
        assert telethon_lock.owner is asyncio.current_task()
        assert telethon_lock._owned_by_current_task()
        name, site, n = telethon_lock._snapshot()
        assert name == asyncio.current_task().get_name()  # type: ignore[union-attr]
        assert site is not None and HERE in site and n == 0
    assert not telethon_lock.locked() and telethon_lock.owner is None
    assert await telethon_lock.acquire() is True
    telethon_lock.release()
    assert not telethon_lock._owned_by_current_task()


def test_owned_by_current_task_outside_a_loop_is_false() -> None:
    loop = asyncio.new_event_loop()
    release = asyncio.Event()
    holder = loop.create_task(take_turn_until(release))
    loop.run_until_complete(until(lambda: telethon_lock.owner is holder))
    assert telethon_lock._owned_by_current_task() is False  # held, but not by "us": no loop here
    release.set()
    loop.run_until_complete(holder)
    loop.close()


async def test_reentrant_for_the_owner_only_outermost_release_frees() -> None:
    before = COUNTERS.acquisitions
    got_it = asyncio.Event()

    async def other() -> None:
        async with telethon_lock:
            got_it.set()

    async with telethon_lock:
        other_task = asyncio.create_task(other())
        await until(lambda: waiting() == 1)
        async with telethon_lock:
            await telethon_lock.acquire()
            async with telethon_lock(wait_timeout=0.01):
                assert telethon_lock.owner is asyncio.current_task()
            telethon_lock.release()
        # Inner releases left it held: the other task is still queued.
        assert telethon_lock.owner is asyncio.current_task()
        assert not got_it.is_set() and waiting() == 1
    await other_task
    assert got_it.is_set()
    assert COUNTERS.acquisitions - before == 2  # outermost acquisitions only


async def test_holder_cancelled_inside_async_with_releases() -> None:
    inside = asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(holder())
    await inside.wait()
    waiter = asyncio.create_task(take_turn())
    await until(lambda: waiting() == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await waiter is True


# --------------------------------------------------------------------------------------------------------
# FIFO and cancellation
# --------------------------------------------------------------------------------------------------------
async def test_fifo_order_and_no_barging() -> None:
    order: list[int] = []
    release = asyncio.Event()

    async def worker(i: int) -> None:
        async with telethon_lock:
            order.append(i)

    async with telethon_lock:
        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(worker(i)))
            await until(lambda i=i: waiting() == i + 1)  # type: ignore[misc]
        release.set()
    # The lock went straight to worker 0: a newcomer cannot barge in ahead of the queue.
    late = asyncio.create_task(worker(99))
    await asyncio.gather(*tasks, late)
    assert order == [0, 1, 2, 3, 4, 5, 99]


async def test_cancelled_waiter_leaves_the_queue() -> None:
    order: list[str] = []

    async def worker(name: str) -> None:
        async with telethon_lock:
            order.append(name)

    async with telethon_lock:
        a = asyncio.create_task(worker("a"))
        await until(lambda: waiting() == 1)
        b = asyncio.create_task(worker("b"))
        await until(lambda: waiting() == 2)
        c = asyncio.create_task(worker("c"))
        await until(lambda: waiting() == 3)
        b.cancel()
        await until(lambda: waiting() == 2)
    await asyncio.gather(a, c)
    with pytest.raises(asyncio.CancelledError):
        await b
    assert order == ["a", "c"]


async def test_handed_off_then_cancelled_passes_the_lock_on() -> None:
    """The classic race: the lock is handed to a waiter and that waiter is cancelled in the same step."""
    order: list[str] = []

    async def worker(name: str) -> None:
        async with telethon_lock:
            order.append(name)

    await telethon_lock.acquire()
    first = asyncio.create_task(worker("first"))
    await until(lambda: waiting() == 1)
    second = asyncio.create_task(worker("second"))
    await until(lambda: waiting() == 2)
    telethon_lock.release()  # hands the lock to `first` (its future gets a result) ...
    assert telethon_lock.owner is first
    first.cancel()  # ... and `first` is cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert order == ["second"]


async def test_cancelled_then_released_skips_the_cancelled_waiter() -> None:
    order: list[str] = []

    async def worker(name: str) -> None:
        async with telethon_lock:
            order.append(name)

    await telethon_lock.acquire()
    first = asyncio.create_task(worker("first"))
    await until(lambda: waiting() == 1)
    second = asyncio.create_task(worker("second"))
    await until(lambda: waiting() == 2)
    first.cancel()  # its future is cancelled, its task has not run yet ...
    telethon_lock.release()  # ... so the release skips it
    assert telethon_lock.owner is second
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert order == ["second"]


async def test_many_cancellations_under_contention_never_leak() -> None:
    done: list[int] = []
    in_section = 0

    async def worker(i: int) -> None:
        nonlocal in_section
        async with telethon_lock:
            in_section += 1
            try:
                assert in_section == 1
                await asyncio.sleep(0)
            finally:
                in_section -= 1
            done.append(i)

    tasks = [asyncio.create_task(worker(i)) for i in range(200)]
    await until(lambda: waiting() > 100)
    for t in tasks[::3]:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
    assert len(done) + cancelled == 200 and cancelled > 0
    assert done == sorted(done)  # FIFO among the survivors


# --------------------------------------------------------------------------------------------------------
# Event loops and threads
# --------------------------------------------------------------------------------------------------------
def test_works_across_several_asyncio_run_calls() -> None:
    async def round_trip(n: int) -> list[int]:
        order: list[int] = []

        async def worker(i: int) -> None:
            async with telethon_lock:
                async with telethon_lock:
                    order.append(i)

        async with telethon_lock:
            tasks = [asyncio.create_task(worker(i)) for i in range(n)]
            await until(lambda: waiting() == n)
        await asyncio.gather(*tasks)
        return order

    for _ in range(4):
        assert asyncio.run(round_trip(5)) == [0, 1, 2, 3, 4]
    assert not telethon_lock.locked()


def test_a_waiter_left_at_loop_shutdown_does_not_poison_the_next_loop() -> None:
    async def first() -> None:
        await telethon_lock.acquire()
        pending = asyncio.create_task(
            telethon_lock.acquire()
        )  # cancelled by asyncio.run's shutdown
        await until(lambda: waiting() == 1)
        telethon_lock.release()
        assert telethon_lock.owner is pending
        # The waiter was handed the lock; asyncio.run cancels it before it runs: it passes it on.

    asyncio.run(first())

    async def second() -> bool:
        async with telethon_lock(wait_timeout=5):
            return telethon_lock._owned_by_current_task()

    assert asyncio.run(second())


def test_two_threads_with_their_own_loops_exclude_each_other() -> None:
    in_section = 0
    overlaps = 0
    counts = [0, 0]
    errors: list[BaseException] = []

    async def hammer(slot: int, n: int) -> None:
        nonlocal in_section, overlaps

        async def one() -> None:
            nonlocal in_section, overlaps
            async with telethon_lock:
                in_section += 1
                if in_section != 1:
                    overlaps += 1
                await asyncio.sleep(0)
                in_section -= 1
                counts[slot] += 1

        await asyncio.gather(*(one() for _ in range(n)))

    def run_thread() -> None:
        try:
            asyncio.run(hammer(1, 1500))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=run_thread)
    thread.start()
    asyncio.run(hammer(0, 1500))
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors
    assert counts == [1500, 1500] and overlaps == 0
    assert not telethon_lock.locked()


def test_a_waiter_on_another_threads_loop_is_woken_by_the_release() -> None:
    main_holds = threading.Event()
    thread_got_it = threading.Event()
    thread_release = threading.Event()
    result: dict[str, Any] = {}

    async def in_thread() -> None:
        await asyncio.get_running_loop().run_in_executor(None, main_holds.wait)
        async with telethon_lock:
            result["owner_ok"] = telethon_lock._owned_by_current_task()
            thread_got_it.set()
            await asyncio.get_running_loop().run_in_executor(None, thread_release.wait)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with telethon_lock:
            main_holds.set()
            await until(lambda: waiting() == 1, limit=10**7)
            assert not thread_got_it.is_set()
        assert await loop.run_in_executor(None, thread_got_it.wait, 10)
        # Now the other thread holds it; this loop waits and is woken from that thread.
        waiter = asyncio.create_task(take_turn(wait_timeout=10))
        await until(lambda: waiting() == 1)
        thread_release.set()
        assert await waiter is True

    thread = threading.Thread(target=lambda: asyncio.run(in_thread()))
    thread.start()
    try:
        asyncio.run(main())
    finally:
        thread_release.set()
        main_holds.set()
        thread.join(timeout=30)
    assert result == {"owner_ok": True}


def test_a_waiter_whose_loop_closed_is_skipped() -> None:
    loop0 = asyncio.new_event_loop()
    loop1 = asyncio.new_event_loop()
    release = asyncio.Event()
    holder = loop0.create_task(take_turn_until(release))
    loop0.run_until_complete(until(lambda: telethon_lock.owner is holder))
    stranded = loop1.create_task(take_turn())
    loop1.run_until_complete(until(lambda: waiting() == 1))
    loop1.close()  # `stranded` waits forever on a closed loop
    release.set()
    loop0.run_until_complete(holder)
    assert not telethon_lock.locked() and waiting() == 0  # skipped, not handed the lock
    assert loop0.run_until_complete(take_turn(wait_timeout=5))
    loop0.close()
    stranded._log_destroy_pending = False  # type: ignore[attr-defined]


async def take_turn_until(event: asyncio.Event) -> None:
    async with telethon_lock:
        await event.wait()


# --------------------------------------------------------------------------------------------------------
# Dead holders
# --------------------------------------------------------------------------------------------------------
async def test_holder_that_finished_without_releasing_is_reaped_with_an_error_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def sloppy() -> None:
        await telethon_lock.acquire()  # and never releases

    task = asyncio.create_task(sloppy(), name="sloppy-task")
    await task
    assert telethon_lock.owner is task
    with caplog.at_level(logging.ERROR, logger="telethon_guard"):
        async with telethon_lock(wait_timeout=5):
            assert telethon_lock._owned_by_current_task()
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name == "telethon_guard"
    ]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "sloppy-task" in message and "finished without releasing" in message
    assert HERE in message  # where it acquired


async def test_dead_holder_is_reaped_while_others_already_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    go = asyncio.Event()

    async def sloppy() -> None:
        await telethon_lock.acquire()
        await go.wait()  # then returns holding the lock

    holder = asyncio.create_task(sloppy(), name="returns-holding")
    await until(lambda: telethon_lock.owner is holder)
    waiter = asyncio.create_task(telethon_lock.acquire(wait_timeout=5))
    await until(lambda: waiting() == 1)
    with caplog.at_level(logging.ERROR, logger="telethon_guard"):
        go.set()
        await holder
        assert await waiter is True  # found by the periodic check while it waited
    assert "returns-holding" in caplog.text
    assert telethon_lock.owner is waiter
    async with telethon_lock:  # reaps `waiter`, which also finished holding it
        pass


def test_holder_on_a_closed_loop_is_reaped(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    holding = None

    async def start_holder() -> None:
        nonlocal holding

        async def hold_forever() -> None:
            await telethon_lock.acquire()
            await asyncio.Event().wait()

        holding = asyncio.create_task(hold_forever(), name="orphaned-holder")
        await until(lambda: telethon_lock.owner is holding)

    loop.run_until_complete(start_holder())
    loop.close()  # the holder is still pending, forever
    assert holding is not None and not holding.done()

    async def later() -> bool:
        async with telethon_lock(wait_timeout=5):
            return telethon_lock._owned_by_current_task()

    with caplog.at_level(logging.ERROR, logger="telethon_guard"):
        assert asyncio.run(later())
    assert "orphaned-holder" in caplog.text and "closed event loop" in caplog.text
    holding._log_destroy_pending = False  # type: ignore[attr-defined]  # silence asyncio's "Task was destroyed but it is pending"


# --------------------------------------------------------------------------------------------------------
# Used from the wrong place
# --------------------------------------------------------------------------------------------------------
def _assert_clean(exc: BaseException) -> None:
    """A misuse error carries no internal exception context (no chained traceback)."""
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


def test_sync_with_is_refused_with_a_clear_message() -> None:
    with pytest.raises(TelethonGuardError) as info:
        with telethon_lock:
            pass
    message = str(info.value)
    assert "async with telethon_lock" in message and HERE in message
    with pytest.raises(TelethonGuardError, match="async with telethon_lock"):
        with telethon_lock(wait_timeout=1):  # type: ignore[attr-defined]
            pass
    assert not telethon_lock.locked()


def test_acquire_and_release_without_a_running_loop() -> None:
    coro = telethon_lock.acquire()
    with pytest.raises(TelethonGuardError) as info:
        coro.send(None)
    assert "no running asyncio event loop" in str(info.value) and HERE in str(info.value)
    _assert_clean(info.value)
    with pytest.raises(TelethonGuardError) as info:
        telethon_lock.release()
    assert "not held" in str(info.value) and "no running asyncio event loop" in str(info.value)
    _assert_clean(info.value)


async def test_acquire_outside_a_task_is_refused() -> None:
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[BaseException] = loop.create_future()

    def callback() -> None:
        coro = telethon_lock.acquire()
        try:
            coro.send(None)
        except BaseException as exc:
            outcome.set_result(exc)

    loop.call_soon(callback)
    exc = await outcome
    assert isinstance(exc, TelethonGuardError) and "outside an asyncio task" in str(exc)
    assert not telethon_lock.locked()


async def test_release_when_unlocked_or_by_a_non_owner() -> None:
    with pytest.raises(TelethonGuardError, match="not held") as info:
        telethon_lock.release()
    _assert_clean(info.value)
    inside = asyncio.Event()
    done = asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await done.wait()

    task = asyncio.create_task(holder(), name="the-owner")
    await inside.wait()
    with pytest.raises(TelethonGuardError) as info:
        telethon_lock.release()
    message = str(info.value)
    assert "the-owner" in message and HERE in message and "Only the task" in message
    assert telethon_lock.owner is task  # unchanged
    done.set()
    await task


async def test_release_inside_async_with_makes_the_exit_fail_loudly() -> None:
    with pytest.raises(TelethonGuardError, match="not held"):
        async with telethon_lock:
            telethon_lock.release()


# --------------------------------------------------------------------------------------------------------
# Deadlock detection
# --------------------------------------------------------------------------------------------------------
async def _child() -> str:
    async with telethon_lock:
        return "child ran"


def _assert_deadlock_message(exc: BaseException, holder: str, child: str, via: str) -> None:
    assert isinstance(exc, LockDeadlockError)
    message = str(exc)
    assert f"'{holder}'" in message and f"'{child}'" in message
    assert f"'{holder}' -> {via}'{child}'" in message, message
    assert re.search(r"acquired at \S*test_lock\.py:\d+", message), message
    assert "Fix:" in message


async def test_deadlock_gather() -> None:
    asyncio.current_task().set_name("holder")  # type: ignore[union-attr]
    before = COUNTERS.deadlocks
    started = time.monotonic()
    with pytest.raises(LockDeadlockError) as info:
        async with telethon_lock:
            await asyncio.gather(asyncio.create_task(_child(), name="gathered"))
    assert time.monotonic() - started < 5  # the spec: well under a second
    _assert_deadlock_message(info.value, "holder", "gathered", "gather -> ")
    assert COUNTERS.deadlocks - before >= 1


async def test_deadlock_gather_of_coroutines_fails_every_child() -> None:
    async with telethon_lock:
        results = await asyncio.gather(_child(), _child(), _child(), return_exceptions=True)
    assert all(isinstance(r, LockDeadlockError) for r in results), results


async def test_deadlock_taskgroup() -> None:
    if not hasattr(asyncio, "TaskGroup"):  # pragma: no cover - 3.10
        pytest.skip("asyncio.TaskGroup needs Python 3.11")
    asyncio.current_task().set_name("holder")  # type: ignore[union-attr]
    with pytest.raises(Exception) as info:  # an ExceptionGroup
        async with telethon_lock:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_child(), name="grouped")
    (exc,) = info.value.exceptions  # type: ignore[attr-defined]
    _assert_deadlock_message(exc, "holder", "grouped", "TaskGroup -> ")


async def test_deadlock_await_task() -> None:
    asyncio.current_task().set_name("holder")  # type: ignore[union-attr]
    with pytest.raises(LockDeadlockError) as info:
        async with telethon_lock:
            await asyncio.create_task(_child(), name="awaited")
    _assert_deadlock_message(info.value, "holder", "awaited", "")


async def test_deadlock_asyncio_wait() -> None:
    asyncio.current_task().set_name("holder")  # type: ignore[union-attr]
    async with telethon_lock:
        task = asyncio.create_task(_child(), name="waited")
        done, pending = await asyncio.wait([task])
    assert done == {task} and not pending
    _assert_deadlock_message(task.exception(), "holder", "waited", "asyncio.wait -> ")  # type: ignore[arg-type]


async def test_deadlock_wait_for_and_shield() -> None:
    asyncio.current_task().set_name("holder")  # type: ignore[union-attr]
    with pytest.raises(LockDeadlockError) as info:
        async with telethon_lock:
            await asyncio.wait_for(asyncio.create_task(_child(), name="timed"), timeout=30)
    assert "'timed'" in str(info.value)
    with pytest.raises(LockDeadlockError) as info:
        async with telethon_lock:
            await asyncio.shield(asyncio.create_task(_child(), name="shielded"))
    _assert_deadlock_message(info.value, "holder", "shielded", "shield -> ")


async def test_deadlock_transitive_chain() -> None:
    asyncio.current_task().set_name("holder")  # type: ignore[union-attr]

    async def middle() -> str:
        return await asyncio.create_task(_child(), name="leaf")

    with pytest.raises(LockDeadlockError) as info:
        async with telethon_lock:
            await asyncio.gather(asyncio.create_task(middle(), name="middle"))
    assert "'holder' -> gather -> 'middle' -> 'leaf'" in str(info.value)


async def test_deadlock_that_forms_after_the_wait_began_is_found_by_the_periodic_check() -> None:
    asyncio.current_task().set_name("holder")  # type: ignore[union-attr]
    started = 0.0
    with pytest.raises(LockDeadlockError) as info:
        async with telethon_lock:
            child = asyncio.create_task(_child(), name="later")
            await until(lambda: waiting() == 1)  # queued, not a deadlock yet
            started = time.monotonic()
            await child  # now it is
    assert time.monotonic() - started < 5
    _assert_deadlock_message(info.value, "holder", "later", "")


async def test_wait_first_completed_is_a_deadlock_only_if_every_member_is_blocked() -> None:
    other_done = asyncio.Event()

    async def other() -> None:
        await other_done.wait()

    async with telethon_lock:
        child = asyncio.create_task(_child(), name="maybe")
        helper = asyncio.create_task(other())
        await until(lambda: waiting() == 1)
        pending_wait = asyncio.create_task(
            asyncio.wait([child, helper], return_when=asyncio.FIRST_COMPLETED)
        )
        await until(lambda: getattr(pending_wait, "_fut_waiter", None) is not None)
        telethon_lock._check_deadlocks(asyncio.get_running_loop())
        assert not child.done() and waiting() == 1  # `helper` can still finish the wait
        other_done.set()
        await pending_wait
        lone = await asyncio.wait([child], return_when=asyncio.FIRST_COMPLETED)
    assert child.done() and isinstance(child.exception(), LockDeadlockError)
    assert lone[0] == {child}


@pytest.fixture
def tick_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the lock's periodic checks, so tests can wait for them instead of sleeping."""
    ticks = [0]
    original = TelethonLock._tick

    def counting(self: TelethonLock, loop: asyncio.AbstractEventLoop) -> None:
        ticks[0] += 1
        original(self, loop)

    monkeypatch.setattr(TelethonLock, "_tick", counting)
    return ticks


async def test_long_legitimate_wait_is_not_a_deadlock(tick_counter: list[int]) -> None:
    slow_io = asyncio.Event()
    results: list[str] = []

    async def holder() -> None:
        async with telethon_lock:
            await slow_io.wait()  # a slow network reply, a FloodWait sleep ...
            results.append("holder done")

    async def waiter() -> None:
        async with telethon_lock:
            results.append("waiter ran")

    h = asyncio.create_task(holder())
    await until(lambda: telethon_lock.owner is h)
    w = asyncio.create_task(waiter())
    await until(lambda: waiting() == 1)
    seen = tick_counter[0]
    await until(lambda: tick_counter[0] >= seen + 4, limit=10**7)  # several periodic checks ran
    assert not w.done() and waiting() == 1
    slow_io.set()
    await asyncio.gather(h, w)
    assert results == ["holder done", "waiter ran"]


async def test_child_created_under_the_lock_but_not_awaited_waits_its_turn(
    tick_counter: list[int],
) -> None:
    order: list[str] = []
    async with telethon_lock:
        child = asyncio.create_task(_child(), name="spawned")
        await until(lambda: waiting() == 1)
        seen = tick_counter[0]
        await until(lambda: tick_counter[0] >= seen + 2, limit=10**7)
        assert not child.done()
        order.append("holder")
    assert await child == "child ran"
    assert order == ["holder"]


# --------------------------------------------------------------------------------------------------------
# wait_timeout
# --------------------------------------------------------------------------------------------------------
async def test_wait_timeout_names_holder_site_duration_and_waiters() -> None:
    before = COUNTERS.timeouts
    inside = asyncio.Event()
    done = asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await done.wait()

    h = asyncio.create_task(holder(), name="slow-holder")
    await inside.wait()
    patient = asyncio.create_task(take_turn(wait_timeout=30))
    await until(lambda: waiting() == 1)
    started = time.monotonic()
    with pytest.raises(LockTimeoutError) as info:
        async with telethon_lock(wait_timeout=0.05):
            pass
    assert time.monotonic() - started < 5
    assert isinstance(info.value, TimeoutError)
    message = str(info.value)
    assert "slow-holder" in message and HERE in message and "held it for" in message
    assert "2 tasks waiting" in message
    assert COUNTERS.timeouts - before == 1
    assert waiting() == 1 and telethon_lock.owner is h
    done.set()
    await h
    assert await patient is True  # the patient waiter still got its turn


async def test_acquired_within_wait_timeout() -> None:
    inside = asyncio.Event()
    done = asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await done.wait()

    h = asyncio.create_task(holder())
    await inside.wait()

    w = asyncio.create_task(take_turn(wait_timeout=30))
    await until(lambda: waiting() == 1)
    done.set()
    assert await w
    await h


# --------------------------------------------------------------------------------------------------------
# Hold warning
# --------------------------------------------------------------------------------------------------------
class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.got = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.got.set()


@pytest.fixture
def warnings_handler() -> Any:
    logger = logging.getLogger("telethon_guard")
    handler = _Collect()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.WARNING)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    telethon_lock._configure(hold_warning_s=None)


async def test_hold_warning_once_per_hold_while_still_held(warnings_handler: _Collect) -> None:
    telethon_lock._configure(hold_warning_s=0.05)
    loop = asyncio.get_running_loop()
    async with telethon_lock:
        assert await loop.run_in_executor(None, warnings_handler.got.wait, 10)
        assert telethon_lock.locked()  # logged while it is still held
        first = len(warnings_handler.records)
        await loop.run_in_executor(None, time.sleep, 0.3)  # several watchdog rounds while held
    assert first == 1 and len(warnings_handler.records) == 1
    message = warnings_handler.records[0].getMessage()
    assert asyncio.current_task().get_name() in message  # type: ignore[union-attr]
    assert HERE in message and "hold_warning_s=0.05" in message
    # A short hold does not warn.
    warnings_handler.got.clear()
    async with telethon_lock:
        pass
    assert len(warnings_handler.records) == 1


def _watchdog_alive() -> bool:
    return any(t.name == "telethon_guard-hold-watchdog" for t in threading.enumerate())


async def test_hold_watchdog_starts_lazily_and_stops_when_idle(warnings_handler: _Collect) -> None:
    loop = asyncio.get_running_loop()
    telethon_lock._configure(hold_warning_s=None)
    await loop.run_in_executor(None, _wait_for, lambda: not _watchdog_alive())
    telethon_lock._configure(hold_warning_s=0.02)
    assert not _watchdog_alive()  # configuring alone starts no thread
    async with telethon_lock:
        assert _watchdog_alive()  # the first acquisition does
    await loop.run_in_executor(None, _wait_for, lambda: not _watchdog_alive())  # idle: it exits
    async with telethon_lock:
        assert _watchdog_alive()  # and the next acquisition starts it again
    assert warnings_handler.records == []


def _wait_for(predicate: Callable[[], bool]) -> None:
    """Block a worker thread until ``predicate()`` holds (bounded: a watchdog idles out in ~2 rounds)."""
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "state never reached"
        time.sleep(0.005)


async def test_hold_warning_disabled_by_none(warnings_handler: _Collect) -> None:
    telethon_lock._configure(hold_warning_s=None)
    async with telethon_lock:
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.1)
    assert warnings_handler.records == []
    with pytest.raises(ValueError):
        telethon_lock._configure(hold_warning_s=0)


# --------------------------------------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------------------------------------
async def test_max_wait_and_hold_are_recorded() -> None:
    COUNTERS.max_wait_s = 0.0
    COUNTERS.max_hold_s = 0.0
    inside = asyncio.Event()
    done = asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await done.wait()

    h = asyncio.create_task(holder())
    await inside.wait()
    w = asyncio.create_task(take_turn())
    await until(lambda: waiting() == 1)
    await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.02)  # a measurable hold
    done.set()
    await h
    assert await w
    assert COUNTERS.max_hold_s >= 0.02 and COUNTERS.max_wait_s >= 0.02


# --------------------------------------------------------------------------------------------------------
# serialized
# --------------------------------------------------------------------------------------------------------
@serialized
async def send(text: str, *, times: int = 1) -> str:
    """Send text."""
    assert telethon_lock._owned_by_current_task()
    return text * times


@serialized
async def outer() -> str:
    return await send("x", times=2)


async def test_serialized_holds_the_lock_and_keeps_the_signature() -> None:
    assert await send("ab", times=2) == "abab"
    assert not telethon_lock.locked()
    assert send.__name__ == "send" and send.__doc__ == "Send text."
    assert str(inspect.signature(send)) == "(text: 'str', *, times: 'int' = 1) -> 'str'"
    assert inspect.iscoroutinefunction(send)
    assert await outer() == "xx"  # reentrant


async def test_serialized_calls_are_serialised_and_sited_at_the_caller() -> None:
    inside = asyncio.Event()
    done = asyncio.Event()

    @serialized
    async def slow() -> None:
        inside.set()
        await done.wait()

    first = asyncio.create_task(slow())
    await inside.wait()
    _name, site, _ = telethon_lock._snapshot()
    assert site is not None and HERE in site  # the caller's frame, not lock.py
    second = asyncio.create_task(slow())
    await until(lambda: waiting() == 1)
    done.set()
    await asyncio.gather(first, second)


async def test_serialized_methods() -> None:
    class Relay:
        @serialized
        async def method(self) -> bool:
            return telethon_lock._owned_by_current_task()

        @serialized
        @staticmethod
        async def static() -> bool:
            return telethon_lock._owned_by_current_task()

        @serialized
        @classmethod
        async def klass(cls) -> bool:
            return telethon_lock._owned_by_current_task()

    assert await Relay().method()
    assert await Relay.static()
    assert await Relay.klass()


def test_serialized_refuses_async_generators_and_plain_functions() -> None:
    async def agen() -> Any:
        yield 1

    with pytest.raises(TypeError) as info:
        serialized(agen)
    message = str(info.value)
    assert (
        "async generator" in message
        and "yield" in message
        and "async with telethon_lock" in message
    )

    def plain() -> int:
        return 1

    with pytest.raises(TypeError, match="async def"):
        serialized(plain)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async def"):
        serialized(lambda: send("x"))
    assert "Async generator functions are refused" in (serialized.__doc__ or "")
