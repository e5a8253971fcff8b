"""The one reader of typed whole numbers: the digits 0–9, a minus, and the field's range."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.errors import Invalid
from app.services.numbers import read_whole_number, refusal, whole_number

# Unicode's digits (Nd: "٣", "５", "߃"), other numbers (No: "²", "½", "①") and letter numbers
# (Nl: "Ⅻ", "〇"), signs and spaces, and the ASCII digits between them.
NUMBERISH = st.text(
    st.one_of(
        st.characters(categories=["Nd", "No", "Nl"]),
        st.sampled_from("0123456789-+−.,_ e\u00a0\u3000"),
    ),
    max_size=12,
)
HUGE = st.builds(
    lambda sign, digits, size: sign + digits * size,
    st.sampled_from(["", "-", "--", "+"]),
    st.sampled_from(["9", "0", "1", "٣"]),
    st.sampled_from([19, 20, 4_300, 4_301, 5_000]),
)


@given(st.one_of(NUMBERISH, HUGE))
def test_only_plain_ascii_whole_numbers_in_range_are_read(typed: str) -> None:
    value = whole_number(typed, low=-100, high=100)
    plain = re.fullmatch(r"(-?)([0-9]+)", typed.strip())
    if plain is None:
        assert value is None
        return
    significant = plain.group(2).lstrip("0") or "0"
    number = int(significant) * (-1 if plain.group(1) else 1) if len(significant) <= 3 else None
    assert value == (number if number is not None and -100 <= number <= 100 else None)


@pytest.mark.parametrize(
    "typed",
    ["²", "٣", "５", "Ⅻ", "½", "--5", "+5", "−5", "7.0", "1e3", "1_000", "1,000", "", "-"],
)
def test_digits_that_are_not_0_to_9_signs_and_decimals_are_refused(typed: str) -> None:
    assert whole_number(typed, low=-100, high=100) is None


def test_five_thousand_digits_are_out_of_range_not_a_crash() -> None:
    assert whole_number("9" * 5_000, low=0, high=10) is None
    assert whole_number("0" * 5_000 + "7", low=0, high=10) == 7  # leading zeros are harmless
    assert whole_number(" -3 ", low=-5, high=5) == -3


def test_a_refusal_names_the_field_the_range_and_what_was_typed_cut_short() -> None:
    assert refusal("PEDro", "²", low=0, high=10) == (
        "PEDro must be a whole number from 0 to 10, written with the digits 0 to 9; “²” is not."
    )
    assert refusal("PEDro", "9" * 5_000, low=0, high=10) == (
        "PEDro must be a whole number from 0 to 10; 9999999999999999999… is outside that range."
    )
    with pytest.raises(Invalid) as refused:
        read_whole_number("--5", what="PEDro", low=0, high=10, field="pedro")
    assert refused.value.errors == [{"field": "pedro", "message": refused.value.message}]
