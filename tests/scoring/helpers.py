"""Detectors that misbehave on purpose, and a way to build a configuration from a dict."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import yaml
from pydantic import Field

from detectors import Detector, DetectorRegistry, DetectorSettings, Reason, ScoringContext, Vote
from tianwang.scoring import LoadedConfig, parse_config


class SleepySettings(DetectorSettings):
    seconds: float = Field(default=1.0, ge=0)


class SleepyDetector(Detector):
    """Sleeps, then votes: a detector that blows its budget."""

    name = "sleepy"
    Settings = SleepySettings
    release = threading.Event()

    def _score(self, context: ScoringContext) -> Vote:
        self.release.wait(self.settings.seconds)
        return Vote(0.99, 1.0, (Reason("SLEPT", "slept"),))


class BoomDetector(Detector):
    """Raises an error whose message carries a value that must not reach the decision."""

    name = "boom"

    def _score(self, context: ScoringContext) -> Vote:
        raise RuntimeError(f"cannot score {context.application.applicant.phone}")


class InlineSleepyDetector(SleepyDetector):
    """The sleepy detector declared ``inline``: the pipeline runs it in the scoring thread."""

    name = "inline_sleepy"
    inline = True
    threads: ClassVar[list[str]] = []

    def _score(self, context: ScoringContext) -> Vote:
        self.threads.append(threading.current_thread().name)
        return super()._score(context)


class InlineBoomDetector(BoomDetector):
    name = "inline_boom"
    inline = True


class ConstantSettings(DetectorSettings):
    score: float = 0.5


class ConstantDetector(Detector):
    name = "constant"
    layer = "deep"
    Settings = ConstantSettings

    def _score(self, context: ScoringContext) -> Vote:
        return Vote(self.settings.score, 1.0, (Reason("CONSTANT", "always this score"),), baseline=0.01)


def registry() -> DetectorRegistry:
    reg = DetectorRegistry.builtin()
    for cls in (SleepyDetector, BoomDetector, ConstantDetector, InlineSleepyDetector, InlineBoomDetector):
        reg.register(cls)
    return reg


def config(detectors: dict[str, Any], **extra: Any) -> LoadedConfig:
    data = {
        "version": 1,
        "detectors": detectors,
        "strategies": {"main": {"thresholds": {"review": 300, "reject": 700}, "prior": 0.05}},
        "champion": "main",
    }
    data.update(extra)
    return parse_config(yaml.safe_dump(data), registry())


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started
