"""The demo study, modelled on the seed study (exercise for neuropathic pain), in our own words."""

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Panelist, Role, Study, User, utcnow
from app.security import PANELIST_PREFIX, new_token, token_hash
from app.services import accounts, ballots, outbox, panel, rounds, stability, statements, studies
from app.services.panel import invite_url

DEMO_EMAIL = "coordinator@demo.example"
DEMO_PASSWORD = "delphi-demo-2026"
DEMO_TITLE = "Exercise for neuropathic pain (demo)"

# Round 1's synthetic comments: each statement its own, none repeated (panelists read them all).
REMARKS = {
    "SCI": [
        "Arm-crank ergometers are rare outside rehabilitation centres; hand weights would do.",
        "Shoulder overuse is a real risk with three sessions a week in wheelchair users.",
        "上肢训练对截瘫患者可行，但四肢瘫患者需要调整方案。",
    ],
    "STROKE": [
        "Gait training helps function, but the trials measured pain only as a secondary outcome.",
        "Stretching alone did little in my patients; the task practice is what they keep doing.",
        "中枢性卒中后疼痛的运动研究很少，建议措辞更谨慎。",
    ],
    "MS": [
        "Warm water can worsen fatigue in heat-sensitive patients; say 'warm, not hot'.",
        "Most of my patients have no access to a pool in winter.",
        "水中运动依从性较好，但应说明水温范围。",
    ],
    "PD": [
        "Pain in Parkinson's disease is often musculoskeletal; the scope is unclear.",
        "Rhythmic cueing with music made walking programmes much easier to keep up.",
        "建议注明在“开”期进行训练，以降低跌倒风险。",
    ],
    "CR": [
        "Neural mobilisation should be gentle at first; some flare after the first session.",
        "The deep neck flexor evidence is for neck pain in general, less for radiculopathy.",
        "同意，但应排除存在进行性神经功能缺损的患者。",
    ],
    "SCIATICA": [
        "'Over bed rest' is outdated; nobody prescribes bed rest any more.",
        "Walking is cheap and well accepted; core training needs a therapist to start.",
        "急性期疼痛剧烈时应允许短期减少活动量。",
    ],
    "DPN": [
        "Foot inspection before and after exercise should be part of the recommendation.",
        "150 minutes is the general guideline; the pain trials used less.",
        "合并足部溃疡风险的患者应以非负重运动为主。",
    ],
    "CIPN": [
        "Balance training during chemotherapy is hard when patients are nauseated; offer it after.",
        "Falls are the main worry here; sensorimotor training addresses them directly.",
        "化疗期间的运动强度应根据血象调整。",
    ],
    "HIV": [
        "The trials are small and old; evidence beyond twelve weeks is missing.",
        "Resistance training also helps with the weight loss many patients have.",
        "应关注抗逆转录病毒药物与运动耐量的相互作用。",
    ],
    "POSTSURG": [
        "The timing after surgery matters more than the exercise type; state when to start.",
        "Graded exposure works when pain catastrophising is addressed at the same time.",
        "术后早期活动应与外科医生沟通后开始。",
    ],
}

