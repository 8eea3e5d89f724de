"""A minimal ASGI app that calls check_deployment() where DEPLOY_CHECK_AT says.

DEPLOY_CHECK_AT: "import" (at import time, inside the worker's config.load()), "lifespan" (in the
ASGI lifespan startup), "thread" (in the lifespan, from a worker thread) or "none". Every request runs the
check again and answers with the PID.
"""

import asyncio
import json
import os

from telethon_guard import check_deployment

CHECK_AT = os.environ.get("DEPLOY_CHECK_AT", "import")

if CHECK_AT == "import":
    check_deployment()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if CHECK_AT in ("lifespan", "thread"):
                    try:
                        if CHECK_AT == "thread":
                            await asyncio.to_thread(check_deployment)
                        else:
                            check_deployment()
                    except Exception as exc:
                        print(f"{type(exc).__name__}: {exc}", flush=True)
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        check_deployment()
        body = json.dumps({"pid": os.getpid(), "ok": True}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
