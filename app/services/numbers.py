"""Whole numbers typed into forms and import files: the digits 0–9 only, within the field's bounds.

`str.isdigit()` says yes to “²”, “٣” and “５”; `int()` then reads some of them as numbers, refuses
others — and “--5”, and anything over 4,300 digits — with a ValueError that reached people as a
500. Every number a person types into a form field or an import cell is read here instead.
"""

import re

from app.services.errors import Invalid

# ASCII only: re's \d, like str.isdigit(), also takes the digits of other scripts.
WHOLE = re.compile(r"(-?)([0-9]+)")
SHOWN = 20  # characters of a refused entry quoted back; the rest is cut


def whole_number(text: str, *, low: int, high: int) -> int | None:
    """The number `text` holds if it is a whole number from `low` to `high` in the digits 0–9."""
    match = WHOLE.fullmatch(text.strip())
    if match is None:
        return None
    sign, digits = match.groups()
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(max(abs(low), abs(high)))):  # no int() of 5,000 digits
        return None
    value = -int(significant) if sign else int(significant)
    return value if low <= value <= high else None


def refusal(what: str, text: str, *, low: int, high: int) -> str:
    """Why `text` is not a number `what` can take, in a sentence that names the field."""
    typed = text.strip()
    shown = typed if len(typed) <= SHOWN else typed[: SHOWN - 1] + "…"
    if WHOLE.fullmatch(typed) is None:
        return (
            f"{what} must be a whole number from {low} to {high}, written with the digits 0 to "
            f"9; “{shown}” is not."
        )
    return f"{what} must be a whole number from {low} to {high}; {shown} is outside that range."


def read_whole_number(text: str, *, what: str, low: int, high: int, field: str = "") -> int:
    """The number in a form field, or Invalid naming the field (`field`: the input's name)."""
    value = whole_number(text, low=low, high=high)
    if value is None:
        message = refusal(what, text, low=low, high=high)
        raise Invalid(message, errors=[{"field": field, "message": message}] if field else None)
    return value
