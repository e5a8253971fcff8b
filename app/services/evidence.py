"""The evidence library: sources, the statements they support, levels, overrides and grades."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.consensus import grading, strength
from app.consensus.levels import Level, check_pooled_levels, evidence_level, override
from app.consensus.sources import AMSTAR_MAX, PEDRO_MAX, Source
from app.models import (
    EvidenceLink,
    EvidenceSource,
    LevelOverride,
    ResultSnapshot,
    Round,
    RoundItem,
    Statement,
    Study,
    User,
    utcnow,
)
from app.services import audit, text
from app.services.errors import Invalid
from app.services.studies import ensure_writable, owner_of

MAX_CITATION, MAX_JUSTIFICATION = 2_000, 5_000  # as the API accepts
MAX_SUMMARY = 5_000  # an evidence summary, per language
# The appraisal scores people type (form and import file): label, and the top of the scale.
SCORES = {
    "pedro": ("PEDro", PEDRO_MAX),
    "amstar_score": ("AMSTAR score", AMSTAR_MAX),
}


@dataclass(slots=True)
class NewSource:
    """A source as an import file gives it (CSV, XLSX or RIS), checked, before it is added."""

    citation: str
    design: str
    doi: str | None
    pmid: str | None
    pedro: int | None
    amstar2: str | None
    amstar_score: int | None
    pooled_levels: list[str]
    illustrative: bool
    statement_ids: list[int]


def table_of(study: Study) -> grading.GradingTable:
    """The study's grading table, or the preset that goes with its evidence scheme."""
    if study.grading_table:
        return grading.GradingTable.model_validate(study.grading_table)
    if study.evidence_scheme == "grade":
        return grading.grade_table()
    return grading.oxford_2009_table(study.evidence_scheme)  # type: ignore[arg-type]


def _as_source(row: EvidenceSource) -> Source:
    return Source(
        id=row.id,
        citation=row.citation,
        design=row.design,  # type: ignore[arg-type]
        pedro=row.pedro,
        pedro_items=tuple(row.pedro_items) if row.pedro_items is not None else None,
        amstar2=row.amstar2,  # type: ignore[arg-type]
        amstar_score=row.amstar_score,
        pooled_levels=tuple(row.pooled_levels or ()),
    )


def _statement_ids(session: Session, study: Study, ids: Sequence[int]) -> list[int]:
    wanted = list(dict.fromkeys(ids))
    found = set(
        session.scalars(
            select(Statement.id).where(Statement.study_id == study.id, Statement.id.in_(wanted))
        )
    )
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise Invalid(f"Statement(s) {', '.join(missing)} are not in this study.")
    return wanted


def add_source(
    session: Session,
    *,
    actor: User,
    study: Study,
    citation: str,
    design: str,
    statement_ids: Sequence[int] = (),
    **appraisal: Any,
) -> EvidenceSource:
    """Add a source after checking its appraisal fits its design (PEDro only for trials …)."""
    ensure_writable(study)
    text.checked(citation, what="The citation", limit=MAX_CITATION)
    for name, limit in (("doi", 200), ("pmid", 20)):  # the widths of the columns in app.models
        if appraisal.get(name):
            text.checked(appraisal[name], what=f"The {name.upper()}", limit=limit)
    row = EvidenceSource(study_id=study.id, citation=citation.strip(), design=design, **appraisal)
    if not row.citation:
        raise Invalid("Give the source's citation (e.g. 'Smith 2019, J Pain Res').")
    try:
        checked = _as_source(row)  # the constructor validates
        check_pooled_levels(checked, study.evidence_scheme)  # type: ignore[arg-type]
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    session.add(row)
    session.flush()
    for statement_id in _statement_ids(session, study, statement_ids):
        session.add(EvidenceLink(source_id=row.id, statement_id=statement_id))
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evidence.add",
        study_id=study.id,
        source=row.id,
        citation=row.citation,
        statements=list(statement_ids),
    )
    return row


def link(
    session: Session,
    *,
    actor: User,
    study: Study,
    source: EvidenceSource,
    statement_ids: Sequence[int],
) -> None:
    ensure_writable(study)
    existing = set(
        session.scalars(
            select(EvidenceLink.statement_id).where(EvidenceLink.source_id == source.id)
        )
    )
    added = [i for i in _statement_ids(session, study, statement_ids) if i not in existing]
    session.add_all(EvidenceLink(source_id=source.id, statement_id=i) for i in added)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evidence.link",
        study_id=study.id,
        source=source.id,
        statements=added,
    )


