"""Fraud rings: the applicant projection, Leiden communities, stable ring ids, statistics and risk.

The batch job is :func:`detect_rings`; ``tianwang rings detect`` runs it from the CLI.
"""

from __future__ import annotations

from tianwang.rings.detection import assign_ring_ids, find_communities
from tianwang.rings.job import DetectedRing, RingReport, detect_rings, detect_rings_in_export
from tianwang.rings.projection import Projection, ProjectionSettings, project
from tianwang.rings.statistics import RingStatistics, ring_statistics

__all__ = [
    "DetectedRing",
    "Projection",
    "ProjectionSettings",
    "RingReport",
    "RingStatistics",
    "assign_ring_ids",
    "detect_rings",
    "detect_rings_in_export",
    "find_communities",
    "project",
    "ring_statistics",
]
