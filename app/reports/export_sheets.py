"""The workbook's summary sheets: study, rounds, panel flow, results, lineage and evidence.

Cells are written through app.reports.sheet (safe text, Excel's limits; its names are
importable from here too). Figures come from app.services.results.round_results unrounded,
shown with number formats.
"""

from collections import defaultdict
from typing import Any

from openpyxl import Workbook

from app.consensus.results import GroupResult, StatementResult
from app.consensus.strength import STRENGTHS
from app.reports.exports import SCHEMA_VERSION, StudyExport
from app.reports.sheet import CUT as CUT
from app.reports.sheet import MAX_CHARS as MAX_CHARS
from app.reports.sheet import Col as Col
from app.reports.sheet import Sheet as Sheet
from app.reports.sheet import cell as cell
from app.reports.sheet import text as text
from app.services.numbers import whole_number

FIGURES = ("mean", "sd", "median", "q1", "q3", "iqr", "p30", "p70")
RAND = ("ipr", "iprcp", "ai", "ipras", "disagreement_index", "disagreement", "category")


def _pairs(export: StudyExport) -> list[tuple[str, Any]]:
    study = export.study
    labels = "; ".join(f"{k} = {v}" for k, v in sorted(study.scale_labels.items(), key=_point))
    rows: list[tuple[str, Any]] = [
        ("Study", study.title),
        ("Study id", study.id),
        ("Instructions to panelists", study.instructions),
        ("Languages", ", ".join(study.languages)),
        ("Stakeholder groups", ", ".join(study.groups) or "none declared"),
        ("Scale", f"{study.scale_min}–{study.scale_max}"),
        ("Scale labels", labels or "none"),
        ("Consensus definition", export.rule_words),
        ("Consensus rule (parameters)", study.rule),
        ("Quantile method", _quantiles(study.quantile_method)),
        ("Maximum rounds", study.max_rounds),
        ("Stopping rule (stability)", export.stopping_words),
        ("'Unable to rate' allowed", "yes" if study.allow_abstain else "no"),
        ("Group feedback hidden until rated", "yes" if study.hide_feedback_until_rated else "no"),
        ("Panelists vote on strength", "yes" if study.strength_vote else "no"),
        ("Evidence-level scheme", study.evidence_scheme),
    ]
    rows += [(f"Grading table, row {i}", line) for i, line in enumerate(export.grading_words, 1)]
    rows += [
        ("Rules frozen at (UTC)", study.rules_frozen_at or "not yet (round 1 has not opened)"),
        ("Rules fingerprint (SHA-256)", export.fingerprint),
        ("Finalized at (UTC)", study.finalized_at or "not finalized"),
        ("Study content hash (SHA-256)", study.content_hash or "not finalized"),
        ("Exported at (UTC)", export.exported_at),
        ("Export schema version", SCHEMA_VERSION),
        (
            "Pseudonymisation",
            "Panelists appear by code (P01 …). Names and e-mail addresses are only in the "
            "coordinators' separate panel export.",
        ),
        (
            "Ratings sheets",
            "One row per saved rating: a panelist who did not answer a statement has no row; "
            "'abstained' TRUE is 'unable to rate'. Times are UTC.",
        ),
    ]
    return rows


def _point(item: tuple[str, Any]) -> int:
    value = whole_number(item[0], low=-(10**6), high=10**6)
    return value if value is not None else 0


def _quantiles(method: str) -> str:
    return {
        "type7": "type7 (Hyndman & Fan type 7: R's default, Excel PERCENTILE.INC)",
        "type6": "type6 (Hyndman & Fan type 6: SPSS, Minitab, Excel PERCENTILE.EXC)",
    }.get(method, method)


def _study_sheet(workbook: Workbook, export: StudyExport) -> None:
    sheet = Sheet(workbook, "Study", [Col("Item", 34, wrap=True), Col("Value", 100, wrap=True)])
    for label, value in _pairs(export):
        sheet.add([label, value])
    sheet.finish()


