"""Jinja2 rendering with autoescaping, Babel translations and locale-aware dates and numbers.

Shared by the pages (web), the mail (services.outbox), the report and the heavy-work refusal,
so it sits below them all and imports none of them.
"""

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from app import charts
from app.names import name_of
from app.settings import ROOT

TEMPLATES = ROOT / "templates"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = {"en": "English", "zh-Hans": "简体中文"}
DEFAULT_LANGUAGE = "en"


def babel_locale(language: str) -> str:
    """Our language tags (BCP 47, as stored) to Babel's locale identifiers."""
    return {"zh-Hans": "zh_Hans_CN", "zh": "zh_Hans_CN"}.get(language, "en")


def supported(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    locale = babel_locale(language)
    catalogue = locale.rsplit("_", 1)[0] if "_" in locale else locale
    translations: NullTranslations = Translations.load(str(TRANSLATIONS), [catalogue])
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        language=language,
        languages=LANGUAGES,
        html_lang=language,
        fmt_datetime=lambda dt, tz=None: _datetime(dt, tz, locale),
        fmt_number=lambda n, digits=1: _number(n, digits, locale),
        fmt_percent=lambda p: _percent(p, locale),
        fmt_duration=_duration,
        histogram_chart=charts.histogram,
        participant_flow_chart=charts.participant_flow,
        statement_flow_chart=charts.statement_flow,
        # A stored code in words of the page's language: named("outcome", "consensus_for").
        named=lambda kind, code: translations.gettext(name_of(kind, code)) if code else "",
    )
    return env


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _datetime(value: datetime | None, tz: str | None, locale: str) -> str:
    if value is None:
        return ""
    zone = _zone(tz)
    where = Locale.parse(locale)
    day = format_date(value.astimezone(zone), "medium", locale=where)
    time = format_time(value, "short", tzinfo=zone, locale=where)
    return f"{day} {time} ({zone.key})"


def _duration(value: timedelta) -> str:
    """Time left as a coordinator reads it: days and hours, or hours and minutes."""
    minutes = int(value.total_seconds() // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days >= 2:
        return f"{days} days {hours} h"
    return f"{days * 24 + hours} h {mins} min"


def _percent(value: float | None, locale: str) -> str:
    if value is None:
        return "–"
    return format_percent(value / 100, format="#,##0%", locale=Locale.parse(locale))


def _number(value: float | None, digits: int, locale: str) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=Locale.parse(locale))


def render(
    name: str, context: dict[str, Any], *, language: str, status_code: int = 200
) -> HTMLResponse:
    template = environment(supported(language)).get_template(name)
    return HTMLResponse(template.render(**context), status_code=status_code)
