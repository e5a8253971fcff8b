"""Path parameters shared by the API and the console: an id the database can hold, else a 422."""

from typing import Annotated

from fastapi import Path

from app.contract.schemas import MAX_ID

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
