"""Fraud rings: does this application belong to, or join, a risky ring?

The ring batch job (:mod:`tianwang.rings`) groups applicants who share phones,
devices, accounts, addresses, contacts or vehicle drivers into rings and gives each a
risk. This detector holds those rings in a :class:`~tianwang.rings.index.RingIndex`
and, for each application, follows its graph links (the identities that share each of
its attributes, as the graph stood at its own time) to the rings of those identities:

* an applicant who is a ring member gets the ring's risk;
* one linked to ring members joins the ring with a strength that grows with the kinds
  of attribute shared (``link_weights``: a phone, a device, an account or a driver
  count fully, a contact less, an address or a landline least: households share those;
  :mod:`tianwang.rings.links` says what a landline is, for this detector and the batch
  job alike), each divided by ``log2(1 + d)`` when ``d`` other identities share the
  attribute and ignored above ``max_sharing`` (hubs such as a dealer's tablet):
  ``attach = 1 - exp(-1.5 * sum of weights)``, and the score is ``risk * attach``. When
  ``attach`` reaches ``join_at`` the applicant is added to the ring in memory, so later
  applications linked to them find it too, until the next batch run decides again;
* a deal priced far above its model's usual price, at a dealer where members of a
  risky ring bought such deals within the same weeks, links to that ring like a
  shared attribute (``inflated_deal``; the batch job links such deals the same way),
  and so do inflated deals the detector has seen at that dealer since the last run;
* between two runs, the application and the identities it links to (and theirs) may
  form a ring of their own (``FORMS_RING``, :mod:`detectors.fraud_ring.recent`), with
  the risk the batch job's statistics would give it;
* a dealer with an unusual share of its applications in risky rings adds a dealer
  score (dealer collusion, :mod:`detectors.fraud_ring.dealer`), at most ``dealer_max``.

Reasons (:mod:`detectors.fraud_ring.reasons`) name the ring, the attributes shared
(masked), and the ring's confirmed fraud applications.

Where the rings come from is a :class:`~tianwang.rings.lifecycle.RingIndexSource`:
the detector builds one from its settings (``refresh_every``, ``refresh_in_background``,
``reload_seconds``, ``risky``, ``resolution``, ``min_size``) that reads the store the
pipeline gives it (:meth:`FraudRingDetector.bind`); ``FraudRingDetector(settings,
rings=...)`` or :meth:`FraudRingDetector.use_rings` give it another source, or a fixed
:class:`~tianwang.rings.index.RingIndex`.

Examples
--------
>>> FraudRingDetector({"join_at": 2})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
detectors.base.DetectorSettingsError: invalid settings for detector 'fraud_ring': join_at: Input should be ...
"""

from __future__ import annotations

from detectors.fraud_ring.detector import FraudRingDetector
from detectors.fraud_ring.settings import FraudRingSettings

__all__ = ["FraudRingDetector", "FraudRingSettings"]
