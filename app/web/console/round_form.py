"""The round control forms: a deadline (a local time and its zone) and the strength question."""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.services.errors import Invalid
from app.web.console.forms import ConsoleForm, Ticked


class DeadlineForm(ConsoleForm):
    """A deadline as typed: a local date and time, and the name of its time zone."""

    closes_at: str = ""
    timezone: str = "UTC"

    def deadline(self) -> datetime | None:
        """The deadline as an aware datetime; None when left empty; Invalid when unreadable."""
        when = self.closes_at.strip()
        if not when:
            return None
        try:
            zone = ZoneInfo(self.timezone or "UTC")
            return datetime.fromisoformat(when).replace(tzinfo=zone)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise Invalid("Give the deadline as a date and time, and a valid time zone.") from exc

    def new_deadline(self) -> datetime:
        """The deadline a round is moved to: one must be given."""
        closes_at = self.deadline()
        if closes_at is None:
            raise Invalid("Give the new deadline.")
        return closes_at


class StrengthForm(ConsoleForm):
    """Whether the round asks each recommendation's strength."""

    asks_strength: Ticked = False
