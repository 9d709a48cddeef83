"""The scoring pipeline: configuration, strategies, voting, decisions and their records.

Importing this package does not import torch or faiss.
"""

from tianwang.scoring.config import (
    DEFAULT_CONFIG_PATH,
    ConfigSource,
    LoadedConfig,
    ScoringConfig,
    load_config,
    parse_config,
)
from tianwang.scoring.decisions import Decision, DetectorOutcome, StrategyResult
from tianwang.scoring.errors import DecisionNotFoundError, ScoringConfigError, ScoringError
from tianwang.scoring.persistence import (
    DecisionLog,
    DocumentIndex,
    InMemoryDecisionLog,
    InMemoryDocumentIndex,
    InMemoryWatchlist,
    ScoringRecords,
    SqliteDecisionLog,
    SqliteDocumentIndex,
    SqliteWatchlist,
    WatchlistStore,
    scoring_db_path,
)
from tianwang.scoring.pipeline import ScoringPipeline
from tianwang.scoring.strategy import assign_strategy, bucket
from tianwang.scoring.voting import fuse

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ConfigSource",
    "Decision",
    "DecisionLog",
    "DecisionNotFoundError",
    "DetectorOutcome",
    "DocumentIndex",
    "InMemoryDecisionLog",
    "InMemoryDocumentIndex",
    "InMemoryWatchlist",
    "LoadedConfig",
    "ScoringConfig",
    "ScoringConfigError",
    "ScoringError",
    "ScoringPipeline",
    "ScoringRecords",
    "SqliteDecisionLog",
    "SqliteDocumentIndex",
    "SqliteWatchlist",
    "StrategyResult",
    "WatchlistStore",
    "assign_strategy",
    "bucket",
    "fuse",
    "load_config",
    "parse_config",
    "scoring_db_path",
]
