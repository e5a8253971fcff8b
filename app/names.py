"""The words for stored codes (consensus_for, rct, critically_low …), one list for every page,
e-mail and report; each is marked for the catalogue and translated where it is shown."""


def N_(message: str) -> str:
    """Marks a string for the catalogue where it is defined; it is translated where shown."""
    return message


OUTCOMES = {
    "consensus_for": N_("consensus for"),
    "consensus_against": N_("consensus against"),
    "no_consensus": N_("no consensus"),
}
DESIGNS = {
    "systematic_review": N_("systematic review"),
    "meta_analysis": N_("meta-analysis"),
    "rct": N_("randomised controlled trial"),
    "non_randomised_controlled": N_("non-randomised controlled trial"),
    "cohort": N_("cohort study"),
    "case_control": N_("case-control study"),
    "pre_post": N_("pre–post study"),
    "case_series": N_("case series"),
    "expert_opinion": N_("expert opinion"),
}
AMSTAR2 = {
    "high": N_("high"),
    "moderate": N_("moderate"),
    "low": N_("low"),
    "critically_low": N_("critically low"),
}
MAIL_KINDS = {
    "invitation": N_("invitation"),
    "round_opened": N_("round opened"),
    "reminder": N_("reminder"),
    "closing_soon": N_("closing soon"),
}
SCHEMES = {
    "pedro_scire": N_("PEDro / SCIRE levels"),
    "oxford_2009": N_("Oxford CEBM 2009 levels"),
    "grade": N_("GRADE certainty"),
}
QUANTILES = {
    "type7": N_("Hyndman–Fan type 7 (R, Excel PERCENTILE.INC)"),
    "type6": N_("Hyndman–Fan type 6 (SPSS, Minitab)"),
}
# Evidence level codes: SCIRE's and Oxford's (1a, 2b …) are shown as they are; GRADE's in words.
LEVEL_CODES = {
    "high": N_("high"),
    "moderate": N_("moderate"),
    "low": N_("low"),
    "very_low": N_("very low"),
}
# The pre-registered settings (services.studies.PREREGISTERED), as a sentence names them.
SETTINGS = {
    "scale_min": N_("the rating scale"),
    "scale_max": N_("the rating scale"),
    "scale_labels": N_("the scale's labels"),
    "rule": N_("the consensus rule"),
    "quantile_method": N_("the quantile method"),
    "max_rounds": N_("the maximum number of rounds"),
    "allow_abstain": N_('whether panelists may answer "unable to rate"'),
    "hide_feedback_until_rated": N_("hiding the group's answers until a panelist rates again"),
    "evidence_scheme": N_("the evidence levels"),
    "grading_table": N_("the grading table"),
    "strength_vote": N_("the strength vote"),
    "stability_rule": N_("the stability rule"),
    "feedback_by_group": N_("each group's answers shown to panelists"),
}
NAMES: dict[str, dict[str, str]] = {
    "outcome": OUTCOMES,
    "design": DESIGNS,
    "amstar2": AMSTAR2,
    "mail": MAIL_KINDS,
    "scheme": SCHEMES,
    "quantiles": QUANTILES,
    "level": LEVEL_CODES,
    "setting": SETTINGS,
}


def name_of(kind: str, code: str | None) -> str:
    """The untranslated words for a code of this kind; an unknown code is shown as it is."""
    if code is None:
        return ""
    return NAMES[kind].get(code, code)
