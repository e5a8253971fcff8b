"""Which language to answer a visitor in before we know who they are."""

from fastapi import Request

from app.templating import supported
from app.web import session as cookies


def preferred_language(request: Request) -> str:
    """A `?lang=` asked for, else the panelist's chosen language, else the browser's first."""
    asked = request.query_params.get("lang")
    if asked:
        return supported(asked)
    chosen = cookies.read(request)
    if chosen is not None and chosen.language:
        return supported(chosen.language)
    accepted = request.headers.get("accept-language", "").lower()
    return "zh-Hans" if accepted.startswith("zh") else "en"
