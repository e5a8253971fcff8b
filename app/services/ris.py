"""Reading a RIS file (EndNote, Zotero, Mendeley, RefWorks exports) and what each reference says.

A reference's citation, DOI and PubMed id come from its tags; its design from what the
coordinator wrote in it (a keyword or note “design: rct”), else from its title, publication type
or keywords — CONSORT asks trials to say “randomised” in the title and PRISMA asks reviews to
say “systematic review” or “meta-analysis” — and is never guessed. Notes and keywords may also
carry markers: “PEDro: 7”, “AMSTAR-2: moderate”, “AMSTAR: 8”, “pooled levels: 1b, 2” and
“statements: S01, S03”. app.services.evidence_ris turns the references into a preview.
"""

import codecs
import html
import re
from dataclasses import dataclass, field
from pathlib import PurePath

from app.consensus.sources import DESIGNS, Design
from app.services.errors import Invalid
from app.services.imports import MAX_ROWS

# Only 0-9: str.isdigit() also accepts "²" and other digits that int() refuses.
ASCII_NUMBER = re.compile(r"[0-9]+")

TAG_LINE = re.compile(r"([A-Z][A-Z0-9])[ \t]*-(?:[ \t]+(.*?))?[ \t]*")
YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")
DOI = re.compile(r"10\.\d{4,9}/\S+")
DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*|DOI\s+)", re.IGNORECASE)
PMID_LABELLED = re.compile(r"\b(?:PMID|PubMed(?:\s+ID)?)\s*:?\s*(\d{1,9})\b", re.IGNORECASE)
PMID_URL = re.compile(r"pubmed[^0-9]*?(?:/|list_uids=|term=)(\d{1,9})\b", re.IGNORECASE)
INITIALS = re.compile(r"(?:[A-Z]\.?-?){1,3}")
MARKER = re.compile(
    r"\s*(?P<name>pedro(?:\s+(?:score|total))?|amstar[\s-]?2(?:\s+[a-z ]+?)?|"
    r"amstar(?:\s+score)?|design|statements?|pooled[\s_-]levels?)(?:\s*[:=]\s*|\s+(?=\d))(?P<value>.*?)\s*",
    re.IGNORECASE,
)
MARKER_START = re.compile(
    r";\s*(?=(?:pedro|amstar|design|statements?|pooled)[^:=;]*[:=])", re.IGNORECASE
)
HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li)\s*/?>", re.IGNORECASE)
HTML_TAG = re.compile(r"<[^>]+>")
AS_TOPIC = re.compile(r"\bas topic\b|\(topic\)", re.IGNORECASE)  # MeSH and Emtree subjects
PROTOCOL = re.compile(
    r"\bstudy protocol\b|\bprotocol (?:for|of) an?\b|\b(?:trial|review) protocol\b|研究方案", re.I
)
ANY_REVIEW = re.compile(r"\b(?:review|overview)\b|(?<!系统)综述", re.IGNORECASE)
NON_RANDOMISED = re.compile(
    r"\b(?:non|quasi)[\s-]?randomi[sz](?:ed|ation)\b[^.;:]{0,40}?\b(?:trials?|stud(?:y|ies))\b"
    r"|[非半类]随机(?:对照)?(?:试验|研究)",
    re.IGNORECASE,
)
# Designs as titles, publication types and keywords name them, in English and in Chinese;
# reviews first, since they name the designs they pool.
PHRASES: tuple[tuple[Design, str, re.Pattern[str]], ...] = (
    (
        "systematic_review",
        "systematic review",
        re.compile(r"\bsystematic(?:al)?\s+reviews?\b|系统评价|系统综述", re.I),
    ),
    (
        "meta_analysis",
        "meta-analysis",
        re.compile(r"\bmeta[\s-]?analy[sz](?:is|es|ses)\b|meta\s*分析|荟萃分析|元分析", re.I),
    ),
    ("non_randomised_controlled", "non-randomised controlled trial", NON_RANDOMISED),
    (
        "rct",
        "randomised controlled trial",
        re.compile(
            r"\brandomi[sz]ed\b[^.;:]{0,60}?\btrials?\b|\bRCTs?\b|随机(?:对照|临床)(?:试验|研究)",
            re.I,
        ),
    ),
    (
        "cohort",
        "cohort study",
        re.compile(
            r"\bcohort\s+stud(?:y|ies)\b|\b(?:prospective|retrospective)\s+cohort\b|队列研究", re.I
        ),
    ),
    (
        "case_control",
        "case-control study",
        re.compile(r"\bcase[\s-]control\s+stud|病例对照研究", re.I),
    ),
    ("case_series", "case series", re.compile(r"\bcase\s+series\b|病例系列", re.I)),
    (
        "pre_post",
        "pre-post study",
        re.compile(r"\bpre[\s-]?post\b|\bbefore[\s-]and[\s-]after\s+stud|自身前后对照", re.I),
    ),
)
REVIEWS = ("systematic_review", "meta_analysis")


