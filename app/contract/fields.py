"""A study's body (API or console form) as the keyword arguments of the studies service."""

from typing import Any

from app.contract import schemas
from app.services.studies import default_rule


def study_fields(body: schemas.StudyCreate | schemas.StudyPatch) -> dict[str, Any]:
    """The service's keyword arguments for what the body sets."""
    given = body.model_dump(exclude_unset=True, mode="json")
    fields: dict[str, Any] = {}
    for key, value in given.items():
        if key == "scale":
            scale = body.scale
            assert scale is not None
            fields |= {"scale_min": scale.min, "scale_max": scale.max, "scale_labels": scale.labels}
        elif key == "consensus":
            fields["rule"] = value
        else:
            fields[key] = value
    return fields


def new_study_fields(body: schemas.StudyCreate) -> dict[str, Any]:
    """Every field of a new study, with the default rule for its scale (app.services.studies)."""
    fields = study_fields(body)
    fields |= {
        "scale_min": body.scale.min,
        "scale_max": body.scale.max,
        "scale_labels": body.scale.labels,
    }
    if body.consensus is None:
        fields["rule"] = default_rule(body.scale.min, body.scale.max)
    return fields
