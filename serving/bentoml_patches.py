"""One fix to BentoML 1.4.40 that the service's latency target depends on.

`TimeoutMiddleware` (traffic.timeout) arms `loop.call_later(timeout, ...)` for every
request and never cancels it, so each request's context (OpenTelemetry span, futures,
contextvars) stays reachable for `timeout` seconds after the answer. At a few hundred
requests/s that is 10^5 extra live objects, and every full garbage collection walks them:
pauses grew to 150-500 ms under a 32-client load, for the constant-JSON endpoint too.
The patched call is the same code, plus cancelling the timer once the request is done.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import bentoml

log = logging.getLogger(__name__)
PATCHED_VERSIONS = ("1.4.40",)


async def _call_with_cancelled_timer(self: Any, scope: Any, receive: Any, send: Any) -> None:
    from starlette.responses import JSONResponse

    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

    async def _send(message: Any) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
    try:
        await waiter
    except TimeoutError:
        if fut.cancel():
            body = {"error": f"Not able to process the request in {self.timeout} seconds"}
            await JSONResponse(body, status_code=504)(scope, receive, send)
    else:
        await fut
    finally:
        timer.cancel()  # the one change: release the request's objects now


def cancel_request_timers() -> bool:
    """Install the fix on the BentoML version it was written for; True if installed."""
    if bentoml.__version__ not in PATCHED_VERSIONS:
        log.warning("BentoML %s: TimeoutMiddleware left as is (fix written for %s)",
                    bentoml.__version__, ", ".join(PATCHED_VERSIONS))
        return False
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    TimeoutMiddleware.__call__ = _call_with_cancelled_timer
    return True
