"""The server's own periodic task: close rounds whose deadline passed, like `delphi tick`.

Safe with several app processes: each close is a conditional update that one process wins.
"""

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from app.db import transaction
from app.services.rounds import close_due_rounds

log = logging.getLogger("delphi.tick")


def tick_once() -> list[int]:
    with transaction() as session:
        return close_due_rounds(session)


async def tick_forever(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            closed = await run_in_threadpool(tick_once)
            if closed:
                log.info("closed %d round(s) whose deadline passed", len(closed))
        except Exception:  # keep ticking; the next attempt may succeed
            log.exception("closing due rounds failed")
