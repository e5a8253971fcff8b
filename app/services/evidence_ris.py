"""Importing evidence sources from a RIS file (EndNote, Zotero, Mendeley, RefWorks exports).

A RIS file carries citations, not appraisals: app.services.ris reads each reference and what it
says (its design from a coordinator's “design: rct” or recognised from its title, publication
type or keywords, never guessed; its markers “PEDro: 7”, “statements: S01” …). Here each
reference becomes a new source or a preview error that names it: a reference without a
recognisable design stops the import until it is settled. Everything else follows the CSV import.
"""

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consensus.levels import check_pooled_levels
from app.consensus.sources import AMSTAR_MAX, DESIGNS, PEDRO_MAX, Source
from app.models import EvidenceSource, Statement, Study
from app.services.evidence import NewSource
from app.services.imports import Preview, RowError
from app.services.numbers import whole_number
from app.services.ris import DOI_PREFIX, Reference, markers_of, shortened
from app.services.ris import citation_of as citation_of
from app.services.ris import design_named as design_named
from app.services.ris import design_of as design_of
from app.services.ris import doi_of as doi_of
from app.services.ris import is_ris as is_ris
from app.services.ris import pmid_of as pmid_of
from app.services.ris import read_references as read_references

MAX_DOI = 200  # the column width
PLACES = {"N1": "note", "KW": "keyword"}
LABELS = {
    "pedro": "PEDro",
    "amstar2": "AMSTAR-2",
    "amstar_score": "AMSTAR",
    "design": "design",
    "pooled_levels": "pooled levels",
}
HOW_TO_SAY = (
    "add a keyword or note such as “design: rct” to it in your reference manager (designs: "
    + ", ".join(DESIGNS)
    + ") and export again, or import it from a CSV file with a design column"
)

Markers = dict[str, list[tuple[str, str]]]


@dataclass(slots=True)
class RisPreview(Preview[NewSource]):
    found: list[str] = field(default_factory=list)  # per new source: where its design came from
    unit: str = "Line"  # errors name the line where the reference starts


@dataclass(slots=True)
class _Checked:
    """One reference being checked: its citation, its markers, and the problems found so far."""

    reference: Reference
    citation: str
    markers: Markers
    keywords: list[str]
    errors: list[RowError] = field(default_factory=list)

    def fail(self, column: str | None, message: str) -> None:
        """A problem, named by the reference's first line and its citation."""
        self.errors.append(RowError(self.reference.line, column, f"{self.citation}: {message}"))


def identities(*, doi: str | None, pmid: str | None, citation: str) -> set[str]:
    """What makes two sources the same: the same DOI, PubMed id or citation."""
    found = {f"citation:{citation.strip().casefold()}"}
    if doi:
        found.add(f"doi:{DOI_PREFIX.sub('', doi.strip()).lower()}")
    if pmid:
        found.add(f"pmid:{pmid.strip()}")
    return found


def _numbers(markers: Markers) -> dict[str, tuple[str, str, int | None]]:
    """PEDro and AMSTAR as given (“7”, “7/10”): tag, text, and the number when it is one."""
    out = {}
    for name, limit in (("pedro", PEDRO_MAX), ("amstar_score", AMSTAR_MAX)):
        if name in markers:
            tag, given = markers[name][0]
            value = re.sub(rf"\s*/\s*{limit}$", "", given)
            out[name] = (tag, given, whole_number(value, low=0, high=limit))
    return out


def _check_repeats(checked: _Checked) -> None:
    """A marker other than statements given twice with different values is refused."""
    for name, given in checked.markers.items():
        values = list(dict.fromkeys(value for _, value in given))
        if name != "statements" and len({v.casefold() for v in values}) > 1:
            checked.fail(
                given[1][0],
                f"{LABELS[name]} is given more than once ({', '.join(values)}); keep one.",
            )


def _design(checked: _Checked) -> tuple[str | None, str]:
    """The design the coordinator named, else the one recognised; and where it came from."""
    if "design" not in checked.markers:
        design, found = design_of(checked.reference, checked.keywords)
        if design is None:
            checked.fail("TY", f"{found}; {HOW_TO_SAY}.")
        return design, found
    tag, named = checked.markers["design"][0]
    design = design_named(named)
    if design is None:
        checked.fail(tag, f"“design: {named}” is not a design; use one of {', '.join(DESIGNS)}.")
    return design, f"from its {PLACES[tag]} “design: {named}”"


def _checked_numbers(checked: _Checked) -> dict[str, tuple[str, str, int | None]]:
    numbers = _numbers(checked.markers)
    for name, (tag, written, number) in numbers.items():
        if number is None:
            limit = PEDRO_MAX if name == "pedro" else AMSTAR_MAX
            checked.fail(
                tag,
                f"{LABELS[name]} “{shortened(written, 20)}” must be a whole number 0–{limit}.",
            )
    return numbers