def source_for(
    session: Session, *, user: User, source_id: int, write: bool = False
) -> tuple[EvidenceSource, Study]:
    """The source and its study, if that is one of the user's; else one 404 for both cases."""
    source = session.get(EvidenceSource, source_id)
    label = f"Source {source_id}"
    study = owner_of(session, user=user, record=source, label=label, write=write)
    assert source is not None  # owner_of refused a missing one
    return source, study


def sources_of(session: Session, *, study: Study) -> list[tuple[EvidenceSource, list[int]]]:
    rows = list(
        session.scalars(
            select(EvidenceSource)
            .where(EvidenceSource.study_id == study.id)
            .order_by(EvidenceSource.id)
        )
    )
    links: dict[int, list[int]] = defaultdict(list)
    for source_id, statement_id in session.execute(
        select(EvidenceLink.source_id, EvidenceLink.statement_id)
        .join(EvidenceSource, EvidenceSource.id == EvidenceLink.source_id)
        .where(EvidenceSource.study_id == study.id)
    ).all():
        links[source_id].append(statement_id)
    return [(row, sorted(links[row.id])) for row in rows]


def levels(session: Session, *, study: Study) -> dict[int, Level]:
    """Every statement's evidence level, computed by the study's scheme, overrides applied."""
    scheme = study.evidence_scheme
    by_statement: dict[int, list[Source]] = defaultdict(list)
    for row, statement_ids in sources_of(session, study=study):
        source = _as_source(row)
        for statement_id in statement_ids:
            by_statement[statement_id].append(source)
    overrides = {
        o.statement_id: o
        for o in session.scalars(
            select(LevelOverride).join(Statement).where(Statement.study_id == study.id)
        )
    }
    result = {}
    for statement_id in session.scalars(select(Statement.id).where(Statement.study_id == study.id)):
        level = evidence_level(scheme, by_statement[statement_id])  # type: ignore[arg-type]
        if statement_id in overrides:
            chosen = overrides[statement_id]
            level = override(level, chosen.code, chosen.justification)
        result[statement_id] = level
    return result


@dataclass(frozen=True, slots=True)
class StatementEvidence:
    """What the ballot shows beside a statement: level, sources and the coordinator's summary."""

    level: Level
    sources: list[EvidenceSource]
    summary: dict[str, str]

    def summary_in(self, language: str, languages: Sequence[str]) -> tuple[str, str] | None:
        """(language, text): in the panelist's language, else the first study language with one."""
        for candidate in [language, *languages, *self.summary]:
            if self.summary.get(candidate):
                return candidate, self.summary[candidate]
        return None


_ROUND_EVIDENCE = (
    select(
        RoundItem.statement_id,
        Statement.evidence_summary,
        LevelOverride.code,
        LevelOverride.justification,
        EvidenceSource,
    )
    .join(Statement, Statement.id == RoundItem.statement_id)
    .outerjoin(LevelOverride, LevelOverride.statement_id == RoundItem.statement_id)
    .outerjoin(EvidenceLink, EvidenceLink.statement_id == RoundItem.statement_id)
    .outerjoin(EvidenceSource, EvidenceSource.id == EvidenceLink.source_id)
    .where(RoundItem.round_id == bindparam("round_id"))
    .order_by(RoundItem.position, EvidenceSource.id)
)


def evidence_of_round(
    session: Session, *, study: Study, round_id: int
) -> dict[int, StatementEvidence]:
    """Each statement of a round with its evidence, in one read whatever their number."""
    sources: dict[int, list[EvidenceSource]] = defaultdict(list)
    summaries: dict[int, dict[str, str]] = {}
    overrides: dict[int, tuple[str, str]] = {}
    for statement_id, summary, code, justification, source in session.execute(
        _ROUND_EVIDENCE, {"round_id": round_id}
    ).all():
        summaries[statement_id] = dict(summary or {})
        if code is not None:
            overrides[statement_id] = (code, justification)
        if source is not None:
            sources[statement_id].append(source)
    out = {}
    for statement_id, summary in summaries.items():
        linked = sources[statement_id]
        scheme = study.evidence_scheme
        level = evidence_level(scheme, [_as_source(r) for r in linked])  # type: ignore[arg-type]
        if statement_id in overrides:
            level = override(level, *overrides[statement_id])
        out[statement_id] = StatementEvidence(level, linked, summary)
    return out


