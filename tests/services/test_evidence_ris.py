"""Evidence sources from RIS files as EndNote, Zotero, Mendeley and RefWorks export them."""

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.models import AuditEntry, EvidenceLink, EvidenceSource
from app.services import evidence, evidence_import, evidence_ris
from app.services.errors import Invalid
from tests import dbstate
from tests.services.builders import Built, build_study

# EndNote 20, “RefMan (RIS) Export”: BOM, CRLF, keywords continued on lines of their own,
# PubMed's publication types in M3, the PubMed id in AN with DB “PubMed”.
ENDNOTE = (
    "\ufeffTY  - JOUR\r\n"
    "AU  - Smith, John A.\r\n"
    "AU  - Doe, Jane\r\n"
    "AU  - Roe, R.\r\n"
    "PY  - 2019\r\n"
    "DA  - Mar 12\r\n"
    "TI  - Aerobic exercise for painful diabetic neuropathy: a randomized controlled trial\r\n"
    "T2  - J Pain Res\r\n"
    "VL  - 12\r\n"
    "IS  - 3\r\n"
    "SP  - 101\r\n"
    "EP  - 109\r\n"
    "DO  - https://doi.org/10.2147/JPR.S190001\r\n"
    "AN  - 30912345\r\n"
    "DB  - PubMed\r\n"
    "M3  - Journal Article; Randomized Controlled Trial\r\n"
    "KW  - Diabetic Neuropathies/*therapy\r\n"
    "Exercise Therapy/*methods\r\n"
    "statement: S01\r\n"
    "N1  - PEDro: 7/10\r\n"
    "ID  - 17\r\n"
    "ER  - \r\n"
    "\r\n"
    "TY  - JOUR\r\n"
    "AU  - Li, Wei\r\n"
    "AU  - Chen, Hong\r\n"
    "PY  - 2021\r\n"
    "TI  - Exercise for neuropathic pain: a systematic review and meta-analysis of "
    "randomised controlled trials\r\n"
    "T2  - Pain Medicine\r\n"
    "VL  - 22\r\n"
    "SP  - 1-14\r\n"
    "DO  - 10.1093/pm/pnab001\r\n"
    "KW  - Randomized Controlled Trials as Topic\r\n"
    "N1  - AMSTAR-2: moderate; statements: S01, S02\r\n"
    "ID  - 18\r\n"
    "ER  - \r\n"
)

# Zotero 7 export: LF, no BOM, a Chinese title and author, the note as HTML, the PubMed link in
# UR, tags as KW; the second record names its design in a tag, the third gets it from its title.
ZOTERO = (
    "TY  - JOUR\n"
    "TI  - 太极拳对帕金森病患者平衡功能的影响：一项随机对照试验\n"
    "AU  - 王, 小明\n"
    "AU  - 李, 华\n"
    "T2  - 中国康复医学杂志\n"
    "DA  - 2020/05/01/\n"
    "PY  - 2020\n"
    "VL  - 35\n"
    "IS  - 5\n"
    "SP  - 541\n"
    "EP  - 547\n"
    "UR  - https://pubmed.ncbi.nlm.nih.gov/32400001/\n"
    "KW  - Parkinson Disease\n"
    "KW  - statement:S02\n"
    "N1  - <p>PEDro: 5</p>\n"
    "ER  - \n"
    "\n"
    "TY  - JOUR\n"
    "TI  - Walking outdoors and neuropathic pain after spinal cord injury\n"
    "AU  - Garcia, Maria\n"
    "T2  - Spinal Cord\n"
    "PY  - 2018\n"
    "DO  - 10.1038/s41393-018-0001-1\n"
    "KW  - design: cohort\n"
    "KW  - statement:S03\n"
    "ER  - \n"
    "\n"
    "TY  - JOUR\n"
    "TI  - Balance training in chemotherapy-induced neuropathy: a case series\n"
    "AU  - Okafor, Ngozi\n"
    "T2  - Support Care Cancer\n"
    "PY  - 2022\n"
    "ER  - \n"
)


def study(session: Session) -> Built:
    return build_study(session, statements=3, panelists=1)


def sources(session: Session, built: Built) -> dict[str, EvidenceSource]:
    rows = session.scalars(
        select(EvidenceSource)
        .where(EvidenceSource.study_id == built.study.id)
        .execution_options(populate_existing=True)
    )
    return {row.citation.split(",")[0]: row for row in rows}


