"""Everything the consensus report shows, loaded up front in a number of queries that does not
grow with the panel or the statements (one handful per round, a fixed handful for the study)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from app.consensus.results import RoundResults, StatementChange, StatementResult
from app.models import (
    EvidenceSource,
    Panelist,
    Rating,
    Round,
    RoundItem,
    RoundStatus,
    Statement,
    StatementVersion,
    Study,
    utcnow,
)
from app.reports import report_stability
from app.services import evidence, finalization, results, rounds, studies, tally

NO_GROUP = ""  # panelists without a stakeholder group; the template names it


@dataclass(frozen=True, slots=True)
class GroupFlow:
    """One stakeholder group in one round: in the panel at the close, answered, withdrew, and
    left (answered the previous round but not this one; None in a study's first round)."""

    name: str
    invited: int
    responded: int
    withdrew: int
    left: int | None = None


@dataclass(frozen=True, slots=True)
class ParticipantFlow:
    number: int
    opens_at: datetime | None
    closed_at: datetime | None
    invited: int  # as the results API reports it (the panel at the close)
    responded: int
    withdrew: int  # since the previous round's close (round 1: before its close)
    groups: list[GroupFlow]
    # From the results' attrition: answered the previous round but not this one (withdrawn or
    # silent), and answered this one but not the previous; None without a previous round.
    left: int | None = None
    joined: int | None = None
    previous_round: int | None = None

    @property
    def response_rate(self) -> float:
        return 100 * self.responded / self.invited if self.invited else 0.0


@dataclass(frozen=True, slots=True)
class StatementFlow:
    """What happened to the statements of one round, and on the way to the next one."""

    number: int
    rated: int
    consensus_for: int
    consensus_against: int
    no_consensus: int
    added: int  # first rated in this round (0 in round 1: every statement is new there)
    carried_forward: int | None  # None: no later round
    revised: int | None  # of those carried forward, rated in a new wording
    dropped: int | None  # no consensus, but not put to the next round


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    text: str
    rationale: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StatementRound:
    """A statement's frozen result in one closed round, as the results API returns it."""

    number: int
    version: int
    result: StatementResult
    comments: list[str]
    stability: StatementChange | None = None  # the results' change since the previous round


@dataclass(slots=True)
class StatementReport:
    id: int
    key: str
    topic: str | None
    text: str  # the wording last rated (or the current one), in the report's language
    versions: list[VersionView]
    rounds: list[StatementRound] = field(default_factory=list)
    final: dict[str, Any] | None = None  # level, grade and figures (frozen or a preview)
    content_hash: str | None = None
    sources: list[EvidenceSource] = field(default_factory=list)

    @property
    def settled_round(self) -> int | None:
        """The round whose result (and strength vote) decided the statement: its last one."""
        if self.final and self.final.get("round") is not None:
            return int(self.final["round"])
        return self.rounds[-1].number if self.rounds else None


@dataclass(frozen=True, slots=True)
class RoundView:
    round: Round
    results: RoundResults  # results.round_results: the API's numbers
    texts: dict[int, str]  # version id -> wording in the report's language


@dataclass(slots=True)
class ReportData:
    study: Study
    language: str
    generated_at: datetime
    fingerprint: str
    rounds: list[Round]
    closed: list[RoundView]
    participants: list[ParticipantFlow]
    statement_flow: list[StatementFlow]
    statements: list[StatementReport]
    sources: list[tuple[EvidenceSource, list[str]]]  # with the keys of the statements supported
    finalized: bool
    band: tuple[int, int]  # (agree_min, disagree_max) the rule applied
    panel_size: int  # everyone ever on the panel, withdrawn included
    versions: dict[int, int]  # version id -> version number

    @property
    def title(self) -> str:
        return self.study.text_in(self.language, "title")

    @property
    def groups(self) -> list[str]:
        names: dict[str, None] = {}
        for flow in self.participants:
            names.update((g.name, None) for g in flow.groups)
        return list(names)


def _participants(
    session: Session, study: Study, closed: list[RoundView]
) -> tuple[list[ParticipantFlow], int]:
    """Per closed round and group: invited at the close, responded, withdrew since last time;
    and the size of the whole panel."""
    members = session.execute(
        select(Panelist.group, Panelist.created_at, Panelist.withdrawn_at).where(
            Panelist.study_id == study.id
        )
    ).all()
    answered: dict[tuple[int, str], int] = {}
    for round_id, group, count in session.execute(
        select(Rating.round_id, Panelist.group, func.count(func.distinct(Rating.panelist_id)))
        .join(Panelist, Panelist.id == Rating.panelist_id)
        .where(Panelist.study_id == study.id, or_(Rating.value.is_not(None), Rating.abstain))
        .group_by(Rating.round_id, Panelist.group)
    ).all():
        answered[(round_id, group or NO_GROUP)] = count
    names = sorted({group or NO_GROUP for group, _, _ in members}, key=lambda n: (n == "", n))
    flows = []
    previous: datetime | None = None
    for view in closed:
        assert view.round.closed_at is not None, "the report counts closed rounds only"
        at = tally.counted_at(view.round, view.round.closed_at)
        flows.append(
            _round_flow(
                view, at=at, previous=previous, members=members, answered=answered, names=names
            )
        )
        previous = at
    return flows, len(members)


def _round_flow(
    view: RoundView,
    *,
    at: datetime,
    previous: datetime | None,
    members: Sequence[Any],
    answered: dict[tuple[int, str], int],
    names: list[str],
) -> ParticipantFlow:
    """One closed round's flow: per group, in the panel at `at`, answered, withdrew since
    `previous` (the last round's count) and left since the previous round."""
    invited: dict[str, int] = defaultdict(int)
    withdrew: dict[str, int] = defaultdict(int)
    for group, created_at, withdrawn_at in members:
        name = group or NO_GROUP
        if created_at <= at and (withdrawn_at is None or withdrawn_at > at):
            invited[name] += 1
        if withdrawn_at is not None and withdrawn_at <= at:
            withdrew[name] += previous is None or withdrawn_at > previous
    attrition = view.results.attrition
    since = attrition.previous_round
    left = {report_stability.group_key(name): int(g.left) for name, g in attrition.by_group.items()}
    groups = [
        GroupFlow(
            name,
            invited[name],
            answered.get((view.round.id, name), 0),
            withdrew[name],
            None if since is None else left.get(name, 0),
        )
        for name in names
        if invited[name] or withdrew[name] or answered.get((view.round.id, name)) or left.get(name)
    ]
    return ParticipantFlow(
        number=view.round.number,
        opens_at=view.round.opens_at,
        closed_at=view.round.closed_at,
        invited=int(view.results.invited),
        responded=int(view.results.responded),
        withdrew=sum(withdrew.values()),
        groups=groups,
        left=None if since is None else int(attrition.left),
        joined=None if since is None else int(attrition.joined),
        previous_round=since,
    )


def _statement_flow(
    closed: list[RoundView],
    items: dict[int, dict[int, int | None]],
    all_rounds: list[Round],
    current_version: dict[int, int],
) -> list[StatementFlow]:
    flows = []
    seen: set[int] = set()
    for view in closed:
        rows = view.results.statements
        rated = {row.statement_id: row for row in rows}
        classes = [row.classification for row in rows]
        pending = {sid for sid, row in rated.items() if row.classification == "no_consensus"}
        later = [r for r in all_rounds if r.number == view.round.number + 1]
        carried = revised = dropped = None
        if later:
            following = items.get(later[0].id, {})
            # a draft has not frozen its wording yet: it will put the newest one
            versions = {
                sid: current_version[sid] if vid is None else vid for sid, vid in following.items()
            }
            carried_ids = pending & versions.keys()
            carried = len(carried_ids)
            revised = sum(versions[sid] != rated[sid].version_id for sid in carried_ids)
            dropped = len(pending - versions.keys())
        added = len(rated.keys() - seen) if seen else 0
        seen |= rated.keys()
        flows.append(
            StatementFlow(
                number=view.round.number,
                rated=len(rows),
                consensus_for=classes.count("consensus_for"),
                consensus_against=classes.count("consensus_against"),
                no_consensus=classes.count("no_consensus"),
                added=added,
                carried_forward=carried,
                revised=revised,
                dropped=dropped,
            )
        )
    return flows


def _finals(session: Session, study: Study) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """Each statement's level, grade and last figures: frozen when finalized, else a preview."""
    if study.finalized_at is not None:
        frozen = finalization.finals(session, study=study)
        return (
            {f.statement_id: f.content for f in frozen},
            {f.statement_id: f.content_hash for f in frozen},
        )
    preview = finalization.preview(session, study=study)
    return {content["statement_id"]: content for content in preview}, {}


def load(session: Session, *, study: Study, language: str) -> ReportData:
    """Load the whole report: queries per round plus a fixed number for the study."""
    all_rounds = rounds.rounds_of(session, study=study)
    statements = list(
        session.scalars(
            select(Statement)
            .where(Statement.study_id == study.id)
            .order_by(Statement.position, Statement.id)
            .options(selectinload(Statement.versions))
        )
    )
    version_rows: dict[int, StatementVersion] = {v.id: v for s in statements for v in s.versions}
    items: dict[int, dict[int, int | None]] = defaultdict(dict)
    for round_id, statement_id, version_id in session.execute(
        select(RoundItem.round_id, RoundItem.statement_id, RoundItem.version_id)
        .join(Round, Round.id == RoundItem.round_id)
        .where(Round.study_id == study.id)
    ).all():
        items[round_id][statement_id] = version_id
    closed = []
    comments: dict[int, dict[int, list[str]]] = {}
    for round_ in all_rounds:
        if round_.status != RoundStatus.closed:
            continue
        res = results.round_results(session, study=study, round_=round_)
        texts = {
            row.version_id: version_rows[row.version_id].text_in(language) for row in res.statements
        }
        closed.append(RoundView(round_, res, texts))
        comments[round_.id] = results.comments(session, round_id=round_.id)
    finals, hashes = _finals(session, study)
    sources = evidence.sources_of(session, study=study)
    reports = _statement_reports(statements, closed, comments, finals, hashes, language)
    by_id = {r.id: r for r in reports}
    keys = {s.id: s.key for s in statements}
    for source, statement_ids in sources:
        for statement_id in statement_ids:
            by_id[statement_id].sources.append(source)
    rule = closed[-1].results.rule if closed else {}
    participants, panel_size = _participants(session, study, closed)
    return ReportData(
        study=study,
        language=language,
        generated_at=utcnow(),
        fingerprint=studies.rules_fingerprint(study),
        rounds=all_rounds,
        closed=closed,
        participants=participants,
        statement_flow=_statement_flow(
            closed, items, all_rounds, {s.id: s.current.id for s in statements}
        ),
        statements=reports,
        sources=[(source, [keys[i] for i in ids]) for source, ids in sources],
        finalized=study.finalized_at is not None,
        band=_band(study, rule),
        panel_size=panel_size,
        versions={version_id: v.version for version_id, v in version_rows.items()},
    )


def _band(study: Study, rule: Mapping[str, Any]) -> tuple[int, int]:
    if "agree_min_applied" in rule:
        return int(rule["agree_min_applied"]), int(rule["disagree_max_applied"])
    from app.services.tally import rule_as_applied

    applied = rule_as_applied(study)
    return int(applied["agree_min_applied"]), int(applied["disagree_max_applied"])


def _statement_reports(
    statements: list[Statement],
    closed: list[RoundView],
    comments: dict[int, dict[int, list[str]]],
    finals: dict[int, dict[str, Any]],
    hashes: dict[int, str],
    language: str,
) -> list[StatementReport]:
    rows = [{row.statement_id: row for row in view.results.statements} for view in closed]
    changes = [
        {row.statement_id: row for row in view.results.stability.statements} for view in closed
    ]
    reports = []
    for statement in statements:
        numbers = {v.id: v.version for v in statement.versions}
        history = [
            StatementRound(
                number=view.round.number,
                version=numbers[by_statement[statement.id].version_id],
                result=by_statement[statement.id],
                comments=comments[view.round.id].get(statement.id, []),
                stability=changed.get(statement.id),
            )
            for view, by_statement, changed in zip(closed, rows, changes, strict=True)
            if statement.id in by_statement
        ]
        last_rated = history[-1].version if history else statement.current.version
        wording = next(v for v in statement.versions if v.version == last_rated)
        if not history and statement.dropped_at is not None:
            continue
        reports.append(
            StatementReport(
                id=statement.id,
                key=statement.key,
                topic=statement.topic,
                text=wording.text_in(language),
                versions=[
                    VersionView(v.version, v.text_in(language), v.rationale, v.created_at)
                    for v in reversed(statement.versions)
                ],
                rounds=history,
                final=finals.get(statement.id),
                content_hash=hashes.get(statement.id),
            )
        )
    return reports
