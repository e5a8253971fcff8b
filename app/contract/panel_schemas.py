"""Corrections to a panelist (the panel's other documents live in schemas)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.contract.scalars import Language, Str


class PanelistPatch(BaseModel):
    """Only the fields sent change; null clears an e-mail address, a group or a time zone."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "li.wei@hospital.example.org", "group": "physiotherapists"}]
        },
    )

    name: Annotated[Str, Field(min_length=1, max_length=200)] | None = None
    email: Annotated[Str, Field(max_length=320)] | None = None
    group: Annotated[Str, Field(max_length=100)] | None = None
    language: Language | None = None
    timezone: Annotated[Str, Field(max_length=64)] | None = Field(
        None, description="IANA time zone for deadlines, e.g. Asia/Shanghai"
    )