def linked_keys(session: Session, built: Built, source: EvidenceSource) -> list[str]:
    by_id = {s.id: s.key for s in built.statements}
    ids = session.scalars(
        select(EvidenceLink.statement_id).where(EvidenceLink.source_id == source.id)
    )
    return sorted(by_id[i] for i in ids)


def import_ris(
    session: Session, built: Built, text: str, name: str = "library.ris"
) -> list[EvidenceSource]:
    return evidence_import.import_sources(
        session, actor=built.user, study=built.study, filename=name, content=text.encode()
    )


def test_an_endnote_export_imports_citations_identifiers_designs_appraisals_and_links(
    session: Session,
) -> None:
    built = study(session)
    made = import_ris(session, built, ENDNOTE)
    assert len(made) == 2
    found = sources(session, built)
    trial, review = found["Smith 2019"], found["Li 2021"]
    assert trial.citation == (
        "Smith 2019, Aerobic exercise for painful diabetic neuropathy: a randomized controlled "
        "trial. J Pain Res 12(3):101-109"
    )
    assert (trial.design, trial.pedro, trial.doi, trial.pmid) == (
        "rct",
        7,
        "10.2147/JPR.S190001",
        "30912345",
    )
    assert (review.design, review.amstar2, review.doi, review.pmid) == (
        "systematic_review",
        "moderate",
        "10.1093/pm/pnab001",
        None,
    )
    assert review.citation.endswith("Pain Medicine 22:1-14")
    assert linked_keys(session, built, trial) == ["S01"]
    assert linked_keys(session, built, review) == ["S01", "S02"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "import.evidence")).one()
    assert entry.detail["imported"] == 2
    assert entry.detail["filename"] == "library.ris"
    level = evidence.levels(session, study=built.study)[built.statements[0].id]
    assert level.code == "1b"
    assert "Smith 2019" in " ".join(level.reasons)


def test_a_zotero_export_keeps_chinese_titles_and_reads_html_notes_and_pubmed_links(
    session: Session,
) -> None:
    built = study(session)
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="Exported Items.ris", content=ZOTERO.encode()
    )
    assert isinstance(preview, evidence_ris.RisPreview)
    assert preview.ok
    assert preview.found == [
        "from its title",
        "from its keyword “design: cohort”",
        "from its title",
    ]
    import_ris(session, built, ZOTERO)
    found = sources(session, built)
    tai_chi = found["王 2020"]
    assert tai_chi.citation == (
        "王 2020, 太极拳对帕金森病患者平衡功能的影响：一项随机对照试验. "
        "中国康复医学杂志 35(5):541-547"
    )
    assert (tai_chi.design, tai_chi.pedro, tai_chi.pmid) == ("rct", 5, "32400001")
    assert linked_keys(session, built, tai_chi) == ["S02"]
    walking = found["Garcia 2018"]
    assert (walking.design, walking.pedro, walking.amstar2) == ("cohort", None, None)
    assert linked_keys(session, built, walking) == ["S03"]
    series = found["Okafor 2022"]
    assert series.design == "case_series"
    assert linked_keys(session, built, series) == []


@pytest.mark.parametrize(
    ("title", "design"),
    [
        ("Strength training after stroke: a randomised controlled trial", "rct"),
        ("Walking for sciatica: a pilot randomized, assessor-blinded trial", "rct"),
        (
            "Exercise for pain: a systematic review of randomized controlled trials",
            "systematic_review",
        ),
        ("Aquatic exercise and pain: a meta-analysis of RCTs", "meta_analysis"),
        ("A non-randomized controlled trial of stretching", "non_randomised_controlled"),
        ("Pain after surgery: a retrospective cohort study", "cohort"),
        ("运动疗法治疗神经病理性疼痛的系统评价与Meta分析", "systematic_review"),
    ],
)
def test_a_design_named_in_the_title_is_recognised(title: str, design: str) -> None:
    reference = evidence_ris.Reference(1, {"TY": ["JOUR"], "TI": [title]})
    assert evidence_ris.design_of(reference, []) == (design, "from its title")


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({"TI": ["Exercise for neuropathic pain: a review of randomized trials"]}, "review"),
        ({"TI": ["Study protocol for a randomized controlled trial of walking"]}, "protocol"),
        ({"TI": ["A case-control study nested in a cohort study"]}, "more than one design"),
        (
            {"TI": ["Walking and pain"], "KW": ["Randomized Controlled Trials as Topic"]},
            "no design",
        ),
    ],
)
def test_a_design_that_cannot_be_told_is_not_guessed(tags: dict[str, list[str]], why: str) -> None:
    reference = evidence_ris.Reference(1, {"TY": ["JOUR"], **tags})
    design, reason = evidence_ris.design_of(reference, tags.get("KW", []))
    assert design is None
    assert why in reason


