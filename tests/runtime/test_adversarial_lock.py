"""Adversarial cases of telethon_lock found in review: bad wait_timeout values, forked children, and
the cost of the deadlock check with many waiters.

Each test failed before its fix. Tasks are ordered with asyncio.Events; no sleeps.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Callable
from typing import Any

import pytest

from telethon_guard import LockDeadlockError, LockTimeoutError, lock, telethon_lock

pytestmark = pytest.mark.usefixtures("lock_is_free")


async def until(predicate: Callable[[], bool], *, limit: int = 10_000) -> None:
    """Yield to the event loop until ``predicate()`` holds (a state, never a duration)."""
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("state never reached")


# --------------------------------------------------------------------------------------------------
# wait_timeout is validated before the task queues
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error"),
    [("2", TypeError), (True, TypeError), (-1, ValueError), (float("nan"), ValueError)],
)
async def test_bad_wait_timeout_is_refused_and_never_leaks_the_lock(
    value: Any, error: type[Exception]
) -> None:
    inside, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await release.wait()

    h = asyncio.create_task(holder())
    await inside.wait()

    async def bad_acquire() -> None:
        await telethon_lock.acquire(wait_timeout=value)

    with pytest.raises(error, match="wait_timeout"):
        await asyncio.create_task(bad_acquire())
    with pytest.raises(error, match="wait_timeout"):
        telethon_lock(wait_timeout=value)
    assert telethon_lock._snapshot()[2] == 0  # nobody queued
    release.set()
    await h
    # Before the fix the failed acquire stayed queued and the lock went to that finished task.
    assert not telethon_lock.locked()
    assert telethon_lock.owner is None


async def test_timeout_and_deadlock_errors_name_the_pid() -> None:
    inside, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await release.wait()

    h = asyncio.create_task(holder())
    await inside.wait()
    with pytest.raises(LockTimeoutError, match=rf"PID {os.getpid()}\b"):
        async with telethon_lock(wait_timeout=0):
            pass
    release.set()
    await h

    async def child() -> None:
        async with telethon_lock:
            pass

    with pytest.raises(LockDeadlockError, match=rf"PID {os.getpid()}\b"):
        async with telethon_lock:
            await asyncio.create_task(child())


async def test_zero_and_infinite_wait_timeouts_are_valid() -> None:
    async with telethon_lock(wait_timeout=0):
        assert telethon_lock._owned_by_current_task()
    async with telethon_lock(wait_timeout=float("inf")):
        assert telethon_lock._owned_by_current_task()


# --------------------------------------------------------------------------------------------------
# A forked child (multiprocessing's default start method on Linux) inherits none of the parent's tasks
# --------------------------------------------------------------------------------------------------


def _child_uses_the_lock(conn: multiprocessing.connection.Connection) -> None:
    async def main() -> dict[str, Any]:
        inside, release = asyncio.Event(), asyncio.Event()
        seen: dict[str, Any] = {}

        async def first() -> None:
            async with telethon_lock(wait_timeout=5):
                seen["first_owns"] = telethon_lock.owner is asyncio.current_task()
                inside.set()
                await release.wait()

        async def second() -> None:
            async with telethon_lock(wait_timeout=5):
                seen["second_owns"] = telethon_lock.owner is asyncio.current_task()

        a = asyncio.create_task(first())
        await inside.wait()
        b = asyncio.create_task(second())
        await until(lambda: telethon_lock._snapshot()[2] == 1)  # the second one really waits
        seen["second_waited"] = not b.done()
        release.set()
        await asyncio.gather(a, b)
        seen["free_after"] = not telethon_lock.locked()
        return seen

    try:
        conn.send(asyncio.run(main()))
    except BaseException as exc:  # report, never hang the parent
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


async def test_child_forked_while_the_parent_holds_the_lock_starts_free() -> None:
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    async with telethon_lock:  # forked from inside the holding task, as run_in_executor would
        process = ctx.Process(target=_child_uses_the_lock, args=(child_end,))
        process.start()
    child_end.close()
    try:
        ready = await asyncio.to_thread(parent_end.poll, 30)
        assert ready, "the forked child did not answer"
        seen = parent_end.recv()
    finally:
        await asyncio.to_thread(process.join, 30)
        parent_end.close()
    # Before the fix every task of the child was taken for the parent's holder: both "owned" a lock
    # whose owner was a task of the parent, and the second never waited.
    assert seen == {
        "first_owns": True,
        "second_waited": True,
        "second_owns": True,
        "free_after": True,
    }
    assert process.exitcode == 0


# --------------------------------------------------------------------------------------------------
# The deadlock check walks the holder's await graph once per loop iteration, not once per waiter
# --------------------------------------------------------------------------------------------------


async def test_many_waiters_queueing_at_once_cost_one_deadlock_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walks = [0]
    original = lock._find_deadlocks

    def counting(holder: Any, waiting: Any) -> Any:
        walks[0] += 1
        return original(holder, waiting)

    monkeypatch.setattr(lock, "_find_deadlocks", counting)
    inside, release = asyncio.Event(), asyncio.Event()

    async def io() -> None:
        await release.wait()

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            # Holding the lock while awaiting a large fan-out of tasks that never need it.
            await asyncio.gather(*(io() for _ in range(300)))

    async def waiter() -> None:
        async with telethon_lock:
            pass

    h = asyncio.create_task(holder())
    await inside.wait()
    waiters = [asyncio.create_task(waiter()) for _ in range(300)]
    await until(lambda: telethon_lock._snapshot()[2] == 300)
    await asyncio.sleep(0)  # the one scheduled check runs
    # Before the fix each of the 300 waiters walked the holder's 300-task graph as it queued.
    assert 1 <= walks[0] <= 3
    release.set()
    await asyncio.gather(h, *waiters)


async def test_deadlock_is_still_found_among_many_queued_waiters() -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def other() -> None:
        async with telethon_lock:
            pass

    async def child() -> None:
        async with telethon_lock:  # the holder awaits this task: a deadlock
            pass

    async def holder() -> None:
        async with telethon_lock:
            inside.set()
            await release.wait()
            await asyncio.create_task(child(), name="awaited-child")

    h = asyncio.create_task(holder(), name="the-holder")
    await inside.wait()
    others = [asyncio.create_task(other()) for _ in range(100)]
    await until(lambda: telethon_lock._snapshot()[2] == 100)
    release.set()
    with pytest.raises(LockDeadlockError) as info:
        await h
    message = str(info.value)
    assert "'awaited-child'" in message and "'the-holder'" in message
    await asyncio.gather(*others)


# --------------------------------------------------------------------------------------------------
# as_completed under the lock: a deadlock once no pending member can finish (it used to hang)
# --------------------------------------------------------------------------------------------------


async def _needs_lock(i: int) -> int:
    async with telethon_lock:
        return i


async def test_as_completed_of_tasks_needing_the_lock_is_a_deadlock() -> None:
    with pytest.raises(LockDeadlockError, match=r"Await chain: '[^']+' -> as_completed -> '"):
        async with telethon_lock:
            for next_done in asyncio.as_completed([_needs_lock(i) for i in range(3)]):
                await next_done


async def test_as_completed_is_no_deadlock_while_another_member_can_finish() -> None:
    io_done = asyncio.Event()

    async def io() -> str:
        await io_done.wait()
        return "io"

    results: list[Any] = []

    async def holder() -> None:
        async with telethon_lock:
            members = [
                asyncio.create_task(_needs_lock(1), name="needs-lock"),
                asyncio.create_task(io()),
            ]
            for next_done in asyncio.as_completed(members):
                try:
                    results.append(await next_done)
                except LockDeadlockError as exc:
                    results.append(exc)

    h = asyncio.create_task(holder())
    await until(lambda: telethon_lock._snapshot()[2] == 1 and h._fut_waiter is not None)  # type: ignore[attr-defined]
    # The holder waits for any one member and io() can still finish: not a deadlock.
    telethon_lock._check_deadlocks(asyncio.get_running_loop())
    assert telethon_lock._snapshot()[2] == 1 and results == []
    io_done.set()
    # Then the only member left needs the lock the holder keeps: reported, not a hang.
    await h
    assert results[0] == "io"
    assert isinstance(results[1], LockDeadlockError)
    assert "'needs-lock'" in str(results[1])


# --------------------------------------------------------------------------------------------------
# Misuse gets a message that says what to write instead
# --------------------------------------------------------------------------------------------------


def test_using_the_lock_as_a_decorator_points_to_serialized() -> None:
    async def send() -> None:
        return None

    with pytest.raises(TypeError, match=r"not a decorator .*'.*send'.*@serialized"):
        telethon_lock(send)  # type: ignore[call-arg, arg-type]
    with pytest.raises(TypeError, match=r"by keyword .*wait_timeout=5"):
        telethon_lock(5)  # type: ignore[call-arg]
