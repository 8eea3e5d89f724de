"""The guarded BotFather relay: ``uvicorn examples.botfather_relay.app:app`` (one worker, no reload).

Endpoints:

* ``POST /messages`` ``{"text": ...}`` -- send to @BotFather; returns the sent message's id.
* ``GET /replies?limit=N`` (1..100) -- BotFather's latest messages to us.
* ``POST /bots`` ``{"name": ..., "username": ...}`` -- the ``/newbot`` conversation; returns the token.
* ``GET /health`` -- the guard's ``stats()``, lock waits, and who owns the session file.
* ``GET /debug/backend`` -- offline only: the fake backend's request log summary (never online).

Errors are JSON ``{"error": ..., "message": ...}``, never a traceback: 422 invalid request, 409
BotFather refused a ``/newbot`` step (its ``reply`` included), 429 FloodWait (with ``Retry-After``),
502 any other Telegram error, 503 Telegram unreachable, 504 BotFather silent or the request over
``RELAY_REQUEST_TIMEOUT``, 500 only for a violation the guard caught (a bug in this service).

Nothing Telethon happens at import. The lifespan installs the guard (which refuses ``--reload`` and
several workers), claims the session file for this process, builds the one client and connects; on
shutdown it disconnects (Telethon saves the session) and releases the claim for the next process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.types import Message, Receive, Scope, Send
from telethon import errors

from telethon_guard import (
    TelethonGuardError,
    claim_session,
    install,
    stats,
    telethon_lock,
    uninstall,
)

from .session import (
    BotFatherRefusedError,
    BotFatherSession,
    BotFatherTimeoutError,
    NotAuthorizedError,
    open_client,
)
from .settings import Settings, SettingsError, load_settings

__all__ = ["app", "create_app"]

log = logging.getLogger("botfather_relay")
T = TypeVar("T")

# Errors that stop the relay at startup with their message alone: they are the operator's to fix, and
# a traceback would only bury the message.
_STARTUP_ERRORS = (TelethonGuardError, SettingsError, NotAuthorizedError, ConnectionError)


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=4096, description="Text to send to BotFather.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class MessageOut(BaseModel):
    id: int
    text: str


class ReplyOut(BaseModel):
    id: int
    text: str
    date: str | None
    outgoing: bool


class BotIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="Display name of the new bot.")
    # Telegram's rule: 5-32 characters, letters, digits and underscores, ending in "bot".
    username: str = Field(
        min_length=5, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_]*[Bb][Oo][Tt]$"
    )


class BotOut(BaseModel):
    username: str
    token: str


class _ClientGoneError(Exception):
    """The HTTP client disconnected before the answer was ready."""


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    headers = extra.pop("headers", None)
    return JSONResponse({"error": error, "message": message, **extra}, status, headers=headers)


async def _disconnected(request: Request) -> None:
    # After the body is read, the ASGI receive() of uvicorn returns only when the client goes away.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _run(request: Request, work: Coroutine[Any, Any, T], *, cancel_on_disconnect: bool) -> T:
    """Run ``work`` as its own task, bounded by ``RELAY_REQUEST_TIMEOUT`` (and, with
    ``cancel_on_disconnect``, by the client staying connected).

    When the client leaves or the deadline passes, a task still waiting for the lock is cancelled:
    nothing was sent. A task that holds the lock is left to finish in the background: its request is
    already on its way to Telegram and runs to its end whether we wait or not -- cancelling it would
    only let the next action start while this one is still in flight.
    """
    timeout: float = request.app.state.settings.request_timeout
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request)) if cancel_on_disconnect else None
    try:
        await asyncio.wait(
            {task} if watch is None else {task, watch},
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        if watch is not None:
            watch.cancel()
    if task.done():
        return task.result()
    if telethon_lock.owner is task:
        background: set[asyncio.Task[Any]] = request.app.state.background
        background.add(task)
        task.add_done_callback(_finished_in_background(background))
    else:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if watch is not None and watch.done() and not watch.cancelled():
        raise _ClientGoneError
    raise _RequestTimeoutError(timeout)


def _finished_in_background(
    background: set[asyncio.Task[Any]],
) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("an abandoned request failed: %r", task.exception())

    return done


def _percentiles(samples: list[float]) -> dict[str, float | int]:
    if not samples:
        return {"samples": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"samples": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": at(1.0)}


def _backend_summary(backend: Any) -> dict[str, Any]:
    """What the offline backend saw: for the integration tests' "sent once, never overlapping"."""
    sent: Counter[str] = Counter()
    names: Counter[str] = Counter()
    for record in list(backend.requests):
        names[record.name] += 1
        if record.name == "SendMessageRequest":
            sent[getattr(record.request, "message", "")] += 1
    return {
        "max_in_flight": backend.max_in_flight,
        "in_flight": backend.in_flight,
        "requests": dict(names),
        "sent_texts": dict(sent),
    }


