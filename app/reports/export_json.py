"""The complete JSON document of a study (pseudonymised), with a schema version, streamed.

Everything but the ratings is one small object written first; the ratings array follows, written
in batches as they come from the database, so the document never sits whole in memory.
"""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.consensus import results
from app.contract.present import study as present_study
from app.contract.schemas import RoundResults
from app.models import Study
from app.reports.exports import (
    RATING_COLUMNS,
    SCHEMA_VERSION,
    StudyExport,
    gather,
    rating_batches,
    reading,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _statements(export: StudyExport) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "key": s.key,
            "topic": s.topic,
            "position": s.position,
            "created_at": _iso(s.created_at),
            "dropped_at": _iso(s.dropped_at),
            "versions": [
                {
                    "id": v.id,
                    "version": v.version,
                    "text": v.text,
                    "translations": v.translations,
                    "rationale": v.rationale,
                    "parent_version_id": v.parent_id,
                    "created_at": _iso(v.created_at),
                }
                for v in reversed(s.versions)  # oldest first: the lineage as it grew
            ],
        }
        for s in export.statements
    ]


def _rounds(export: StudyExport) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "number": r.number,
            "status": r.status.value,
            "opens_at": _iso(r.opens_at),
            "closes_at": _iso(r.closes_at),
            "closed_at": _iso(r.closed_at),
            "asks_strength": r.asks_strength,
            "results": _as_api(export.results[r.id]) if r.id in export.results else None,
        }
        for r in export.rounds
    ]


COUNTS = ("agree_count", "disagree_count")


def _as_api(res: results.RoundResults) -> dict[str, Any]:
    """A round's results exactly as GET /api/v1/rounds/{id}/results shows them, plus the counts
    behind pct_agree and pct_disagree."""
    shown = RoundResults.model_validate(res, from_attributes=True).model_dump(mode="json")
    for out, given in zip(shown["statements"], res.statements, strict=True):
        out |= {key: getattr(given, key) for key in COUNTS}
        for name, group in out["groups"].items():
            group |= {key: getattr(given.groups[name], key) for key in COUNTS}
    return shown


def _evidence(export: StudyExport) -> dict[str, Any]:
    keys = export.keys
    return {
        "scheme": export.study.evidence_scheme,
        "sources": [
            {
                "id": row.id,
                "citation": row.citation,
                "doi": row.doi,
                "pmid": row.pmid,
                "design": row.design,
                "pedro": row.pedro,
                "pedro_items": row.pedro_items,
                "amstar2": row.amstar2,
                "amstar_score": row.amstar_score,
                "pooled_levels": row.pooled_levels,
                "illustrative": row.illustrative,
                "statement_ids": ids,
            }
            for row, ids in export.sources
        ],
        "levels": [
            {
                "statement_id": statement_id,
                "key": keys.get(statement_id),
                "scheme": level.scheme,
                "code": level.code,
                "label": level.label,
                "reasons": level.reasons,
                "overridden_from": level.overridden_from,
            }
            for statement_id, level in export.levels.items()
        ],
    }


def document(export: StudyExport) -> dict[str, Any]:
    """Everything except the ratings, which `json_document` streams after it.

    Long because it is one document written key by key; parts with logic have functions.
    """
    study = export.study
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "Delphi consensus platform",
        "exported_at": _iso(export.exported_at),
        "pseudonymised": "Panelists appear by code (P01 …); names and e-mail addresses are "
        "only in the coordinators' separate panel export.",
        "study": {
            **present_study(study).model_dump(mode="json"),
            "content_hash": study.content_hash,
        },
        "method": {
            "consensus_in_words": export.rule_words,
            "stopping_rule_in_words": export.stopping_words,
            "rules_fingerprint": export.fingerprint,
            "grading_table": export.grading_table,
            "grading_table_in_words": export.grading_words,
        },
        "panel": {
            "members": [
                {
                    "code": m.code,
                    "group": m.group,
                    "language": m.language,
                    "joined_at": _iso(m.joined_at),
                    "withdrawn_at": _iso(m.withdrawn_at),
                }
                for m in export.panel
            ],
            "flow": [
                {
                    "round": f.round,
                    "group": f.group,
                    "joined": f.joined,
                    "withdrew": f.withdrew,
                    "invited": f.invited,
                    "responded": f.responded,
                }
                for f in export.flow
            ],
        },
        "statements": _statements(export),
        "rounds": _rounds(export),
        "evidence": _evidence(export),
        "recommendations": {
            "finalized": export.finalized,
            "finalized_at": _iso(study.finalized_at),
            "content_hash": study.content_hash,
            "items": export.recommendations,
        },
        "audit": [
            {
                "id": e.id,
                "at": _iso(e.at),
                "who": e.actor_label,
                "action": e.action,
                "detail": e.detail,
            }
            for e in export.audit
        ],
    }


def _rating(row: tuple[Any, ...]) -> str:
    return json.dumps(dict(zip(RATING_COLUMNS, row, strict=True)), ensure_ascii=False)


def _head(session: Session, *, study_id: int) -> bytes:
    """The document up to its ratings array; what it was built from is freed on return."""
    export = gather(session, study=session.get_one(Study, study_id))
    text = json.dumps(document(export), ensure_ascii=False, default=_default)
    return (text[:-1] + ', "ratings": [').encode("utf-8")


def json_document(*, study_id: int) -> Iterator[bytes]:
    """The document, its ratings array last: one object per saved rating."""
    with reading() as session:
        yield _head(session, study_id=study_id)
        separator = ""
        for batch in rating_batches(session, study_id=study_id):
            yield (separator + ",".join(map(_rating, batch))).encode("utf-8")
            separator = ","
        yield b"]}"


def _default(value: Any) -> Any:
    """Datetimes inside stored JSON (audit details, frozen content) as ISO 8601."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