def set_summary(
    session: Session,
    *,
    actor: User,
    study: Study,
    statement: Statement,
    summary: Mapping[str, str],
) -> dict[str, str]:
    """The coordinator's summary of a statement's evidence, per study language; audited."""
    ensure_writable(study)
    stray = sorted(set(summary) - set(study.languages))
    if stray:
        raise Invalid(
            f"A summary is given in {', '.join(stray)}, which is not among the study's "
            f"languages ({', '.join(study.languages)}); add the language or drop the text."
        )
    kept = {
        language: text.checked(words, what=f"The {language} summary", limit=MAX_SUMMARY).strip()
        for language, words in summary.items()
    }
    kept = {language: words for language, words in kept.items() if words}
    before = dict(statement.evidence_summary or {})
    statement.evidence_summary = kept or None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evidence.summary",
        study_id=study.id,
        statement=statement.id,
        before=before,
        after=kept,
    )
    return kept


def set_override(
    session: Session,
    *,
    actor: User,
    study: Study,
    statement_id: int,
    code: str,
    justification: str,
) -> Level:
    """Override a computed level; the justification is kept and reported."""
    ensure_writable(study)
    text.checked(justification, what="The justification", limit=MAX_JUSTIFICATION)
    _statement_ids(session, study, [statement_id])
    computed = levels(session, study=study)[statement_id]
    try:
        level = override(computed, code, justification)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    row = session.get(LevelOverride, statement_id)
    if row is None:
        row = LevelOverride(statement_id=statement_id, code=code, justification=justification)
        session.add(row)
    row.code, row.justification = code, justification.strip()
    row.created_by_id, row.created_at = actor.id, utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evidence.override",
        study_id=study.id,
        statement=statement_id,
        code=code,
        justification=justification.strip(),
    )
    return level


def _strength_note(figures: dict[str, Any]) -> str:
    """Why there is no panel choice of strength: not asked, nobody chose, or no 70 % majority."""
    if "strength_votes" not in figures:
        return "the round that decided it did not ask for strength"
    return f"the strength vote gave {strength.describe_vote(figures['strength_votes'])}"


@dataclass(frozen=True, slots=True)
class Recommendation:
    statement_id: int
    key: str
    level: Level
    classification: str | None  # in the last round that rated it; None: never rated
    round: int | None
    grade: grading.Grade | None
    snapshot: ResultSnapshot | None = None  # the last result, for finalization to freeze


def recommendations(session: Session, *, study: Study) -> list[Recommendation]:
    """What finalization would record now: each statement's level, last outcome and grade."""
    table = table_of(study)
    level_of = levels(session, study=study)
    last: dict[int, tuple[int, ResultSnapshot]] = {}
    for number, snapshot in session.execute(
        select(Round.number, ResultSnapshot)
        .join(ResultSnapshot, ResultSnapshot.round_id == Round.id)
        .where(Round.study_id == study.id)
        .order_by(Round.number)
    ).all():
        last[snapshot.statement_id] = (number, snapshot)
    out = []
    for statement in session.scalars(
        select(Statement).where(Statement.study_id == study.id).order_by(Statement.position)
    ):
        level = level_of[statement.id]
        if statement.id not in last:
            out.append(Recommendation(statement.id, statement.key, level, None, None, None))
            continue
        number, snapshot = last[statement.id]
        figures = snapshot.figures
        grade = grading.grade_for(
            table,
            level_code=level.code,
            classification=snapshot.classification,  # type: ignore[arg-type]
            agree_count=int(figures.get("agree_count", 0)),
            disagree_count=int(figures.get("disagree_count", 0)),
            n=int(figures["n"]),
            panel_strength=figures.get("panel_strength"),
            strength_note=_strength_note(figures),
        )
        out.append(
            Recommendation(
                statement.id,
                statement.key,
                level,
                snapshot.classification,
                number,
                grade,
                snapshot,
            )
        )
    return out