def _rounds_sheet(workbook: Workbook, export: StudyExport) -> None:
    date = "yyyy-mm-dd hh:mm"
    sheet = Sheet(
        workbook,
        "Rounds",
        [
            Col("Round", 8),
            Col("Status", 10),
            Col("Opened (UTC)", 17, date),
            Col("Deadline (UTC)", 17, date),
            Col("Closed (UTC)", 17, date),
            Col("Statements", 11),
            Col("Invited", 9),
            Col("Responded", 11),
            Col("Response rate", 11, "0.0%"),
            Col("Rule as applied", 80),
        ],
    )
    for round_ in export.rounds:
        result = export.results.get(round_.id)
        sheet.add(
            [
                round_.number,
                round_.status.value + (" (provisional)" if round_.status.value == "open" else ""),
                round_.opens_at,
                round_.closes_at,
                round_.closed_at,
                len(result.statements) if result else None,
                result.invited if result else None,
                result.responded if result else None,
                result.response_rate if result else None,
                result.rule if result else None,
            ]
        )
    sheet.finish()


def _flow_sheet(workbook: Workbook, export: StudyExport) -> None:
    sheet = Sheet(
        workbook,
        "Panel flow",
        [
            Col("Round", 8),
            Col("Stakeholder group", 24),
            Col("Joined", 9),
            Col("Withdrew", 10),
            Col("Invited", 9),
            Col("Responded", 11),
            Col("Response rate", 11, "0.0%"),
        ],
    )
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in export.flow:
        rate = row.responded / row.invited if row.invited else None
        sheet.add(
            [row.round, row.group, row.joined, row.withdrew, row.invited, row.responded, rate]
        )
        for i, n in enumerate((row.joined, row.withdrew, row.invited, row.responded)):
            totals[row.round][i] += n
    for number, (joined, withdrew, invited, responded) in totals.items():
        rate = responded / invited if invited else None
        sheet.add([number, "All groups", joined, withdrew, invited, responded, rate])
    sheet.finish()


def _figure_columns(scale: range, *, rand: bool, strength: bool) -> list[Col]:
    two = "0.00"
    columns = [
        Col("Classification", 18),
        Col("n (rated)", 9),
        Col("Abstained", 10),
        Col("Mean", 8, two),
        Col("SD", 8, two),
        Col("Median", 8, "0.0#"),
        Col("Q1 (P25)", 8, "0.0#"),
        Col("Q3 (P75)", 8, "0.0#"),
        Col("IQR", 8, "0.0#"),
        Col("P30", 8, "0.0#"),
        Col("P70", 8, "0.0#"),
        Col("Agree (count)", 9),
        Col("Disagree (count)", 10),
        Col("% agree", 9, "0.0"),
        Col("% disagree", 10, "0.0"),
        Col("CV", 8, "0.000"),
    ]
    columns += [Col(f"Rated {point}", 8) for point in scale]
    if rand:
        columns += [
            Col("RAND IPR", 9, two),
            Col("RAND IPRCP", 10, two),
            Col("RAND AI", 9, two),
            Col("RAND IPRAS", 10, two),
            Col("RAND disagreement index", 12, "0.000"),
            Col("RAND disagreement", 12),
            Col("RAND category", 14),
        ]
    if strength:
        columns += [Col(f"Strength: {s.replace('_', ' ')}", 12) for s in STRENGTHS]
        columns += [Col("Panel strength", 16)]
    return columns


def _figures(result: GroupResult, scale: range, *, rand: bool, strength: bool) -> list[Any]:
    """One row's figures; `rand` and `strength` only for a statement's (a StatementResult)."""
    values: list[Any] = [result.classification, result.n, result.abstained]
    values += [getattr(result, name) for name in FIGURES]
    values += [result.agree_count, result.disagree_count]
    values += [result.pct_agree, result.pct_disagree, result.cv]
    values += [result.histogram.get(str(point), 0) for point in scale]
    if rand:
        assert isinstance(result, StatementResult)
        values += [getattr(result.rand, name) if result.rand else None for name in RAND]
    if strength:
        assert isinstance(result, StatementResult)
        votes = result.strength_votes or {}
        values += [votes.get(s) for s in STRENGTHS] + [result.panel_strength]
    return values


