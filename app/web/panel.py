"""Panelist pages: the personal link, the ballot form, the language switch."""

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from app.db import discard, write_now
from app.http.deps import SessionDep
from app.models import Panelist, Study
from app.reports.report_methods import rule_sentence
from app.reports.words import Words
from app.security import token_hash
from app.services import ballots, logins, panel, rules
from app.services.errors import Conflict, Forbidden, Invalid, Throttled, Unauthorized
from app.templating import LANGUAGES, render, supported
from app.web import session as cookies
from app.web.forms import BallotForm, FormValues, parse_ballot_form

router = APIRouter(include_in_schema=False)


@dataclass(slots=True)
class Visitor:
    panelist: Panelist
    cookie: cookies.PanelSession

    @property
    def language(self) -> str:
        return supported(self.cookie.language or self.panelist.language)


def _visitor(request: Request, session: SessionDep) -> Visitor | None:
    cookie = cookies.read(request)
    if cookie is None:
        return None
    panelist = panel.signed_in_panelist(
        session, panelist_id=cookie.panelist_id, hashed=cookie.binding
    )
    return None if panelist is None else Visitor(panelist, cookie)


def _status(session: Session, visitor: Visitor) -> ballots.PanelStatus:
    return ballots.status_for(session, panelist=visitor.panelist, language=visitor.language)


def _signed_out(request: Request) -> Response:
    language = supported(request.query_params.get("lang"))
    return render("panel/signed_out.html", {}, language=language, status_code=401)


@router.get("/p/{token}")
def personal_link(token: str, request: Request, session: SessionDep) -> Response:
    """Trade the link's token for a session cookie, then drop the token from the address bar."""
    address = request.client.host if request.client else "unknown"
    language = supported(request.query_params.get("lang"))
    try:
        logins.check_link_attempts(session, address=address)
        panelist = panel.panelist_for_token(session, token=token)
    except Throttled as exc:
        refused = render("panel/too_many_links.html", {}, language=language, status_code=429)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    except Unauthorized:
        # This request only reads, until it must count a failed guess.
        write_now(session, lambda s: logins.record_unknown_link(s, address=address))
        return render("panel/invalid_link.html", {}, language=language, status_code=404)
    response = RedirectResponse("/ballot", status_code=303)
    cookies.write(request, response, cookies.PanelSession(panelist.id, token_hash(token)))
    return response


@router.get("/ballot")
def ballot_page(request: Request, session: SessionDep) -> Response:
    visitor = _visitor(request, session)
    if visitor is None:
        return _signed_out(request)
    status = _status(session, visitor)
    flash = cookies.read_flash(request)
    response = _page(visitor, status, flash=flash)
    if flash:
        cookies.clear_flash(request, response)
    return response


def _page(
    visitor: Visitor,
    status: ballots.PanelStatus,
    *,
    flash: str | None = None,
    form: BallotForm | None = None,
    errors: dict[int, list[dict[str, Any]]] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "panelist": visitor.panelist,
        "status": status,
        "study": status.study,
        "view": status.view,
        "csrf": visitor.cookie.csrf,
        "flash": flash,
        "form": form,
        "errors": errors or {},
        "alert": alert,
        "timezone": visitor.panelist.timezone,
        "rule_words": _rule_words(status.study, visitor.language),
    }
    name = "panel/ballot.html" if status.view is not None else "panel/state.html"
    return render(name, context, language=visitor.language, status_code=status_code)


def _rule_words(study: Study, language: str) -> str:
    """The consensus rule in the page's language, as the report's methods word it."""
    rule = rules.consensus_rule(study)
    return rule_sentence(rule, study.scale_min, study.scale_max, Words(language))


