"""The consensus report: one Jinja2 template makes the HTML page and, via WeasyPrint, the PDF."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel.dates import format_datetime
from markupsafe import Markup
from sqlalchemy.orm import Session

from app.models import Study, User
from app.names import AMSTAR2, DESIGNS, OUTCOMES
from app.reports import report_data, report_stability
from app.reports.report_accord import accord_items
from app.reports.report_methods import band, methods
from app.reports.words import N_, STRENGTH, Words
from app.services import audit, evidence
from app.services.errors import Invalid
from app.templating import environment

LANGUAGES = {"en": "en", "zh_Hans": "zh-Hans", "zh-Hans": "zh-Hans", "zh": "zh-Hans"}

SECTIONS = {
    "cover": N_("Title page"),
    "methods": N_("1. Methods"),
    "participants": N_("2. Participants"),
    "statement-flow": N_("3. Statements across rounds"),
    "results": N_("4. Results per round"),
    "final": N_("5. Final recommendations"),
    "statements": N_("6. Statements in detail"),
    "evidence": N_("6. Statements in detail; Appendix A"),
}


# Charts name their fonts as attributes; Latin first for English (a CJK font sets "·" full-width).
SVG_FONTS = {
    "en": "Noto Sans, DejaVu Sans, Noto Sans CJK SC, sans-serif",
    "zh": "Noto Sans CJK SC, Source Han Sans SC, Noto Sans, DejaVu Sans, sans-serif",
}


def language_of(value: str | None) -> str:
    """The report's language from `?lang=` (en, zh_Hans); refuse anything else by name."""
    if value is None or value == "":
        return "en"
    if value not in LANGUAGES:
        raise Invalid(f"The report is available in en and zh_Hans; '{value}' is neither.")
    return LANGUAGES[value]


def num(value: float | None, digits: int = 2) -> str:
    """A figure rounded for reading (the API keeps every digit): fixed decimals, '–' for none."""
    return "–" if value is None else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return num(value, 1)