def test_a_reference_without_a_recognisable_design_refuses_the_whole_file(
    session: Session, engine: Engine
) -> None:
    built = study(session)
    session.commit()
    before = dbstate.dump(engine)
    unclear = ENDNOTE + (
        "TY  - JOUR\r\nAU  - Brown, Alan\r\nPY  - 2017\r\n"
        "TI  - Exercise and neuropathic pain\r\nT2  - Pain\r\nER  - \r\n"
    )
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="library.ris", content=unclear.encode()
    )
    assert isinstance(preview, evidence_ris.RisPreview)
    assert len(preview.new) == 2
    assert preview.unit == "Line"
    (error,) = preview.errors
    assert (error.row, error.column) == (unclear.count("\n", 0, unclear.index("AU  - Brown")), "TY")
    assert error.message.startswith("Brown 2017, Exercise and neuropathic pain. Pain: no design")
    assert "“design: rct”" in error.message
    assert "CSV file with a design column" in error.message
    with pytest.raises(Invalid, match=r"^1 row has errors; nothing was imported\.$"):
        import_ris(session, built, unclear)
    session.rollback()
    assert dbstate.dump(engine) == before
    fixed = unclear.replace(
        "TI  - Exercise and", "KW  - design: expert opinion\r\nTI  - Exercise and"
    )
    assert len(import_ris(session, built, fixed)) == 3
    assert sources(session, built)["Brown 2017"].design == "expert_opinion"


def test_appraisals_statement_keys_and_identifiers_are_checked_per_reference(
    session: Session,
) -> None:
    built = study(session)
    text = (
        "TY  - JOUR\nAU  - Ng, A\nPY  - 2020\nTI  - A systematic review of walking\n"
        "N1  - PEDro: 6\nER  - \n"
        "TY  - JOUR\nAU  - Ota, B\nPY  - 2020\nTI  - Cycling: a randomized controlled trial\n"
        "N1  - PEDro: seven\nKW  - statement: S09\nER  - \n"
        "TY  - JOUR\nAU  - Pal, C\nPY  - 2020\nTI  - Rowing: a randomized controlled trial\n"
        "N1  - PEDro: 7\nN1  - PEDro: 8\nDO  - not a doi\nER  - \n"
    )
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="r.ris", content=text.encode()
    )
    assert [(e.row, e.column) for e in preview.errors] == [
        (1, None),
        (7, "N1"),
        (7, "KW"),
        (14, "N1"),
        (14, "DO"),
    ]
    messages = [e.message for e in preview.errors]
    assert "PEDro scale appraises randomised controlled trials only" in messages[0]
    assert messages[1] == (
        "Ota 2020, Cycling: a randomized controlled trial: PEDro “seven” must be a whole number "
        "0–10."
    )
    assert "unknown statement key(s) S09" in messages[2]
    assert "PEDro is given more than once (7, 8)" in messages[3]
    assert "“not a doi” is not a DOI" in messages[4]
    assert preview.new == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"citation,design\nSmith 2019,rct\n",
            "r.ris is not a RIS file: line 1 reads “citation,design”",
        ),
        (
            b"\n\nTY  - JOUR\nTI  - One\nTY  - JOUR\nTI  - Two\nER  - \n",
            "r.ris, line 5: a new reference starts, but the one starting on line 3 has no",
        ),
        (
            b"TY  - JOUR\nTI  - A randomized trial\nER  - \nAU  - Stray, A\n",
            "r.ris, line 4: “AU  - Stray, A” is outside any reference (the one before ended "
            "with ER on line 3)",
        ),
        (
            b"TY  - JOUR\r\nTI  - A randomized trial\r\nAU  - Cut, A\r\n",
            "r.ris: the reference starting on line 1 has no “ER  - ” line to end it",
        ),
        (b"  \r\n", "r.ris is empty"),
        (
            b"TY  - JOUR\nTI  - A randomized trial\nAU  - Jos\xe9, A\nER  - \n",
            "r.ris is not UTF-8 text: the byte 0xE9 on line 3",
        ),
    ],
)
def test_a_file_that_is_not_ris_or_is_cut_short_is_refused_with_its_line(
    session: Session, engine: Engine, content: bytes, message: str
) -> None:
    built = study(session)
    session.commit()
    before = dbstate.dump(engine)
    with pytest.raises(Invalid) as refused:
        evidence_import.import_sources(
            session, actor=built.user, study=built.study, filename="r.ris", content=content
        )
    assert refused.value.message.startswith(message), refused.value.message
    session.rollback()
    assert dbstate.dump(engine) == before