@dataclass(slots=True)
class Reference:
    """One RIS record: its tags' values in file order, continuation lines kept."""

    line: int  # of its TY line
    tags: dict[str, list[str]] = field(default_factory=dict)

    def values(self, *tags: str) -> list[str]:
        """The non-empty values of these tags, tag by tag (AU before A1: the preferred first)."""
        return [value for tag in tags for value in self.tags.get(tag, []) if value]

    def first(self, *tags: str) -> str:
        """The first non-empty value among these tags, or “” (exporters differ in their tags)."""
        return next(iter(self.values(*tags)), "")


# --- Reading the file ---------------------------------------------------------------------------


def is_ris(*, filename: str, content: bytes) -> bool:
    """A .ris file, or a text file that starts like one (EndNote exports RIS as .txt)."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix == ".ris":
        return True
    if suffix != ".txt":
        return False
    head = content[:200].decode("utf-8-sig", errors="ignore").lstrip()
    return bool(re.match(r"TY[ \t]*-", head))


def read_references(*, filename: str, content: bytes) -> list[Reference]:
    """Every record of the file; a file that is not RIS or is cut short is refused whole."""
    name = PurePath(filename or "").name or "the file"
    if not content.strip():
        raise Invalid(f"{name} is empty; export the references from your reference manager again.")
    utf16 = content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # Windows “Unicode”
    try:
        text = content.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n" if not utf16 else "\n".encode("utf-16-le")) + 1
        raise Invalid(
            f"{name} is not {'UTF-16' if utf16 else 'UTF-8'} text: the byte "
            f"0x{content[exc.start]:02X} on line {line} does not belong there. Export the "
            "references again with the text encoding “UTF-8” (or “Unicode”)."
        ) from None
    return _records(name, text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


@dataclass(slots=True)
class _Reader:
    """The records of a file as its lines arrive: the reference open, its last tag, the last ER."""

    name: str
    found: list[Reference] = field(default_factory=list)
    current: Reference | None = None
    last_tag: str = ""
    ended: int = 0  # line of the last ER

    def read(self, number: int, line: str) -> None:
        match = TAG_LINE.fullmatch(line)
        tag, value = (match.group(1), (match.group(2) or "").strip()) if match else ("", "")
        if self.current is None:
            self._start(number, line, tag, value)
        elif tag == "TY":
            raise Invalid(
                f"{self.name}, line {number}: a new reference starts, but the one starting on "
                f"line {self.current.line} has no “ER  - ” line to end it. Export the file again."
            )
        elif tag == "ER":
            self.found.append(self.current)
            if len(self.found) > MAX_ROWS:
                raise Invalid(f"{self.name} has more than {MAX_ROWS:,} references; split it.")
            self.current, self.ended = None, number
        else:
            self._add(self.current, tag, value, line)

    def _start(self, number: int, line: str, tag: str, value: str) -> None:
        if tag == "TY":
            self.current, self.last_tag = Reference(line=number, tags={"TY": [value]}), "TY"
            return
        if not self.found:
            raise Invalid(
                f"{self.name} is not a RIS file: line {number} reads “{shortened(line)}”, but a "
                "RIS file starts each reference with a line like “TY  - JOUR”. Export the "
                "references from EndNote, Zotero, Mendeley or RefWorks in RIS format."
            )
        raise Invalid(
            f"{self.name}, line {number}: “{shortened(line)}” is outside any reference (the one "
            f"before ended with ER on line {self.ended}); each reference starts with “TY  - ”."
        )

    def _add(self, current: Reference, tag: str, value: str, line: str) -> None:
        if tag:
            current.tags.setdefault(tag, []).append(value)
            self.last_tag = tag
        elif self.last_tag == "KW":  # EndNote puts further keywords on lines of their own
            current.tags["KW"].append(line.strip())
        else:
            values = current.tags[self.last_tag]
            values[-1] = f"{values[-1]}\n{line.strip()}".strip()

    def finish(self) -> list[Reference]:
        if self.current is not None:
            raise Invalid(
                f"{self.name}: the reference starting on line {self.current.line} has no "
                "“ER  - ” line to end it; the file looks cut short. Export it again."
            )
        if not self.found:
            raise Invalid(
                f"{self.name} has no references; each starts with a line like “TY  - JOUR”."
            )
        return self.found


def _records(name: str, lines: list[str]) -> list[Reference]:
    reader = _Reader(name)
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if line.strip():
            reader.read(number, line)
    return reader.finish()


def shortened(text: str, limit: int = 60) -> str:
    """The text as an error message quotes it: cut with “…” past `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- One reference ------------------------------------------------------------------------------


def citation_of(reference: Reference) -> str:
    """“Smith 2019, Title. Journal 12(3):1-9”, like the citations typed into the CSV import."""
    author = _surname(reference.first("AU", "A1"))
    year = next(
        (m.group(1) for v in reference.values("PY", "Y1", "DA") if (m := YEAR.search(v))), ""
    )
    title = " ".join(reference.first("TI", "T1", "ST", "CT").split()).rstrip(". ")
    journal = " ".join(reference.first("T2", "JF", "JO", "JA", "J2").split()).rstrip(". ")
    volume, issue = reference.first("VL"), reference.first("IS")
    start, end = reference.first("SP"), reference.first("EP")
    where = f"{volume}({issue})" if volume and issue else volume
    pages = f"{start}-{end}" if start and end and "-" not in start else start
    where = f"{where}:{pages}" if where and pages else where or pages
    tail = " ".join(part for part in (journal, where) if part)
    if title and tail:
        title += "" if title[-1] in "?!。？！" else "."
    body = " ".join(part for part in (title, tail) if part)
    if not author:
        return f"{body} ({year})" if body and year else body
    return f"{author} {year or 'n.d.'}" + (f", {body}" if body else "")


def _surname(author: str) -> str:
    author = " ".join(author.split())
    if "," in author:
        return author.split(",", 1)[0].strip()
    words = author.split(" ")
    if len(words) > 1 and INITIALS.fullmatch(words[-1]):  # PubMed style: “Smith JA”
        return " ".join(words[:-1])
    return author


def doi_of(reference: Reference) -> str | None:
    """The bare DOI (“10.…/…”), from DO, else from a doi.org link: the key that dedupes."""
    for value in reference.values("DO", "M3", "UR", "L2"):
        value = DOI_PREFIX.sub("", value.strip())
        if "doi.org/" in value:
            value = value.split("doi.org/", 1)[1]
        if DOI.fullmatch(value):
            return value
    return None


def pmid_of(reference: Reference) -> str | None:
    """The PubMed id where it is labelled as one (“PMID: …”, a PubMed link, AN of a PubMed record).

    A bare number in AN, ID, C2 or M1 is not taken: exporters use them for other accession and
    record numbers (Embase, Web of Science, EndNote's own record id, PMC ids).
    """
    for tag, values in reference.tags.items():
        if tag in ("TI", "T1", "AB", "N2"):
            continue
        for value in values:
            labelled = PMID_LABELLED.search(value)
            if labelled:
                return labelled.group(1)
            if tag in ("UR", "L1", "L2", "LK") and (url := PMID_URL.search(value)):
                return url.group(1)
    database = " ".join(reference.values("DB", "DP")).lower()
    number = reference.first("AN")
    if any(word in database for word in ("pubmed", "medline", "nlm")) and ASCII_NUMBER.fullmatch(
        number
    ):
        return number
    return None


def _notes(reference: Reference) -> list[tuple[str, str]]:
    """Notes (Zotero's HTML made plain) and keywords, split into pieces, with their tag."""
    pieces = []
    for note in reference.values("N1"):
        plain = html.unescape(HTML_TAG.sub(" ", HTML_BREAK.sub("\n", note)))
        pieces += [("N1", line) for line in plain.split("\n")]
    pieces += [("KW", keyword) for keyword in reference.values("KW")]
    return [
        (tag, part.strip())
        for tag, piece in pieces
        for part in MARKER_START.split(piece)
        if part.strip()
    ]


def markers_of(reference: Reference) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """The “name: value” markers (with the tag they were in), and the other keywords."""
    markers: dict[str, list[tuple[str, str]]] = {}
    for tag, piece in _notes(reference):
        match = MARKER.fullmatch(piece)
        if match is None:
            continue
        name = match.group("name").lower()
        if re.match(r"amstar[\s-]?2", name):
            canonical = "amstar2"
        elif name.startswith(("amstar", "pedro", "design")):
            canonical = {"a": "amstar_score", "p": "pedro", "d": "design"}[name[0]]
        else:
            canonical = "statements" if name.startswith("statement") else "pooled_levels"
        markers.setdefault(canonical, []).append((tag, match.group("value")))
    keywords = [k for k in reference.values("KW") if not MARKER.fullmatch(k.strip())]
    return markers, keywords


def design_of(reference: Reference, keywords: list[str]) -> tuple[str | None, str]:
    """A recognised design and where it was found, or None and why none was."""
    sources = (
        ("title", " ".join(reference.values("TI", "T1"))),
        ("publication type", "; ".join(reference.values("M3"))),
        ("keywords", "; ".join(k for k in keywords if not AS_TOPIC.search(k))),
    )
    for where, text in sources:
        if not text:
            continue
        if where != "keywords" and PROTOCOL.search(text):
            return None, f"its {where} calls it a protocol, which reports no results"
        plain = NON_RANDOMISED.sub(" ", text)  # “non-randomised … trial” is not an RCT
        named = [
            (design, words)
            for design, words, phrase in PHRASES
            if phrase.search(plain if design == "rct" else text)
        ]
        reviews = [design for design, _ in named if design in REVIEWS]
        if reviews:
            return reviews[0], f"from its {where}"
        if ANY_REVIEW.search(text):
            return None, f"its {where} calls it a review, but not a systematic review"
        if len(named) == 1:
            return named[0][0], f"from its {where}"
        if named:
            return None, (
                f"its {where} names more than one design ({', '.join(w for _, w in named)})"
            )
    return None, "no design is recognisable from its title, publication type or keywords"


def design_named(text: str) -> str | None:
    """The design a coordinator's “design: …” note names: rct, “randomised controlled trial” …"""
    folded = re.sub(r"[\s-]+", "_", text.strip().lower())
    if folded in DESIGNS:
        return folded
    named = [design for design, words, phrase in PHRASES if phrase.fullmatch(text.strip())]
    return named[0] if len(named) == 1 else None
