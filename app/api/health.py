"""Probes for orchestrators and load balancers; operational, so left out of the OpenAPI document.

`/healthz` (liveness) answers from the event loop without touching the database, so a slow
database never gets a healthy process restarted. `/readyz` (readiness) asks app.readiness whether
the database answers with the schema this code was written for; it skips the admission gate
(app.middleware), so it neither waits behind nor takes from the requests it reports on.
"""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.readiness import readiness_problem

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz() -> JSONResponse:
    problem = readiness_problem()
    if problem is not None:
        return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
    return JSONResponse({"status": "ok"})
