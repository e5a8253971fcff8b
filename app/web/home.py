"""The server's front page: what this is, and where panelists, coordinators and scripts go."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.templating import render
from app.web.language import preferred_language

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    return render("home.html", {}, language=preferred_language(request))