@dataclass(frozen=True, slots=True)
class RenderedReport:
    html: str
    style_hash: str  # base64 SHA-256 of the inline stylesheet, for the CSP

    @property
    def csp(self) -> str:
        """The page's CSP: no script at all; the one inline stylesheet allowed by its hash."""
        return (
            f"default-src 'none'; style-src 'sha256-{self.style_hash}'; img-src data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _page_counter(words: Words) -> str:
    """CSS content for "Page 3 of 20" in the report's language."""
    _ = words
    pattern = _("Page {page} of {pages}")
    before, _sep, rest = pattern.partition("{page}")
    middle, _sep, after = rest.partition("{pages}")
    parts = [_css_string(before), "counter(page)", _css_string(middle), "counter(pages)"]
    if after:
        parts.append(_css_string(after))
    return " ".join(parts)


def render_html(session: Session, *, study: Study, language: str) -> RenderedReport:
    """Load everything up front (a bounded number of queries), then render the template."""
    data = report_data.load(session, study=study, language=language)
    table = evidence.table_of(study)
    return _render(data, table)


def _render(data: report_data.ReportData, table: Any) -> RenderedReport:
    """The report's HTML and its stylesheet's hash, from data already loaded.

    Long because most of it is the template's context, one entry per name the template uses.
    """
    words = Words(data.language)
    _ = words
    env = environment(data.language)
    study = data.study
    footer = (
        _("Content hash %(hash)s…") % {"hash": study.content_hash[:16]}
        if study.content_hash
        else _("Not finalized")
    )
    css = env.get_template("report/report.css").render(
        report_kind=_("Delphi consensus report"),
        page_counter=Markup(_page_counter(words)),
        footer=footer,
    )
    agree, disagree = data.band
    context = {
        "data": data,
        "m": methods(
            study=study,
            table=table,
            panel_size=data.panel_size,
            groups=[g for g in data.groups if g],
            band_words=(band(agree, study.scale_max), band(study.scale_min, disagree)),
            words=words,
            stability=report_stability.stability_methods(
                study, uses_panel_strength=table.uses_panel_strength, words=words
            ),
        ),
        "accord": accord_items(),
        "section_names": {key: _(name) for key, name in SECTIONS.items()},
        "stylesheet": Markup(css),
        "svg_font": SVG_FONTS["zh" if words.chinese else "en"],
        "outcomes": _outcomes(data),
        "versions": data.versions,
        "source_number": {src.id: i for i, (src, _keys) in enumerate(data.sources, start=1)},
        "figure_rows": _figure_rows(words),
        "agree_pct": _("Agree %"),
        "disagree_pct": _("Disagree %"),
        "num": num,
        "pct": pct,
        "band": band,
        "date": words.date,
        "datetime": lambda value: _datetime(value, words),
        "outcome": _named(OUTCOMES, words),
        "label": lambda text: _(text) if text else "",
        "grade": lambda final: _grade(final, words),
        "group_name": lambda name: name or _("no group"),
        "design": _named(DESIGNS, words),
        "amstar": _named(AMSTAR2, words),
        "strength": _named(STRENGTH, words),
        "percent": lambda value: _percent(value, words),
        "p_value": report_stability.p_value,
        "p_is": report_stability.p_is,
        "signed": report_stability.signed,
        "stable": lambda value: report_stability.stable_words(value, words),
        "wilcoxon_note": lambda note: report_stability.wilcoxon_note(note, words),
        "vote": lambda counts: report_stability.vote_in_words(counts, words),
        "group_key": report_stability.group_key,
        "bias_rule": report_stability.BIAS_RULE,
    }
    html = env.get_template("report/report.html").render(**context)
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return RenderedReport(html=html, style_hash=digest)


def _percent(value: float | None, words: Words) -> str:
    """A share with one decimal and a percent sign: "16.7 %" in English, "16.7%" in Chinese."""
    if value is None:
        return "–"
    return pct(value) + ("%" if words.chinese else " %")


def _named(names: dict[str, str], words: Words) -> Callable[[str], str]:
    """A stored code (consensus_for, rct …) in words of the report's language."""

    def name(code: str) -> str:
        return words(names.get(code, code))

    return name


@dataclass(frozen=True, slots=True)
class Outcomes:
    total: int
    consensus_for: int
    consensus_against: int
    no_consensus: int
    unrated: int


def _outcomes(data: report_data.ReportData) -> Outcomes:
    """How the statements ended: their classification in the last round that rated them."""
    last = [(s.rounds[-1].result.classification if s.rounds else None) for s in data.statements]
    return Outcomes(
        total=len(last),
        consensus_for=last.count("consensus_for"),
        consensus_against=last.count("consensus_against"),
        no_consensus=last.count("no_consensus"),
        unrated=last.count(None),
    )


def _grade(final: dict[str, Any] | None, words: Words) -> str:
    _ = words
    if final is None:
        return "–"
    if final.get("grade") in (None, "no_recommendation"):
        return _("No recommendation")
    label = str(final["grade_label"])
    return _(label)


def _datetime(value: datetime | None, words: Words) -> str:
    if value is None:
        return ""
    return format_datetime(value, "medium", tzinfo=None, locale=words.locale) + " UTC"


def _figure_rows(words: Words) -> list[tuple[str, str, str]]:
    """The figures of docs/method.md §2 in the statement blocks: (row name, result key, format)."""
    _ = words
    return [
        ("n", "n", "int"),
        (_("Abstained"), "abstained", "int"),
        (_("Mean"), "mean", "num"),
        (_("SD"), "sd", "num"),
        (_("Median"), "median", "num"),
        ("Q1 (P25)", "q1", "num"),
        ("Q3 (P75)", "q3", "num"),
        ("IQR", "iqr", "num"),
        ("P30", "p30", "num"),
        ("P70", "p70", "num"),
        (_("Agree %"), "pct_agree", "pct"),
        (_("Disagree %"), "pct_disagree", "pct"),
        ("CV", "cv", "num"),
    ]


def render_pdf(report: RenderedReport) -> bytes:
    """The PDF of the same HTML (WeasyPrint); nothing is fetched from outside the document."""
    from weasyprint import HTML

    def refuse(url: str) -> dict[str, Any]:
        raise ValueError(f"The report fetches nothing from outside itself ({url}).")

    return bytes(HTML(string=report.html, url_fetcher=refuse).write_pdf())


def record(session: Session, *, actor: User, study: Study, language: str, kind: str) -> None:
    """The audit log keeps who took which report of which study, and in which language."""
    audit.record(
        session,
        actor=actor,
        action="export.report",
        study_id=study.id,
        format=kind,
        language=language,
        content_hash=study.content_hash,
    )
