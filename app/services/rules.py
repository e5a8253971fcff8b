"""A study's pre-registered consensus rule: parsed in one place, and put into words in one."""

import json
from functools import lru_cache

from app.consensus import RULE_ADAPTER, ConsensusRule, describe
from app.models import Study


def consensus_rule(study: Study) -> ConsensusRule:
    """The study's rule as its type (the `rule` column holds its JSON); each rule is parsed once."""
    return _parsed(json.dumps(study.rule, sort_keys=True))


@lru_cache(maxsize=256)
def _parsed(rule: str) -> ConsensusRule:
    return RULE_ADAPTER.validate_python(json.loads(rule))


def rule_words(study: Study) -> str:
    """The rule in plain words on the study's scale, for the console, the API and the exports."""
    return describe(consensus_rule(study), study.scale_min, study.scale_max)
