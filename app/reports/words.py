"""The report's words in one language: gettext from the Babel catalogue, and its typography.

Below both report_methods and report_stability, which phrase their sentences with it.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.support import NullTranslations, Translations

from app.templating import TRANSLATIONS, babel_locale


def N_(message: str) -> str:
    """Marks a string for the catalogue where it is defined; it is translated where shown."""
    return message


STRENGTH = {
    "strong_for": N_("strong for"),
    "conditional_for": N_("conditional for"),
    "conditional_against": N_("conditional against"),
    "strong_against": N_("strong against"),
}


@lru_cache
def _catalogue(language: str) -> NullTranslations:
    locale = babel_locale(language)
    return Translations.load(str(TRANSLATIONS), [locale.rsplit("_", 1)[0]])


@dataclass(frozen=True, slots=True)
class Words:
    """Gettext for one language, with the few typographic habits that differ between them."""

    language: str

    @property
    def chinese(self) -> bool:
        return self.language.startswith("zh")

    @property
    def locale(self) -> Locale:
        return Locale.parse(babel_locale(self.language))

    def __call__(self, message: str) -> str:
        return _catalogue(self.language).gettext(message)

    def plural(self, singular: str, plural: str, count: int) -> str:
        return _catalogue(self.language).ngettext(singular, plural, count)

    def pct(self, value: float) -> str:
        """A threshold as the project writes it: '70 %' in English, '70%' in Chinese."""
        number = f"{value:g}"
        return f"{number}%" if self.chinese else f"{number} %"

    def date(self, value: Any) -> str:
        return format_date(value, "long", locale=self.locale) if value else ""

    def sentences(self, parts: list[str]) -> str:
        return ("" if self.chinese else " ").join(part for part in parts if part)

    def _series(self, words: list[str], last: str) -> str:
        _ = self
        if len(words) == 1:
            return words[0]
        return _(", ").join(words[:-1]) + last + words[-1]

    def either(self, words: list[str]) -> str:
        _ = self
        return self._series(words, _(" or "))

    def both(self, words: list[str]) -> str:
        _ = self
        return self._series(words, _(" and "))