def _results_sheets(workbook: Workbook, export: StudyExport) -> None:
    study = export.study
    scale = range(study.scale_min, study.scale_max + 1)
    everything = [s for r in export.results.values() for s in r.statements]
    rand = any(s.rand is not None for s in everything)
    strength = any(s.strength_votes is not None for s in everything)
    texts = {v.id: v.text for s in export.statements for v in s.versions}
    numbers = export.version_numbers
    overall = Sheet(
        workbook,
        "Results",
        [
            Col("Round", 8),
            Col("Round status", 12),
            Col("Statement", 11),
            Col("Statement id", 10),
            Col("Version", 8),
            *_figure_columns(scale, rand=rand, strength=strength),
            Col("Wording rated", 70, wrap=True),
        ],
    )
    by_group = Sheet(
        workbook,
        "Results by group",
        [
            Col("Round", 8),
            Col("Statement", 11),
            Col("Statement id", 10),
            Col("Stakeholder group", 24),
            *_figure_columns(scale, rand=False, strength=False),
        ],
    )
    for round_ in export.rounds:
        result = export.results.get(round_.id)
        if result is None:
            continue
        status = "provisional" if result.provisional else "closed"
        for s in result.statements:
            head = [round_.number, status, s.key, s.statement_id, numbers[s.version_id]]
            figures = _figures(s, scale, rand=rand, strength=strength)
            overall.add([*head, *figures, texts[s.version_id]])
            for group, g in s.groups.items():
                by_group.add(
                    [
                        round_.number,
                        s.key,
                        s.statement_id,
                        group,
                        *_figures(g, scale, rand=False, strength=False),
                    ]
                )
    overall.finish()
    by_group.finish()


def _recommendations_sheet(workbook: Workbook, export: StudyExport) -> None:
    sheet = Sheet(
        workbook,
        "Recommendations",
        [
            Col("Status", 14),
            Col("Statement", 11),
            Col("Version", 8),
            Col("Recommendation", 70, wrap=True),
            Col("Last round", 8),
            Col("Classification", 18),
            Col("n", 6),
            Col("Median", 8, "0.0#"),
            Col("% agree", 9, "0.0"),
            Col("Evidence level", 10),
            Col("Level label", 30, wrap=True),
            Col("Level reasons", 60, wrap=True),
            Col("Grade", 18),
            Col("Grade label", 30, wrap=True),
            Col("Grade reason", 60, wrap=True),
            Col("Panel strength", 16),
            Col("Content hash (SHA-256)", 30),
        ],
    )
    status = "finalized" if export.finalized else "preview (not final)"
    for item in export.recommendations:
        figures = item.get("figures") or {}
        level = item.get("level") or {}
        sheet.add(
            [
                status,
                item["key"],
                item.get("version"),
                item.get("text"),
                item.get("round"),
                item.get("classification") or "not rated",
                figures.get("n"),
                figures.get("median"),
                figures.get("pct_agree"),
                level.get("code"),
                level.get("label"),
                "\n".join(level.get("reasons") or []),
                item.get("grade"),
                item.get("grade_label"),
                item.get("grade_reason"),
                item.get("panel_strength"),
                item.get("content_hash"),
            ]
        )
    sheet.finish()