# (key, condition, English text, Simplified Chinese text)
STATEMENTS = [
    (
        "SCI",
        "Spinal cord injury",
        "For neuropathic pain after spinal cord injury, a supervised programme of upper-limb "
        "strengthening and aerobic arm-crank exercise, two to three times a week, is recommended.",
        "对于脊髓损伤后的神经病理性疼痛，推荐在监督下进行上肢力量训练和手摇车有氧运动，每周二至三次。",
    ),
    (
        "STROKE",
        "Stroke",
        "For central post-stroke pain, task-oriented balance and gait training combined with "
        "stretching of the affected limbs is recommended.",
        "对于卒中后中枢性疼痛，推荐以任务为导向的平衡与步态训练，并结合患侧肢体的牵伸训练。",
    ),
    (
        "MS",
        "Multiple sclerosis",
        "For neuropathic pain in multiple sclerosis, aquatic aerobic exercise in warm water is "
        "recommended as part of a graded activity plan.",
        "对于多发性硬化相关的神经病理性疼痛，推荐在温水中进行水中有氧运动，作为循序渐进活动计划的一部分。",
    ),
    (
        "PD",
        "Parkinson's disease",
        "For pain in Parkinson's disease, regular balance training and rhythmic aerobic exercise "
        "such as walking or cycling are recommended.",
        "对于帕金森病相关疼痛，推荐规律的平衡训练以及步行或骑车等节律性有氧运动。",
    ),
    (
        "CR",
        "Cervical radiculopathy",
        "For cervical radiculopathy, deep neck flexor strengthening with neural mobilisation is "
        "recommended in addition to usual care.",
        "对于神经根型颈椎病，推荐在常规治疗基础上进行颈深屈肌力量训练和神经松动术。",
    ),
    (
        "SCIATICA",
        "Sciatica",
        "For sciatica, a graded programme of core stabilisation and walking is recommended over "
        "bed rest.",
        "对于坐骨神经痛，推荐循序渐进的核心稳定训练和步行，而非卧床休息。",
    ),
    (
        "DPN",
        "Diabetic neuropathy",
        "For painful diabetic peripheral neuropathy, combined aerobic and resistance exercise of "
        "moderate intensity, at least 150 minutes a week, is recommended.",
        "对于痛性糖尿病周围神经病变，推荐每周至少150分钟的中等强度有氧与抗阻联合运动。",
    ),
    (
        "CIPN",
        "Chemotherapy-induced peripheral neuropathy",
        "For chemotherapy-induced peripheral neuropathy, balance and sensorimotor training is "
        "recommended during and after chemotherapy.",
        "对于化疗所致周围神经病变，推荐在化疗期间及化疗后进行平衡与感觉运动训练。",
    ),
    (
        "HIV",
        "HIV/AIDS",
        "For HIV-associated neuropathic pain, progressive resistance training combined with "
        "aerobic exercise is recommended.",
        "对于HIV相关的神经病理性疼痛，推荐渐进式抗阻训练结合有氧运动。",
    ),
    (
        "POSTSURG",
        "Post-surgical pain",
        "For persistent neuropathic pain after surgery, early graded mobilisation and "
        "stretching of the operated region is recommended.",
        "对于术后持续性神经病理性疼痛，推荐早期循序渐进的活动以及术区的牵伸训练。",
    ),
]

GROUPS = [("physiatrists", 8), ("physiotherapists", 9), ("researchers", 4)]


@dataclass(frozen=True, slots=True)
class DemoAccess:
    email: str
    password: str
    api_token: str
    panelist_links: list[tuple[str, str]]  # (code, url)
    created: bool


def find_demo(session: Session) -> Study | None:
    return session.scalar(select(Study).where(Study.title == DEMO_TITLE))


def seed_or_refresh(session: Session, *, seed: int = 2021) -> DemoAccess:
    """Seed the demo once; later calls issue fresh links (only hashes are stored, so we rotate)."""
    study = find_demo(session)
    created = study is None
    if study is None:
        study = _seed(session, seed=seed)
    user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
    assert user is not None
    api_token = accounts.create_api_token(session, user=user, label="make run")
    links = []
    for member in session.scalars(
        select(Panelist).where(Panelist.study_id == study.id).order_by(Panelist.id).limit(3)
    ):
        token = new_token(PANELIST_PREFIX)
        member.token_hash = token_hash(token)
        links.append((member.code, invite_url(token)))
    session.flush()
    return DemoAccess(DEMO_EMAIL, DEMO_PASSWORD, api_token, links, created)


def _illustrative_evidence(
    session: Session, *, user: User, study: Study, rng: random.Random
) -> None:
    """8 reviews and 21 trials as in the seed study's search, invented and marked illustrative."""
    from app.models import Statement
    from app.services import evidence

    statement_ids = list(
        session.scalars(
            select(Statement.id).where(Statement.study_id == study.id).order_by(Statement.position)
        )
    )
    for number in range(1, 22):
        target = statement_ids[(number - 1) % len(statement_ids)]
        evidence.add_source(
            session,
            actor=user,
            study=study,
            design="rct",
            illustrative=True,
            citation=f"Illustrative trial {number:02d} (invented for the demo, not a real study)",
            pedro=rng.choice([4, 5, 6, 6, 7, 8]),
            statement_ids=[target],
        )
    for number, target in enumerate(statement_ids[:8], start=1):
        evidence.add_source(
            session,
            actor=user,
            study=study,
            design="systematic_review",
            illustrative=True,
            citation=f"Illustrative review {number} (invented for the demo, not a real study)",
            amstar2=rng.choice(["high", "moderate", "low", "critically_low"]),
            pooled_levels=[rng.choice(["1b", "2"])],
            statement_ids=[target],
        )


