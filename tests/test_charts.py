"""The charts' geometry on worked examples: bars, boxes and arrows where drawings expect them."""

from dataclasses import dataclass, field

import pytest

from app import charts


def test_histogram_bars_stand_in_their_slots_as_tall_as_their_share_of_the_peak() -> None:
    # 1-5 on the ballot's 270 × 120 frame: five slots of 54, bars 70 % of a slot (37.8) wide,
    # 120 - 18 - 22 = 80 high at the peak (8 ratings), on an axis at y = 98.
    chart = charts.histogram({"1": 1, "2": 4, "3": 4, "5": 8}, 1, 5, "panel")
    assert (chart.width, chart.height, chart.axis_y, chart.tick_y) == (270, 120, 98, 113)
    assert [bar.point for bar in chart.bars] == [1, 2, 3, 4, 5]
    assert [bar.count for bar in chart.bars] == [1, 4, 4, 0, 8]
    assert [bar.x for bar in chart.bars] == pytest.approx([8.1, 62.1, 116.1, 170.1, 224.1])
    assert all(bar.width == pytest.approx(37.8) for bar in chart.bars)
    assert [bar.height for bar in chart.bars] == pytest.approx([10, 40, 40, 0, 80])
    assert [bar.y for bar in chart.bars] == pytest.approx([88, 58, 58, 98, 18])
    assert [bar.middle for bar in chart.bars] == pytest.approx([27, 81, 135, 189, 243])
    assert [bar.count_y for bar in chart.bars] == pytest.approx([84, 54, 54, 94, 14])
    assert chart.described == ("1: 1", "2: 4", "3: 4", "4: 0", "5: 8")


def test_a_histogram_without_ratings_draws_flat_bars_and_the_report_uses_its_own_frame() -> None:
    chart = charts.histogram({}, 1, 9, "report")
    assert (chart.width, chart.height, chart.axis_y, chart.tick_y) == (240, 112, 92, 106)
    assert len(chart.bars) == 9
    assert all(bar.height == 0 and bar.y == 92 for bar in chart.bars)
    assert chart.bars[-1].x == pytest.approx(240 / 9 * 8.15)


@dataclass
class Group:
    invited: int
    responded: int


@dataclass
class Participants:
    left: int | None
    groups: list[Group] = field(default_factory=list)


def test_participant_boxes_grow_for_the_line_on_who_left_and_stack_with_arrows() -> None:
    groups = [Group(10, 9), Group(4, 1), Group(0, 0)]
    chart = charts.participant_flow([Participants(None, groups), Participants(2, [Group(9, 8)])])
    first, second = (drawn.box for drawn in chart.rounds)
    assert (first.y, first.height, second.y, second.height) == (0, 96, 122, 114)
    assert chart.total == 96 + 26 + 114
    assert (first.frame_y, first.frame_height) == (1, 94)
    assert second.lines == (144, 164, 182, 200, 218)
    assert first.arrow is not None
    assert second.arrow is None
    assert (first.arrow.y1, first.arrow.y2) == (96, 117)
    assert first.arrow.head == "144,115 156,115 150,122"
    bars = chart.rounds[0].groups
    assert [(bar.y, bar.text_y) for bar in bars] == [(18, 27), (35, 44), (52, 61)]
    assert [bar.answered_width for bar in bars] == pytest.approx([135, 37.5, 0])


def test_a_round_with_many_groups_gets_a_box_tall_enough_for_them() -> None:
    chart = charts.participant_flow([Participants(None, [Group(1, 1)] * 7)])
    assert chart.rounds[0].box.height == 24 + 17 * 7
    assert chart.total == 24 + 17 * 7


@dataclass
class Statements:
    rated: int
    consensus_for: int
    consensus_against: int
    no_consensus: int


def test_statement_outcomes_split_a_350_wide_bar_and_only_wide_parts_are_labelled() -> None:
    chart = charts.statement_flow([Statements(30, 12, 1, 17), Statements(0, 0, 0, 0)])
    first, second = chart.rounds
    assert (first.box.y, second.box.y, chart.total) == (0, 112, 78 + 34 + 78)
    assert first.bar_y == 24
    assert first.box.arrow is not None
    assert first.box.arrow.label_y == 99
    outcomes = ["consensus_for", "consensus_against", "no_consensus"]
    assert [s.outcome for s in first.segments] == outcomes
    assert [s.x for s in first.segments] == pytest.approx([322, 462, 322 + 350 * 13 / 30])
    assert [s.width for s in first.segments] == pytest.approx([140, 350 / 30, 350 * 17 / 30])
    assert [s.labelled for s in first.segments] == [True, False, True]
    assert first.segments[0].middle == pytest.approx(392)
    assert second.segments == ()  # nothing rated: no bar
