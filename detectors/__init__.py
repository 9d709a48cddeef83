"""Detectors: the base class and the built-in detectors (see DESIGN.md, "Detectors").

The detector SDK and the built-ins are not written yet; this package holds their place
in the layout so that the distribution and its imports are stable.
"""
