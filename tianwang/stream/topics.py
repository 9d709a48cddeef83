"""Names of the event stream's topics and of the consumer group that writes the graph."""

from __future__ import annotations

__all__ = ["APPLICATIONS", "DEAD_LETTERS", "DEFAULT_GROUP", "OUTCOMES", "VERDICTS"]

#: applications as accepted (key: application id; value: the application's JSON)
APPLICATIONS = "tianwang.applications"
#: the service's verdicts (key: application id)
VERDICTS = "tianwang.verdicts"
#: what became of an application later: repaid, defaulted, confirmed fraud (key: application id)
OUTCOMES = "tianwang.outcomes"
#: messages of the applications topic the graph writer could not take, with the reason in a header
DEAD_LETTERS = "tianwang.applications.dead-letter"
#: the consumer group of the graph writer (``tianwang stream consume``)
DEFAULT_GROUP = "tianwang-graph-writer"
