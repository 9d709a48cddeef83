"""Champion and challenger: which strategy decides an application.

The share of applications that goes to the challenger is picked by a stable hash of
the application id, so the same application always gets the same strategy, on any
machine and in any process (Python's ``hash`` is salted per process; this is not).

Examples
--------
>>> bucket("APP-00000001") == bucket("APP-00000001")
True
>>> 0.0 <= bucket("APP-00000001") < 1.0
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tianwang.scoring.config import ScoringConfig, StrategyConfig

__all__ = ["AssignedStrategy", "assign_strategy", "bucket"]


def bucket(application_id: str, salt: str = "tianwang-strategy") -> float:
    """A number in [0, 1) fixed by ``application_id`` (blake2b of salt and id)."""
    digest = hashlib.blake2b(f"{salt}\x1f{application_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class AssignedStrategy:
    """The strategy that decides, its role, and the other one (recorded, not deciding)."""

    name: str
    role: str
    strategy: StrategyConfig
    other_name: str | None = None
    other: StrategyConfig | None = None


def assign_strategy(application_id: str, config: ScoringConfig) -> AssignedStrategy:
    """Champion, unless the id's bucket falls in the challenger's share."""
    champion = config.strategies[config.champion]
    challenger = config.challenger
    if challenger is None or challenger.strategy == config.champion:
        return AssignedStrategy(config.champion, "champion", champion)
    other = config.strategies[challenger.strategy]
    if bucket(application_id) < challenger.share:
        return AssignedStrategy(challenger.strategy, "challenger", other, config.champion, champion)
    return AssignedStrategy(config.champion, "champion", champion, challenger.strategy, other)