def _seed(session: Session, *, seed: int) -> Study:
    """Coordinator, study, statements, evidence, panel, a closed round 1 and an open round 2.

    Long because it tells the demo in order from one random stream: the seed's output depends on
    that order, which one function keeps in view.
    """
    rng = random.Random(seed)
    user = session.scalar(select(User).where(User.email == DEMO_EMAIL))
    if user is None:
        user = accounts.create_user(
            session,
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            role=Role.admin,
            name="Demo coordinator",
        )
    study = studies.create_study(
        session,
        actor=user,
        title=DEMO_TITLE,
        instructions=(
            "Rate how strongly you agree with each recommendation, from 1 (strongly disagree) "
            "to 9 (strongly agree). Choose 'unable to rate' if it is outside your expertise. "
            "Comments are shown to the other panelists without your name."
        ),
        scale_min=1,
        scale_max=9,
        scale_labels={
            "1": "Strongly disagree",
            "5": "Neither agree nor disagree",
            "9": "Strongly agree",
        },
        rule={"rule": "comet_70_15", "high_min": 7, "low_max": 3, "in_pct": 70, "out_pct": 15},
        quantile_method="type7",
        max_rounds=3,
        allow_abstain=True,
        languages=["en", "zh-Hans"],
        translations={
            "zh-Hans": {
                "title": "运动干预神经病理性疼痛（演示）",
                "instructions": (
                    "请对每条推荐意见的同意程度评分，1 分表示非常不同意，9 分表示非常同意。"
                    "如超出您的专业范围，请选择“无法评分”。您的意见将以匿名方式展示给其他专家。"
                ),
                "labels": {"1": "非常不同意", "5": "既不同意也不反对", "9": "非常同意"},
            }
        },
    )
    added = statements.add_statements(
        session,
        actor=user,
        study=study,
        items=[
            statements.NewStatement(text=en, topic=topic, key=key, translations={"zh-Hans": zh})
            for key, topic, en, zh in STATEMENTS
        ],
    )
    _illustrative_evidence(session, user=user, study=study, rng=rng)
    members = []
    number = 0
    for group, size in GROUPS:
        for _ in range(size):
            number += 1
            members.append(
                panel.NewPanelist(
                    name=f"Demo expert {number:02d}",
                    email=f"expert{number:02d}@demo.example",
                    group=group,
                    language="zh-Hans" if number % 3 == 0 else "en",
                )
            )
    invitations = panel.add_panelists(session, actor=user, study=study, items=members)
    # Round 1 already happened (synthetic answers), so round 2 shows the group's feedback.
    first = rounds.create_round(session, actor=user, study=study)
    rounds.open_round(
        session, actor=user, study=study, round_=first, closes_at=utcnow() + timedelta(days=1)
    )
    leaning = {item.statement_id: rng.uniform(4.5, 8.5) for item in first.items}
    unsaid = {s.id: list(REMARKS[s.key]) for s in added}  # each remark is made once
    for p, invitation in enumerate(invitations):
        entries = []
        for sid, centre in leaning.items():
            value = max(1, min(9, round(rng.gauss(centre, 1.3))))
            comment = None
            if unsaid[sid] and rng.random() < 0.1:
                comment = unsaid[sid].pop(rng.randrange(len(unsaid[sid])))
            entries.append(ballots.RatingInput(statement_id=sid, value=value, comment=comment))
        if p % 9 == 8:
            continue  # a few did not respond
        ballots.save_ballot(session, panelist=invitation.panelist, entries=entries, submit=True)
    rounds.close_round(session, round_id=first.id, actor=user)
    stability.freeze(session, round_id=first.id)
    second = rounds.create_round(session, actor=user, study=study)
    rounds.open_round(
        session, actor=user, study=study, round_=second, closes_at=utcnow() + timedelta(days=14)
    )
    outbox.enqueue_round_opened(session, round_=second)  # held without SMTP; see the console
    return study