def test_spacing_variants_old_mac_line_ends_and_refworks_tags_are_read(session: Session) -> None:
    built = study(session)
    text = (
        "TY - JOUR\rA1 - Kim, Soo-jin\rY1 - 2016/04/01\rT1 - Stretching for cervical "
        "radiculopathy: a randomised trial\rJF - Clinical Rehabilitation\rER -\r"
        "TY  - JOUR\rA1  - Park, Min\rY1  - 2015///\rT1  - Yoga: a systematic review\rER  -"
    )
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="refworks.ris", content=text.encode()
    )
    assert preview.ok
    assert [(s.citation, s.design) for s in preview.new] == [
        (
            "Kim 2016, Stretching for cervical radiculopathy: a randomised trial. "
            "Clinical Rehabilitation",
            "rct",
        ),
        ("Park 2015, Yoga: a systematic review", "systematic_review"),
    ]
    windows_unicode = evidence_import.preview_sources(
        session, study=built.study, filename="refworks.ris", content=text.encode("utf-16")
    )
    assert windows_unicode.new == preview.new


def test_importing_the_same_file_again_adds_nothing_and_a_csv_source_is_recognised(
    session: Session,
) -> None:
    built = study(session)
    evidence.add_source(
        session,
        actor=built.user,
        study=built.study,
        citation="Li W et al. 2021 (entered by hand)",
        design="systematic_review",
        doi="10.1093/PM/PNAB001",
    )
    twice = ENDNOTE + ENDNOTE.removeprefix("\ufeff")  # a duplicate inside the file too
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="library.ris", content=twice.encode()
    )
    assert [s.citation.split(",")[0] for s in preview.new] == ["Smith 2019"]
    assert preview.unchanged == 3
    assert len(import_ris(session, built, ENDNOTE)) == 1
    again = evidence_import.preview_sources(
        session, study=built.study, filename="library.ris", content=ENDNOTE.encode()
    )
    assert again.ok
    assert again.new == []
    assert again.unchanged == 2
    assert import_ris(session, built, ENDNOTE) == []
    assert len(sources(session, built)) == 2


def test_an_endnote_text_export_is_read_as_ris_and_other_files_are_named_clearly(
    session: Session,
) -> None:
    built = study(session)
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="My EndNote Library.txt", content=ENDNOTE.encode()
    )
    assert preview.ok
    assert len(preview.new) == 2
    with pytest.raises(Invalid, match=r"^refs\.pdf is not a CSV, XLSX or RIS file"):
        evidence_import.preview_sources(
            session, study=built.study, filename="refs.pdf", content=b"%PDF-1.7"
        )


def test_a_superscript_digit_is_an_error_not_a_crash(session: Session) -> None:
    built = study(session)
    text = (
        "TY  - JOUR\nAU  - Ota, B\nPY  - 2020\nTI  - Cycling: a randomized controlled trial\n"
        "N1  - PEDro: ²\nER  - \n"
    )
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="r.ris", content=text.encode()
    )
    assert [e.message for e in preview.errors] == [
        "Ota 2020, Cycling: a randomized controlled trial: PEDro “²” must be a whole number 0–10."
    ]


def test_a_score_of_five_thousand_digits_is_an_error_not_a_crash(session: Session) -> None:
    """int() refuses more than 4,300 digits: the preview crashed with a 500."""
    built = study(session)
    text = (
        "TY  - JOUR\nAU  - Ota, B\nPY  - 2020\nTI  - Cycling: a randomized controlled trial\n"
        f"N1  - PEDro: {'9' * 5_000}\nN1  - AMSTAR: ٣\nER  - \n"
    )
    preview = evidence_import.preview_sources(
        session, study=built.study, filename="r.ris", content=text.encode()
    )
    assert [e.message for e in preview.errors] == [
        "Ota 2020, Cycling: a randomized controlled trial: PEDro “9999999999999999999…” must be "
        "a whole number 0–10.",
        "Ota 2020, Cycling: a randomized controlled trial: AMSTAR “٣” must be a whole number 0–11.",
    ]
