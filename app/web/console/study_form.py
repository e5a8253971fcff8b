"""The study's settings form: its fields, the API's StudyCreate document they make, and back."""

from typing import Any

from pydantic import Field, ValidationError, model_validator

from app import models
from app.web.console.forms import ConsoleForm, Ticked, in_words

# The parameters each rule's part of the form posts, as "<rule>.<parameter>".
RULE_PARAMS = {
    "comet_70_15": ("high_min", "low_max", "in_pct", "out_pct"),
    "percent_agreement": ("agree_min", "disagree_max", "threshold"),
    "median_iqr": ("median_min", "median_max_against", "iqr_max", "agree_min", "threshold"),
    "rand_ucla": (),
}
SCALE_PRESETS = {"1-9": ("1", "9"), "1-5": ("1", "5")}
LANGUAGES = ("en", "zh-Hans")
# What a new study's form starts with.
NEW_STUDY = {
    "scale": "1-9",
    "rule": "comet_70_15",
    "max_rounds": "3",
    "allow_abstain": "on",
    "show_evidence_on_ballot": "on",
    "lang_en": "on",
    "reminder_hours": "72, 24",
    "quantile_method": "type7",
    "evidence_scheme": "pedro_scire",
    "labels": "1 = Strongly disagree\n9 = Strongly agree",
}
# The form's labels for the document's fields, to say which one a validation error is about.
FIELD_NAMES = {
    "title": "Title",
    "scale": "Scale",
    "labels": "Labels",
    "min": "Scale from",
    "max": "Scale to",
    "consensus": "Consensus rule",
    "max_rounds": "Maximum number of rounds",
    "reminder_hours": "Reminders",
    "groups": "Stakeholder groups",
    "threshold": "Percentage",
    "in_pct": "Percentage rating high",
    "out_pct": "Percentage rating low",
    "high_min": "High ratings from",
    "low_max": "Low ratings up to",
    "agree_min": "Agree from",
    "disagree_max": "Disagree up to",
    "median_min": "Median at least",
    "median_max_against": "Median at most (against)",
    "iqr_max": "IQR at most",
    "min_responses": "Minimum number of ratings",
    "quantile_method": "Quantiles",
    "evidence_scheme": "Evidence levels",
    "max_pct_changed": "Stability: percentage that changed",
    "min_pairs": "Stability: fewest panelists in both rounds",
}


def _labels(text: str) -> dict[str, str]:
    """Lines like "1 = Strongly disagree" into {"1": "Strongly disagree"}."""
    labels = {}
    for line in text.splitlines():
        point, sep, label = line.partition("=")
        if sep and point.strip() and label.strip():
            labels[point.strip()] = label.strip()
    return labels


def _listed(text: str) -> list[str]:
    """A comma-separated field's entries, blanks left out."""
    return [part.strip() for part in text.split(",") if part.strip()]


