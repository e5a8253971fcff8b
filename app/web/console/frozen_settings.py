"""The settings form once round 1 has opened: the method is shown as text, not as inputs, so a
save keeps the study's own method and changes only what may still change."""

from app import models
from app.web.console.study_form import RULE_PARAMS, typed_from

# The form's inputs for the pre-registered method (services.studies.PREREGISTERED); each rule's
# parameters ("comet_70_15.in_pct" …) too.
METHOD_INPUTS = frozenset(
    {
        "scale",
        "scale_min",
        "scale_max",
        "labels",
        "rule",
        "min_responses",
        "require_all_groups",
        "quantile_method",
        "max_rounds",
        "allow_abstain",
        "hide_feedback_until_rated",
        "feedback_by_group",
        "stability_on",
        "stability_pct",
        "stability_pairs",
        "evidence_scheme",
        "strength_vote",
    }
)


def is_method_input(name: str) -> bool:
    return name in METHOD_INPUTS or name.split(".", 1)[0] in RULE_PARAMS


def method_shown_as_text(study: models.Study, values: dict[str, str]) -> bool:
    """Whether the form came from the frozen page: the rules are frozen and it sent none of them.

    A form opened before round 1 (in another tab) still sends the method; it is read as typed,
    and the study refuses any change to it.
    """
    return study.rules_frozen_at is not None and not any(is_method_input(k) for k in values)


def with_study_method(study: models.Study, values: dict[str, str]) -> dict[str, str]:
    """The posted form completed with the study's own method, so it reads as a whole form."""
    own = {k: v for k, v in typed_from(study).items() if is_method_input(k)}
    return {**values, **own, "rule": ""}  # "": the rule stays the study's own