@router.post("/ballot")
def save_ballot_form(request: Request, values: FormValues, session: SessionDep) -> Response:
    visitor = _visitor(request, session)
    if visitor is None:
        return _signed_out(request)
    if not cookies.csrf_ok(visitor.cookie, values.get("csrf_token")):
        return render("panel/forbidden.html", {}, language=visitor.language, status_code=403)
    form = parse_ballot_form(values)
    if form.action == "language":
        return _switch_keeping_answers(request, session, visitor, form, values.get("language"))
    submit = form.action == "submit"
    try:
        ballots.save_ballot(
            session,
            panelist=visitor.panelist,
            entries=form.entries(),
            submit=submit,
            round_id=form.round_id,
            unreadable=form.problems.keys(),
        )
    except (Invalid, Conflict, Forbidden) as exc:
        discard(session)  # nothing of this request is kept; reload what the page shows
        visitor = _visitor(request, session) or visitor
        if isinstance(exc, Forbidden):
            status = ballots.status_for(
                session, panelist=visitor.panelist, language=visitor.language
            )
            return _page(visitor, status, status_code=403)
        return _redisplay(session, visitor, form, exc)
    response = RedirectResponse("/ballot", status_code=303)
    cookies.flash(request, response, "submitted" if submit else "saved")
    return response


def _redisplay(
    session: Session, visitor: Visitor, form: BallotForm, exc: Invalid | Conflict
) -> Response:
    """The same page again: what was typed, and every message beside its statement."""
    status = _status(session, visitor)
    if status.view is None and form.round_id is not None:
        status.view = ballots.view_for_round(
            session, panelist=visitor.panelist, round_id=form.round_id, language=visitor.language
        )
    errors: dict[int, list[dict[str, Any]]] = {}
    for error in exc.errors:
        errors.setdefault(int(error["statement_id"]), []).append(error)
    for statement_id, message in form.problems.items():  # unless the save said so already
        said = errors.setdefault(statement_id, [])
        if not any(e["code"] == "unreadable" for e in said):
            said.append({"code": "unreadable", "message": message})
    alert = exc.message if isinstance(exc, Conflict) or not errors else None
    status_code = 409 if isinstance(exc, Conflict) else 422
    return _page(visitor, status, form=form, errors=errors, alert=alert, status_code=status_code)


def _switch_keeping_answers(
    request: Request,
    session: Session,
    visitor: Visitor,
    form: BallotForm,
    language: str | None,
) -> Response:
    """The ballot's language switch: what was typed is saved as a draft first, then switched."""
    if language in LANGUAGES:
        visitor = Visitor(visitor.panelist, visitor.cookie.with_language(language))
    saved = form.anything_typed()
    if saved:
        try:
            ballots.save_ballot(
                session,
                panelist=visitor.panelist,
                entries=form.entries(),
                round_id=form.round_id,
                unreadable=form.problems.keys(),
            )
        except Forbidden:  # withdrawn meanwhile: nothing to keep; the page says why
            discard(session)
            saved = False
        except (Invalid, Conflict) as exc:  # shown again, typed values kept, in the new language
            discard(session)
            fresh = _visitor(request, session) or visitor
            visitor = Visitor(fresh.panelist, visitor.cookie)
            response = _redisplay(session, visitor, form, exc)
            cookies.write(request, response, visitor.cookie)
            return response
    response = RedirectResponse("/ballot", status_code=303)
    cookies.write(request, response, visitor.cookie)
    if saved:
        cookies.flash(request, response, "saved_language")
    return response


@router.post("/language")
def switch_language(request: Request, values: FormValues, session: SessionDep) -> Response:
    visitor = _visitor(request, session)
    if visitor is None:
        return _signed_out(request)
    if not cookies.csrf_ok(visitor.cookie, values.get("csrf_token")):
        return render("panel/forbidden.html", {}, language=visitor.language, status_code=403)
    language = values.get("language", "")
    response = RedirectResponse("/ballot", status_code=303)
    if language in LANGUAGES:
        cookies.write(request, response, visitor.cookie.with_language(language))
    return response