class RelayApp(FastAPI):
    """FastAPI, except that a startup refused by the guard or the settings logs one clean line."""

    startup_error: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await super().__call__(scope, receive, send)
            return

        async def send_clean(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.startup_error:
                message = {**message, "message": self.startup_error}
            await send(message)

        await super().__call__(scope, receive, send_clean)


def _configure_logging() -> None:
    """Show the relay's and telethon-guard's messages next to uvicorn's, unless the host configured
    logging itself."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)-9s %(name)s: %(message)s")
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)


def create_app(settings_loader: Callable[[], Settings] = load_settings) -> RelayApp:
    """Build the relay. Settings are read, and the client built, when the server starts it."""

    @asynccontextmanager
    async def lifespan(app: RelayApp) -> AsyncIterator[None]:
        _configure_logging()
        # Undone in reverse on shutdown, or at once if startup fails: disconnect (Telethon saves
        # the session), then release the claim, then uninstall what we installed.
        async with contextlib.AsyncExitStack() as undo:
            try:
                settings = settings_loader()
                if settings.guard_mode != "off" and stats().mode is None:
                    # First, before the session file is touched: install() refuses --reload and
                    # several workers. A guard someone installed already (`import
                    # telethon_guard.enforce`, the pytest plugin) is kept as it is.
                    install(mode=settings.guard_mode)
                    undo.callback(uninstall)
                # One process per session file: a second relay, a leftover worker or a script on
                # this file now fails at once with SessionInUseError naming this process, instead
                # of "database is locked" after SQLite's 5 s timeout. The client built below, the
                # only one of this process, runs under this claim.
                claim = undo.enter_context(claim_session(settings.session))
                client, backend = open_client(settings)
                relay = BotFatherSession(
                    client, bot=settings.bot, conversation_timeout=settings.conversation_timeout
                )
                undo.push_async_callback(relay.close)
                await relay.start()
            except _STARTUP_ERRORS as exc:
                app.startup_error = f"BotFather relay cannot start: {type(exc).__name__}: {exc}"
                raise
            app.state.settings = settings
            app.state.claim = claim
            app.state.relay = relay
            app.state.backend = backend
            app.state.background = set()
            log.info(
                "BotFather relay ready: session %s, %s, guard %s, PID %d",
                claim.path,
                "offline" if settings.offline else "online",
                stats().mode or "off",
                claim.owner.pid,
            )
            yield
        log.info("BotFather relay stopped: session %s saved and released", claim.path)

    app = RelayApp(title="BotFather relay", lifespan=lifespan)

    def relay_of(request: Request) -> BotFatherSession:
        relay: BotFatherSession = request.app.state.relay
        return relay

    @app.post("/messages", response_model=MessageOut)
    async def post_message(body: MessageIn, request: Request) -> MessageOut:
        relay = relay_of(request)
        msg_id = await _run(request, relay.send_message(body.text), cancel_on_disconnect=True)
        return MessageOut(id=msg_id, text=body.text)

    @app.get("/replies", response_model=list[ReplyOut])
    async def get_replies(
        request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> list[ReplyOut]:
        relay = relay_of(request)
        replies = await _run(request, relay.get_replies(limit), cancel_on_disconnect=True)
        return [
            ReplyOut(
                id=r.id,
                text=r.text,
                date=r.date.isoformat() if r.date else None,
                outgoing=r.outgoing,
            )
            for r in replies
        ]

    @app.post("/bots", response_model=BotOut)
    async def post_bot(body: BotIn, request: Request) -> BotOut:
        # Not cancelled when the client leaves: half a /newbot conversation would leave BotFather
        # waiting for a name, and the next plain message would become one.
        relay = relay_of(request)
        bot = await _run(
            request, relay.create_bot(body.name, body.username), cancel_on_disconnect=False
        )
        return BotOut(username=bot.username, token=bot.token)

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        settings: Settings = request.app.state.settings
        claim = request.app.state.claim
        relay = relay_of(request)
        guard = stats()
        return {
            "status": "ok",
            "offline": settings.offline,
            "connected": relay.client.is_connected(),
            "guard": dataclasses.asdict(guard),
            "lock_wait": _percentiles(list(relay.lock_waits)),
            # Who holds the session file, as a second process would be told.
            "session": {
                "path": str(claim.path),
                "owner": {
                    "pid": claim.owner.pid,
                    "host": claim.owner.host,
                    "started": claim.owner.started,
                },
            },
        }

    @app.get("/debug/backend", include_in_schema=False)
    async def debug_backend(request: Request, drain_waits: bool = False) -> JSONResponse:
        # Offline only: the fake backend's view, for the integration tests and the benchmark.
        backend = request.app.state.backend
        if backend is None:
            return _error(404, "NotFound", "the debug endpoint exists only offline")
        summary = _backend_summary(backend)
        if drain_waits:
            waits = relay_of(request).lock_waits
            summary["lock_waits_s"] = list(waits)
            waits.clear()
        return JSONResponse(summary)

    _add_error_handlers(app)
    return app


class _RequestTimeoutError(Exception):
    def __init__(self, timeout: float) -> None:
        super().__init__(f"the request took longer than {timeout:g} s (RELAY_REQUEST_TIMEOUT)")


def _add_error_handlers(app: FastAPI) -> None:
    """Telethon and relay errors -> HTTP answers with a JSON body; never a traceback to the client."""

    @app.exception_handler(errors.FloodError)
    async def flood(request: Request, exc: errors.FloodError) -> JSONResponse:
        seconds = int(getattr(exc, "seconds", 0) or 0)
        return _error(
            429,
            type(exc).__name__,
            f"Telegram asks to wait {seconds} s before the next request",
            retry_after=seconds,
            headers={"Retry-After": str(seconds)},
        )

    @app.exception_handler(errors.RPCError)
    async def rpc(request: Request, exc: errors.RPCError) -> JSONResponse:
        return _error(502, type(exc).__name__, f"Telegram refused the request: {exc.message}")

    @app.exception_handler(BotFatherRefusedError)
    async def refused(request: Request, exc: BotFatherRefusedError) -> JSONResponse:
        return _error(409, "BotFatherRefused", str(exc), reply=exc.reply)

    @app.exception_handler(BotFatherTimeoutError)
    async def bot_timeout(request: Request, exc: BotFatherTimeoutError) -> JSONResponse:
        return _error(504, "BotFatherTimeout", str(exc))

    @app.exception_handler(_RequestTimeoutError)
    async def request_timeout(request: Request, exc: _RequestTimeoutError) -> JSONResponse:
        return _error(504, "RequestTimeout", str(exc))

    @app.exception_handler(_ClientGoneError)
    async def client_gone(request: Request, exc: _ClientGoneError) -> JSONResponse:
        # Nobody reads this answer; 499 is what access logs use for "client closed request".
        return _error(
            499, "ClientClosedRequest", "the client disconnected; the action was cancelled"
        )

    @app.exception_handler(ConnectionError)
    async def offline(request: Request, exc: ConnectionError) -> JSONResponse:
        return _error(503, "TelegramUnavailable", f"cannot reach Telegram: {exc}")

    @app.exception_handler(TelethonGuardError)
    async def guard(request: Request, exc: TelethonGuardError) -> JSONResponse:
        # A violation the guard caught: a bug in this service, reported with the guard's message.
        log.error("telethon-guard: %s", exc)
        return _error(500, type(exc).__name__, str(exc))


app = create_app()