def _lineage_sheet(workbook: Workbook, export: StudyExport) -> None:
    asked: dict[int, list[int]] = defaultdict(list)  # version id -> round numbers
    for round_ in export.rounds:
        result = export.results.get(round_.id)
        for s in result.statements if result else ():
            asked[s.version_id].append(round_.number)
    sheet = Sheet(
        workbook,
        "Statements",
        [
            Col("Statement", 11),
            Col("Statement id", 10),
            Col("Topic", 18),
            Col("Version", 8),
            Col("Version id", 10),
            Col("Revises version id", 11),
            Col("Current", 8),
            Col("Wording", 70, wrap=True),
            Col("Translations", 50, wrap=True),
            Col("Why revised", 40, wrap=True),
            Col("Written (UTC)", 17, "yyyy-mm-dd hh:mm"),
            Col("Rated in rounds", 10),
            Col("Dropped (UTC)", 17, "yyyy-mm-dd hh:mm"),
        ],
    )
    for statement in export.statements:
        for version in reversed(statement.versions):  # oldest first
            translated = "\n".join(f"{k}: {v}" for k, v in sorted(version.translations.items()))
            sheet.add(
                [
                    statement.key,
                    statement.id,
                    statement.topic,
                    version.version,
                    version.id,
                    version.parent_id,
                    "yes" if version is statement.current else "no",
                    version.text,
                    translated or None,
                    version.rationale,
                    version.created_at,
                    ", ".join(map(str, asked.get(version.id, []))) or None,
                    statement.dropped_at,
                ]
            )
    sheet.finish()


def _sources_sheet(workbook: Workbook, export: StudyExport) -> None:
    keys = export.keys
    sources = Sheet(
        workbook,
        "Evidence",
        [
            Col("Source id", 9),
            Col("Citation", 60, wrap=True),
            Col("DOI", 24),
            Col("PMID", 10),
            Col("Design", 18),
            Col("PEDro (0–10)", 9),
            Col("PEDro items", 24),
            Col("AMSTAR-2", 14),
            Col("AMSTAR score", 9),
            Col("Pooled levels", 12),
            Col("Illustrative", 10),
            Col("Supports statements", 20),
        ],
    )
    for row, statement_ids in export.sources:
        items = row.pedro_items
        sources.add(
            [
                row.id,
                row.citation,
                row.doi,
                row.pmid,
                row.design,
                row.pedro,
                "".join("1" if i else "0" for i in items) if items is not None else None,
                row.amstar2,
                row.amstar_score,
                ", ".join(map(str, row.pooled_levels)) or None,
                "yes" if row.illustrative else "no",
                ", ".join(keys.get(i, str(i)) for i in statement_ids),
            ]
        )
    sources.finish()


def _levels_sheet(workbook: Workbook, export: StudyExport) -> None:
    levels = Sheet(
        workbook,
        "Evidence levels",
        [
            Col("Statement", 11),
            Col("Scheme", 12),
            Col("Level", 8),
            Col("Label", 36, wrap=True),
            Col("Computed level (before override)", 14),
            Col("Reasons", 90, wrap=True),
        ],
    )
    for statement in export.statements:
        level = export.levels.get(statement.id)
        if level is not None:
            reasons = "\n".join(level.reasons)
            levels.add(
                [
                    statement.key,
                    level.scheme,
                    level.code,
                    level.label,
                    level.overridden_from,
                    reasons,
                ]
            )
    levels.finish()


def _audit_sheet(workbook: Workbook, export: StudyExport) -> None:
    sheet = Sheet(
        workbook,
        "Audit log",
        [
            Col("Entry", 8),
            Col("At (UTC)", 19, "yyyy-mm-dd hh:mm:ss"),
            Col("Who", 28),
            Col("Action", 22),
            Col("Detail", 100),
        ],
    )
    for entry in export.audit:
        sheet.add([entry.id, entry.at, entry.actor_label, entry.action, entry.detail])
    sheet.finish()


def summary_sheets(workbook: Workbook, export: StudyExport) -> None:
    """Study and rules, rounds, panel flow, results, recommendations, lineage and evidence."""
    _study_sheet(workbook, export)
    _rounds_sheet(workbook, export)
    _flow_sheet(workbook, export)
    _results_sheets(workbook, export)
    _recommendations_sheet(workbook, export)
    _lineage_sheet(workbook, export)
    _sources_sheet(workbook, export)
    _levels_sheet(workbook, export)


def audit_sheet(workbook: Workbook, export: StudyExport) -> None:
    """The study's audit log, this export included."""
    _audit_sheet(workbook, export)
