"""A synthetic Delphi run through the real services: a newcomer's first look at the method."""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from app.models import Panelist, Round, Study, User, utcnow
from app.services import ballots, panel, results, rounds, stability, statements, studies
from app.services.errors import Conflict


@dataclass(slots=True)
class RoundSummary:
    number: int
    rated: int
    responded: int
    invited: int
    consensus_for: int
    consensus_against: int
    no_consensus: int

    def line(self) -> str:
        return (
            f"Round {self.number}: {self.rated} statements rated by {self.responded} of "
            f"{self.invited} panelists; consensus for {self.consensus_for}, against "
            f"{self.consensus_against}, no consensus {self.no_consensus}"
        )


@dataclass(slots=True)
class Panel:
    """Latent opinions: each panelist's view of each statement, and how far they heed the group."""

    rng: random.Random
    scale: tuple[int, int]
    truth: list[float]
    bias: list[float]
    conformity: list[float]
    opinion: list[list[float]] = field(default_factory=list)

    @classmethod
    def generate(
        cls, rng: random.Random, *, panelists: int, statements: int, scale: tuple[int, int]
    ) -> "Panel":
        low, high = scale
        span = high - low
        truth = [rng.uniform(low + 0.1 * span, high - 0.05 * span) for _ in range(statements)]
        bias = [rng.gauss(0, 0.12 * span) for _ in range(panelists)]
        conformity = [rng.uniform(0.3, 0.7) for _ in range(panelists)]
        panel_ = cls(rng, scale, truth, bias, conformity)
        spread = [rng.uniform(0.05, 0.3) * span for _ in range(statements)]
        panel_.opinion = [
            [t + b + rng.gauss(0, s) for t, s in zip(truth, spread, strict=True)] for b in bias
        ]
        return panel_

    def rating(self, p: int, s: int) -> int:
        low, high = self.scale
        return max(low, min(high, round(self.opinion[p][s])))

    def drift(self, medians: dict[int, float]) -> None:
        """Between rounds each panelist moves part of the way toward the group median."""
        for p, row in enumerate(self.opinion):
            for s, median in medians.items():
                row[s] += self.conformity[p] * (median - row[s]) + self.rng.gauss(0, 0.2)


def simulate(
    session: Session,
    *,
    actor: User,
    panelists: int,
    statements_count: int,
    rounds_count: int,
    seed: int,
    scale: tuple[int, int] = (1, 9),
    response_rate: float = 0.9,
    commit: Callable[[], None] | None = None,
) -> tuple[Study, list[RoundSummary]]:
    """A whole synthetic Delphi: study, statements, panel, then each round rated and closed.

    Long because it is one scenario in order from one random stream: the seed's results depend
    on that order, which one function keeps in view.
    """
    rng = random.Random(seed)
    study = studies.create_study(
        session,
        actor=actor,
        title=(
            f"Simulated Delphi ({panelists} panelists, {statements_count} statements, seed {seed})"
        ),
        scale_min=scale[0],
        scale_max=scale[1],
        scale_labels={},
        rule={"rule": "comet_70_15"} if scale == (1, 9) else {"rule": "percent_agreement"},
        max_rounds=rounds_count,
    )
    made = statements.add_statements(
        session,
        actor=actor,
        study=study,
        items=[
            statements.NewStatement(text=f"Synthetic statement {i}")
            for i in range(1, statements_count + 1)
        ],
    )
    index = {s.id: i for i, s in enumerate(made)}
    invitations = panel.add_panelists(
        session,
        actor=actor,
        study=study,
        items=[
            panel.NewPanelist(
                name=f"Synthetic panelist {i}", group=("clinicians", "researchers")[i % 2]
            )
            for i in range(1, panelists + 1)
        ],
    )
    members = [inv.panelist for inv in invitations]
    model = Panel.generate(rng, panelists=panelists, statements=statements_count, scale=scale)
    summaries: list[RoundSummary] = []
    for _ in range(rounds_count):
        try:
            round_ = rounds.create_round(session, actor=actor, study=study)
        except Conflict:
            break  # nothing left to rate
        rounds.open_round(
            session,
            actor=actor,
            study=study,
            round_=round_,
            closes_at=utcnow() + timedelta(days=14),
        )
        on_ballot = [item.statement_id for item in round_.items]
        _vote(
            session,
            model=model,
            members=members,
            on_ballot=on_ballot,
            index=index,
            response_rate=response_rate,
        )
        closed = rounds.close_round(session, round_id=round_.id, actor=actor)
        stability.freeze(session, round_id=closed.id)
        summary, medians = _summarise(session, study=study, round_=closed)
        summaries.append(summary)
        if commit:
            commit()
        model.drift({index[sid]: median for sid, median in medians.items()})
    return study, summaries


def _vote(
    session: Session,
    *,
    model: Panel,
    members: list[Panelist],
    on_ballot: list[int],
    index: dict[int, int],
    response_rate: float,
) -> None:
    for p, member in enumerate(members):
        if model.rng.random() > response_rate:
            continue
        entries = [
            ballots.RatingInput(statement_id=sid, value=model.rating(p, index[sid]))
            for sid in on_ballot
        ]
        ballots.save_ballot(session, panelist=member, entries=entries, submit=True)


def _summarise(
    session: Session, *, study: Study, round_: Round
) -> tuple[RoundSummary, dict[int, float]]:
    res = results.round_results(session, study=study, round_=round_)
    classes = [s.classification for s in res.statements]
    medians = {s.statement_id: s.median for s in res.statements if s.median is not None}
    summary = RoundSummary(
        number=round_.number,
        rated=len(classes),
        responded=res.responded,
        invited=res.invited,
        consensus_for=classes.count("consensus_for"),
        consensus_against=classes.count("consensus_against"),
        no_consensus=classes.count("no_consensus"),
    )
    return summary, medians