def _linked(checked: _Checked, folded_keys: dict[str, str]) -> list[str]:
    """The statement keys the reference names; unknown ones are refused."""
    linked = [
        key
        for _, value in checked.markers.get("statements", [])
        for key in re.split(r"[;,\s]+", value)
        if key
    ]
    missing = [key for key in linked if key.casefold() not in folded_keys]
    if missing:
        tag = checked.markers["statements"][0][0]
        checked.fail(tag, f"unknown statement key(s) {', '.join(missing)}.")
    return linked


def _identifiers(checked: _Checked) -> tuple[str | None, str | None]:
    """DOI and PubMed id; a DO tag that holds no DOI, or one too long to store, is refused."""
    doi, pmid = doi_of(checked.reference), pmid_of(checked.reference)
    given_doi = checked.reference.first("DO")
    if given_doi and doi is None:
        checked.fail("DO", f"“{shortened(given_doi)}” is not a DOI (one looks like 10.1234/…).")
    elif doi and len(doi) > MAX_DOI:
        checked.fail("DO", f"the DOI has {len(doi)} characters; the limit is {MAX_DOI}.")
    return doi, pmid


def _new_source(
    checked: _Checked,
    *,
    design: str,
    numbers: dict[str, tuple[str, str, int | None]],
    identifiers: tuple[str | None, str | None],
    statement_ids: list[int],
) -> NewSource:
    markers = checked.markers
    amstar2 = markers.get("amstar2", [("", "")])[0][1]
    return NewSource(
        citation=checked.citation,
        design=design,
        doi=identifiers[0],
        pmid=identifiers[1],
        pedro=numbers["pedro"][2] if "pedro" in numbers else None,
        amstar2=re.sub(r"[\s-]+", "_", amstar2.strip().lower()) or None,
        amstar_score=numbers["amstar_score"][2] if "amstar_score" in numbers else None,
        pooled_levels=[
            code
            for _, value in markers.get("pooled_levels", [])
            for code in re.split(r"[;,\s]+", value)
            if code
        ],
        illustrative=False,
        statement_ids=statement_ids,
    )


def _check_levels(fields: NewSource, *, line: int, scheme: str) -> None:
    """Pooled levels the study's evidence scheme does not know raise ValueError."""
    source = Source(
        id=line,
        citation=fields.citation,
        design=fields.design,  # type: ignore[arg-type]
        pedro=fields.pedro,
        amstar2=fields.amstar2,  # type: ignore[arg-type]
        amstar_score=fields.amstar_score,
        pooled_levels=tuple(fields.pooled_levels),
    )
    check_pooled_levels(source, scheme)  # type: ignore[arg-type]


def _preview_one(
    preview: RisPreview,
    reference: Reference,
    *,
    study: Study,
    keys: dict[str, int],
    folded_keys: dict[str, str],
    known: set[str],
) -> None:
    """One reference: its problems, or a new source, or one more already in the library."""
    citation = citation_of(reference)
    if not citation:
        preview.errors.append(
            RowError(reference.line, "TI", "The reference has neither authors nor a title to cite.")
        )
        return
    checked = _Checked(reference, citation, *markers_of(reference))
    _check_repeats(checked)
    design, found = _design(checked)
    numbers = _checked_numbers(checked)
    linked = _linked(checked, folded_keys)
    identifiers = _identifiers(checked)
    preview.errors += checked.errors
    if checked.errors or design is None:
        return
    fields = _new_source(
        checked,
        design=design,
        numbers=numbers,
        identifiers=identifiers,
        statement_ids=list(dict.fromkeys(keys[folded_keys[k.casefold()]] for k in linked)),
    )
    try:
        _check_levels(fields, line=reference.line, scheme=study.evidence_scheme)
    except ValueError as exc:
        preview.errors.append(RowError(reference.line, None, str(exc)))
        return
    own = identities(doi=identifiers[0], pmid=identifiers[1], citation=citation)
    if own & known:
        preview.unchanged += 1
        return
    known |= own
    preview.new.append(fields)
    preview.found.append(found)


def preview_sources(session: Session, *, study: Study, filename: str, content: bytes) -> RisPreview:
    """What a RIS file would add; each problem is named by the line its reference starts on."""
    references = read_references(filename=filename, content=content)
    preview = RisPreview()
    keys = dict(
        session.execute(
            select(Statement.key, Statement.id).where(Statement.study_id == study.id)
        ).all()
    )
    folded_keys = {key.casefold(): key for key in keys}
    known: set[str] = set()
    for row in session.scalars(select(EvidenceSource).where(EvidenceSource.study_id == study.id)):
        known |= identities(doi=row.doi, pmid=row.pmid, citation=row.citation)
    for reference in references:
        _preview_one(
            preview, reference, study=study, keys=keys, folded_keys=folded_keys, known=known
        )
    return preview
