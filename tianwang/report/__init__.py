"""The demo's report: one HTML file, in Chinese and English, that opens from the file system.

What the figures show is computed in :mod:`tianwang.report.figures` (curves, histograms,
recall per typology, detector contributions) and :mod:`tianwang.report.rings` (the
riskiest rings as small node-link drawings, attributes masked); :mod:`tianwang.report.svg`
draws them as inline SVG and :mod:`tianwang.report.page` puts them in one page with its
CSS and script inline, so nothing is fetched when it is opened.

The package sits between the command line and the service (``docs/architecture.md``):
it reads backtest decisions and the graph store, and only the command line uses it.
"""

from __future__ import annotations

__all__: list[str] = []
