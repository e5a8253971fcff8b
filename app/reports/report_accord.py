"""The ACCORD checklist for consensus studies, and where the report answers each of its topics."""

from dataclasses import dataclass

from app.reports.words import N_


@dataclass(frozen=True, slots=True)
class AccordItem:
    section: str
    topic: str
    where: str | None  # the anchor of the report's section that answers it; None: not recorded
    note: str = ""


def accord_items() -> list[AccordItem]:
    """ACCORD (Gattrell et al. 2024) reporting topics, paraphrased, and where the report answers
    them; what the platform does not record is said so, for the authors to supply.

    Long because it is one table, row by row, in the checklist's order.
    """
    return [
        AccordItem(
            N_("Title"), N_("Identify the study as a consensus study and its method"), "cover"
        ),
        AccordItem(N_("Introduction"), N_("Background and why a consensus method was used"), None),
        AccordItem(N_("Introduction"), N_("Aim, intended audience and scope"), None),
        AccordItem(
            N_("Methods"),
            N_("Registration or protocol"),
            "methods",
            N_("Rules pre-registered in the platform with a SHA-256 fingerprint; no registry."),
        ),
        AccordItem(N_("Methods"), N_("Consensus method chosen (Delphi) and its steps"), "methods"),
        AccordItem(N_("Methods"), N_("Steering committee: members and role"), None),
        AccordItem(N_("Methods"), N_("Panel eligibility and recruitment"), None),
        AccordItem(
            N_("Methods"),
            N_("Panel composition and size (stakeholder groups)"),
            "participants",
        ),
        AccordItem(
            N_("Methods"),
            N_("Evidence reviewed and how it was appraised"),
            "evidence",
            N_("The search strategy is not recorded by the platform."),
        ),
        AccordItem(
            N_("Methods"),
            N_("How statements were drafted and revised"),
            "statements",
            N_("Revisions and their reasons are recorded; the first drafting is not."),
        ),
        AccordItem(N_("Methods"), N_("Rating scale and response options"), "methods"),
        AccordItem(N_("Methods"), N_("Definition of consensus"), "methods"),
        AccordItem(N_("Methods"), N_("Number of rounds and stopping rule"), "methods"),
        AccordItem(N_("Methods"), N_("Feedback given to panelists between rounds"), "methods"),
        AccordItem(N_("Methods"), N_("Anonymity of panelists"), "methods"),
        AccordItem(N_("Methods"), N_("Statistical analysis"), "methods"),
        AccordItem(N_("Methods"), N_("How recommendations were graded"), "methods"),
        AccordItem(
            N_("Methods"),
            N_("Data collection (platform, dates of each round)"),
            "cover",
        ),
        AccordItem(N_("Methods"), N_("Pilot testing of the questionnaire"), None),
        AccordItem(N_("Methods"), N_("Role of facilitators and any meetings"), None),
        AccordItem(
            N_("Results"),
            N_("Participant flow and response rate per round"),
            "participants",
        ),
        AccordItem(
            N_("Results"),
            N_("Characteristics of the participants"),
            "participants",
            N_("Stakeholder groups only; demographics are not recorded."),
        ),
        AccordItem(N_("Results"), N_("Results of each round"), "results"),
        AccordItem(
            N_("Results"),
            N_("Statements carried forward, revised, dropped or added"),
            "statement-flow",
        ),
        AccordItem(N_("Results"), N_("Final outcome: the agreed recommendations"), "final"),
        AccordItem(N_("Discussion"), N_("Interpretation, strengths and limitations"), None),
        AccordItem(N_("Other information"), N_("Funding and role of funders"), None),
        AccordItem(N_("Other information"), N_("Conflicts of interest"), None),
        AccordItem(N_("Other information"), N_("Ethics approval and consent"), None),
    ]
