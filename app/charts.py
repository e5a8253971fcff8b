"""Where the inline SVG charts put their shapes: pure geometry, drawn by the templates.

The ballot's, the console's and the report's histograms and the report's two flow diagrams get
every computed coordinate from here (as numbers; the templates only format and draw them), so a
chart's layout can be tested without rendering a page. Shared by web/ and reports/ through the
Jinja globals of app.templating; it imports nothing.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class HistogramLayout:
    """A histogram's frame: its size, the room above and below the bars, where labels sit."""

    width: int
    height: int
    top: int  # room above the tallest bar for its count
    bottom: int  # room below the axis for the scale points
    count_gap: int  # from a bar's top up to its count's baseline
    tick_gap: int  # from the bottom edge up to the scale points' baseline


LAYOUTS = {
    "panel": HistogramLayout(width=270, height=120, top=18, bottom=22, count_gap=4, tick_gap=7),
    "report": HistogramLayout(width=240, height=112, top=16, bottom=20, count_gap=3, tick_gap=6),
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One scale point's bar; `middle` is the x of its count (above) and its point (below)."""

    point: int
    count: int
    x: float
    y: float
    width: float
    height: float
    middle: float
    count_y: float


@dataclass(frozen=True, slots=True)
class Histogram:
    width: int
    height: int
    axis_y: int
    tick_y: int
    bars: tuple[Bar, ...]
    described: tuple[str, ...]  # "point: count" for every point, for the chart's title


def histogram(
    counts: Mapping[str, int], scale_min: int, scale_max: int, layout: str = "panel"
) -> Histogram:
    """One bar per scale point, 70 % of its slot wide and as tall as its share of the peak."""
    frame = LAYOUTS[layout]
    points = range(scale_min, scale_max + 1)
    found = [counts.get(str(point), 0) for point in points]
    peak = max([0, *found])
    slot = frame.width / len(points)
    room = frame.height - frame.top - frame.bottom
    bars = []
    for index, (point, count) in enumerate(zip(points, found, strict=True)):
        height = (room * count / peak) if peak else 0
        x = slot * index + slot * 0.15
        y = frame.height - frame.bottom - height
        bars.append(
            Bar(
                point=point,
                count=count,
                x=x,
                y=y,
                width=slot * 0.7,
                height=height,
                middle=x + slot * 0.35,
                count_y=y - frame.count_gap,
            )
        )
    return Histogram(
        width=frame.width,
        height=frame.height,
        axis_y=frame.height - frame.bottom,
        tick_y=frame.height - frame.tick_gap,
        bars=tuple(bars),
        described=tuple(f"{point}: {count}" for point, count in zip(points, found, strict=True)),
    )


# --- Flow diagrams: a box per round, an arrow to the next ----------------------------------------

FLOW_WIDTH = 680
BOX_WIDTH = 300
ARROW_X = 150


@dataclass(frozen=True, slots=True)
class Arrow:
    """From the bottom of one round's box down to the next: a stem and a head."""

    y1: int
    y2: int
    head: str  # the polygon's points
    label_y: int  # baseline of a text beside the stem


def _arrow(bottom: int, gap: int) -> Arrow:
    tip = bottom + gap
    head = f"{ARROW_X - 6},{tip - 7} {ARROW_X + 6},{tip - 7} {ARROW_X},{tip}"
    return Arrow(y1=bottom, y2=tip - 5, head=head, label_y=bottom + 21)


@dataclass(frozen=True, slots=True)
class Box:
    """A round's box: its top, its height, the baselines of its lines of text, its arrow."""

    y: int
    height: int
    lines: tuple[int, ...]  # the title's baseline, then each line of figures below it
    arrow: Arrow | None  # None for the last round

    @property
    def frame_y(self) -> int:
        """The drawn frame sits a pixel inside the box, so its stroke is not cut off."""
        return self.y + 1

    @property
    def frame_height(self) -> int:
        return self.height - 2


class _Group(Protocol):
    @property
    def invited(self) -> int: ...
    @property
    def responded(self) -> int: ...


class _Participants(Protocol):
    @property
    def left(self) -> int | None: ...
    @property
    def groups(self) -> Sequence[_Group]: ...


@dataclass(frozen=True, slots=True)
class GroupBar:
    """A stakeholder group's line in a round's box: its name, and a bar of who answered."""

    y: int
    text_y: int
    answered_width: float  # of the 150-wide bar: the share of its members who answered


@dataclass(frozen=True, slots=True)
class ParticipantBox:
    box: Box
    groups: tuple[GroupBar, ...]


@dataclass(frozen=True, slots=True)
class ParticipantFlow:
    width: int
    total: int
    box_width: int
    rounds: tuple[ParticipantBox, ...]


def participant_flow(flows: Sequence[_Participants], gap: int = 26) -> ParticipantFlow:
    """A box per round, tall enough for its lines (one more when some left) and its groups."""
    heights = [max(96 if f.left is None else 114, 24 + 17 * len(f.groups)) for f in flows]
    rounds, y = [], 0
    for index, (flow, height) in enumerate(zip(flows, heights, strict=True)):
        groups = tuple(
            GroupBar(
                y=y + 18 + 17 * row,
                text_y=y + 18 + 17 * row + 9,
                answered_width=150 * ((g.responded / g.invited) if g.invited else 0),
            )
            for row, g in enumerate(flow.groups)
        )
        last = index == len(flows) - 1
        box = Box(
            y=y,
            height=height,
            lines=(y + 22, y + 42, y + 60, y + 78, y + 96),
            arrow=None if last else _arrow(y + height, gap),
        )
        rounds.append(ParticipantBox(box=box, groups=groups))
        y += height + gap
    total = sum(heights) + gap * (len(flows) - 1)
    return ParticipantFlow(width=FLOW_WIDTH, total=total, box_width=BOX_WIDTH, rounds=tuple(rounds))


class _Statements(Protocol):
    @property
    def rated(self) -> int: ...
    @property
    def consensus_for(self) -> int: ...
    @property
    def consensus_against(self) -> int: ...
    @property
    def no_consensus(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Segment:
    """One outcome's part of a round's 350-wide bar; its count is written in it when it fits."""

    outcome: str
    count: int
    x: float
    width: float
    middle: float
    labelled: bool


@dataclass(frozen=True, slots=True)
class StatementBox:
    box: Box
    bar_y: int
    segments: tuple[Segment, ...]  # only the outcomes that some statement had


@dataclass(frozen=True, slots=True)
class StatementFlow:
    width: int
    total: int
    box_width: int
    rounds: tuple[StatementBox, ...]


def statement_flow(flows: Sequence[_Statements], height: int = 78, gap: int = 34) -> StatementFlow:
    """Boxes of one height; beside each, the round's outcomes as a bar split by their counts."""
    rounds = []
    for index, flow in enumerate(flows):
        y = (height + gap) * index
        last = index == len(flows) - 1
        box = Box(
            y=y,
            height=height,
            lines=(y + 22, y + 42, y + 60),
            arrow=None if last else _arrow(y + height, gap),
        )
        rounds.append(StatementBox(box=box, bar_y=y + 24, segments=_segments(flow)))
    total = len(flows) * height + gap * (len(flows) - 1)
    return StatementFlow(width=FLOW_WIDTH, total=total, box_width=BOX_WIDTH, rounds=tuple(rounds))


def _segments(flow: _Statements) -> tuple[Segment, ...]:
    segments, x = [], 322.0
    for outcome, count in (
        ("consensus_for", flow.consensus_for),
        ("consensus_against", flow.consensus_against),
        ("no_consensus", flow.no_consensus),
    ):
        width = (350 * count / flow.rated) if flow.rated else 0
        if count:
            segments.append(
                Segment(
                    outcome=outcome,
                    count=count,
                    x=x,
                    width=width,
                    middle=x + width / 2,
                    labelled=width >= 16,
                )
            )
        x = x + width
    return tuple(segments)
