"""The server's own periodic work, like `delphi tick`: close due rounds, remind, send mail.

Safe with several app processes: each close is a conditional update that one process wins,
each reminder has a unique dedupe key, and sending claims messages with SKIP LOCKED.
"""

import asyncio
import logging
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from app.db import transaction
from app.delivery import DeliveryReport, deliver_due
from app.services import logins, reminders, stability
from app.services.rounds import close_due_rounds

log = logging.getLogger("delphi.tick")


@dataclass(frozen=True, slots=True)
class TickReport:
    closed: list[int]
    reminded: int
    delivery: DeliveryReport


def freeze_statistics(round_ids: list[int]) -> None:
    """After a close commits: keep each round's stability and attrition (its own transaction).

    If this never runs (a crash), results count the same figures from the frozen ratings.
    """
    for round_id in round_ids:
        try:
            with transaction() as session:
                stability.freeze(session, round_id=round_id)
        except Exception:  # the close stands; results count the figures live until frozen
            log.exception("could not freeze the statistics of round %s", round_id)


def tick_once() -> TickReport:
    """Separate steps, so a mail problem never keeps a round from closing."""
    with transaction() as session:
        closed = close_due_rounds(session)
    freeze_statistics(closed)
    with transaction() as session:
        reminded = reminders.enqueue_due_reminders(session)
    delivery = deliver_due()  # opens its own short transactions
    with transaction() as session:
        logins.prune(session)
    return TickReport(closed, reminded, delivery)


async def tick_forever(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            report = await run_in_threadpool(tick_once)
            if report.closed or report.reminded:
                log.info(
                    "closed %d round(s), queued %d reminder(s)", len(report.closed), report.reminded
                )
        except Exception:  # keep ticking; the next attempt may succeed
            log.exception("closing due rounds failed")