class StudyForm(ConsoleForm):
    """The set-up and settings form as typed; the API's schema checks it (see `body`)."""

    title: str = ""
    instructions: str = ""
    scale: str = "1-9"  # a preset, or anything else for scale_min … scale_max
    scale_min: str = ""
    scale_max: str = ""
    labels: str = ""
    quantile_method: str = "type7"
    max_rounds: str = "3"
    evidence_scheme: str = "pedro_scire"
    allow_abstain: Ticked = False
    hide_feedback_until_rated: Ticked = False
    strength_vote: Ticked = False
    feedback_by_group: Ticked = False
    show_evidence_on_ballot: Ticked = False
    stability_on: Ticked = False
    stability_pct: str = ""
    stability_pairs: str = ""
    lang_en: Ticked = False
    lang_zh: Ticked = Field(False, alias="lang_zh-Hans")
    groups: str = ""
    reminder_hours: str = ""
    rule: str = ""  # empty: the usual rule (a new study) or the study's own (settings)
    rule_params: dict[str, str] = Field(
        default_factory=dict
    )  # the chosen rule's "<rule>.<parameter>" fields
    min_responses: str = ""
    require_all_groups: Ticked = False

    @model_validator(mode="before")
    @classmethod
    def _chosen_rule_params(cls, values: Any) -> Any:
        """Only the chosen rule's parameters count; the other rules' parts of the form do not."""
        if not isinstance(values, dict):
            return values
        rule = values.get("rule", "")
        prefix = f"{rule}."
        params = {
            name: values[prefix + name]
            for name in RULE_PARAMS.get(rule, ())
            if prefix + name in values
        }
        return {**values, "rule_params": params}

    def body(self) -> dict[str, Any]:
        """The form as the API's StudyCreate document, so both are validated alike."""
        low, high = SCALE_PRESETS.get(self.scale, (self.scale_min, self.scale_max))
        ticked_languages = {"en": self.lang_en, "zh-Hans": self.lang_zh}
        body: dict[str, Any] = {
            "title": self.title,
            "instructions": self.instructions,
            "scale": {"min": low, "max": high, "labels": _labels(self.labels)},
            "quantile_method": self.quantile_method,
            "max_rounds": self.max_rounds,
            "allow_abstain": self.allow_abstain,
            "hide_feedback_until_rated": self.hide_feedback_until_rated,
            "evidence_scheme": self.evidence_scheme,
            "strength_vote": self.strength_vote,
            "feedback_by_group": self.feedback_by_group,
            "show_evidence_on_ballot": self.show_evidence_on_ballot,
            "stability_rule": (
                {
                    "max_pct_changed": self.stability_pct.strip() or 15,
                    "min_pairs": self.stability_pairs.strip() or 5,
                    "stop_carry_forward": True,
                }
                if self.stability_on
                else None
            ),
            "languages": [code for code in LANGUAGES if ticked_languages[code]] or ["en"],
            "groups": _listed(self.groups),
            "reminder_hours": _listed(self.reminder_hours),
        }
        if self.rule in RULE_PARAMS:
            consensus: dict[str, Any] = {"rule": self.rule}
            for name in RULE_PARAMS[self.rule]:
                if self.rule_params.get(name, "").strip():
                    consensus[name] = self.rule_params[name].strip()
            if self.min_responses.strip():
                consensus["min_responses"] = self.min_responses.strip()
            consensus["require_all_groups"] = self.require_all_groups
            body["consensus"] = consensus
        return body


def messages(exc: ValidationError) -> list[str]:
    """The schema's errors as sentences about the form's own fields."""
    out = []
    for error in exc.errors():
        names = [FIELD_NAMES[str(part)] for part in error["loc"] if str(part) in FIELD_NAMES]
        message = in_words(error)
        out.append(f"{names[-1]}: {message}" if names else message)
    return out


def typed_from(study: models.Study) -> dict[str, str]:
    """A study's settings as the form's fields, to edit them."""
    scale = {(1, 9): "1-9", (1, 5): "1-5"}.get((study.scale_min, study.scale_max), "custom")
    typed = {
        "title": study.title,
        "instructions": study.instructions,
        "scale": scale,
        "scale_min": str(study.scale_min),
        "scale_max": str(study.scale_max),
        "labels": "\n".join(f"{k} = {v}" for k, v in study.scale_labels.items()),
        "rule": study.rule["rule"],
        "quantile_method": study.quantile_method,
        "evidence_scheme": study.evidence_scheme,
        "max_rounds": str(study.max_rounds),
        "groups": ", ".join(study.groups),
        "reminder_hours": ", ".join(str(h) for h in study.reminder_hours),
    }
    if study.stability_rule is not None:
        typed["stability_pct"] = str(study.stability_rule.get("max_pct_changed", 15))
        typed["stability_pairs"] = str(study.stability_rule.get("min_pairs", 5))
    for name in RULE_PARAMS[study.rule["rule"]]:
        if study.rule.get(name) is not None:
            typed[f"{study.rule['rule']}.{name}"] = str(study.rule[name])
    if study.rule.get("min_responses"):
        typed["min_responses"] = str(study.rule["min_responses"])
    flags = {
        "require_all_groups": study.rule.get("require_all_groups"),
        "allow_abstain": study.allow_abstain,
        "hide_feedback_until_rated": study.hide_feedback_until_rated,
        "strength_vote": study.strength_vote,
        "feedback_by_group": study.feedback_by_group,
        "show_evidence_on_ballot": study.show_evidence_on_ballot,
        "stability_on": study.stability_rule is not None,
        **{f"lang_{code}": code in study.languages for code in LANGUAGES},
    }
    typed |= {name: "on" for name, on in flags.items() if on}
    return typed
