"""What analysts do: read detectors and the configuration, propose changes, review them (maker-checker).

The scoring configuration (the YAML file of :mod:`tianwang.scoring.config`) is versioned
in the ``config_versions`` table. The service starts on the newest active version (the
first start records the file it was given as version 1); a change is a **proposal**
(status ``proposed``, parent: the version active then) that never runs before another
analyst or an approver approves it: then the running pipeline switches to it at once
(:meth:`~tianwang.scoring.config.ConfigSource.install`, no restart), the previous
version becomes ``superseded``, and :func:`rollback` puts the previous one back in one
call (a new activation of its text). Every change writes an audit line in its transaction.

A proposal is backtested on the stored history (:func:`replay_metrics`): the decisions
this service recorded hold every detector's vote, shadow detectors included; the
proposal's strategy, weights, modes, vetoes and thresholds re-decide them, and the
active version's do the same, so the two sets of metrics (against the labels of
verdicts and outcomes) stand side by side. Votes are replayed as recorded: a change
of a detector's own settings (its rules) shows only in a full replay
(``POST /v1/jobs`` kind ``backtest`` with application and label files).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from detectors.base import Vote
from tianwang.errors import InvalidRequestError, NotFoundError, StateConflictError
from tianwang.opsdb.models import ConfigVersion, DecisionRow, utcnow
from tianwang.opsdb.pagination import Page, paginate
from tianwang.scoring.config import ConfigSource, LoadedConfig, ScoringConfig, parse_config
from tianwang.scoring.errors import ScoringConfigError
from tianwang.scoring.voting import apply_vetoes, band_for, fuse
from tianwang.service import Service
from tianwang.service.audit import audit
from tianwang.service.feedback import labels as feedback_labels
from tianwang.stats import auprc, auroc, recall_at_fpr

__all__ = [
    "active_config",
    "approve_proposal",
    "backtest_proposal",
    "config_source",
    "detector_list",
    "ensure_active_version",
    "get_version",
    "labels",
    "list_versions",
    "propose",
    "reject_proposal",
    "replay_metrics",
    "rollback",
]

#: the newest decisions a proposal is replayed on
REPLAY_LIMIT = 50_000


def config_source(service: Service) -> ConfigSource:
    """The running pipeline's configuration source (a service always has one)."""
    source = service.runtime.pipeline.source
    if source is None:
        raise StateConflictError("fixed_configuration", "this process runs a fixed configuration; it cannot change")
    return source


def _text_of(service: Service) -> str:
    return config_source(service).path.read_text(encoding="utf-8")


def _active(session: Session) -> ConfigVersion | None:
    return session.scalar(select(ConfigVersion).where(ConfigVersion.status == "active")
                          .order_by(ConfigVersion.version.desc()).limit(1))


def ensure_active_version(service: Service) -> int:
    """Record the running configuration as version 1 on a first start, or put the active version in force.

    Returns the active version's number.
    """
    with service.ops.session() as session:
        row = _active(session)
        if row is None:
            now = utcnow()
            row = ConfigVersion(parent=None, body=_text_of(service), summary="the configuration the service "
                                "started with", status="active", proposed_by="system", proposed_at=now,
                                reviewed_by="system", reviewed_at=now, activated_at=now)
            session.add(row)
            session.flush()
            audit(session, "system", "config.seed", "config_version", [str(row.version)])
            service.extras["config_version"] = row.version
            return row.version
        if service.extras.get("config_version") != row.version:
            source = config_source(service)
            if source.pinned or row.body != _text_of(service):
                source.install(row.body, source=f"config version {row.version}")
            service.extras["config_version"] = row.version
        return row.version


def _version_view(row: ConfigVersion) -> dict[str, Any]:
    return {
        "version": row.version, "parent": row.parent, "status": row.status, "summary": row.summary,
        "body": row.body, "proposed_by": row.proposed_by, "proposed_at": row.proposed_at,
        "reviewed_by": row.reviewed_by, "reviewed_at": row.reviewed_at, "review_comment": row.review_comment,
        "activated_at": row.activated_at, "backtest": row.backtest,
    }


def active_config(service: Service) -> dict[str, Any]:
    """The active version, with the hash the pipeline records in each decision."""
    ensure_active_version(service)
    with service.ops.session() as session:
        row = _active(session)
        assert row is not None
        view = _version_view(row)
    view["config_hash"] = service.runtime.pipeline.loaded.version
    return view


def list_versions(service: Service, *, cursor: str | None, limit: int, status: str | None = None) -> Page[Any]:
    """Every version, newest first."""
    with service.ops.session() as session:
        stmt = select(ConfigVersion)
        if status is not None:
            stmt = stmt.where(ConfigVersion.status == status)
        page = paginate(session, stmt, [(ConfigVersion.version, True)], cursor=cursor, limit=limit)
        return Page([_version_view(r) for r in page.data], page.has_more, page.next)


def get_version(service: Service, version: int) -> dict[str, Any]:
    with service.ops.session() as session:
        row = session.get(ConfigVersion, version)
        if row is None:
            raise NotFoundError("configuration version", str(version))
        return _version_view(row)


def _validate(service: Service, body: str) -> LoadedConfig:
    try:
        return parse_config(body, config_source(service).registry, source="body")
    except ScoringConfigError as exc:
        raise InvalidRequestError("body", str(exc).removeprefix("body: ")) from None
    except Exception as exc:  # a detector that fails to build on these settings (a missing artifact ...)
        raise InvalidRequestError("body", f"a detector cannot be built with these settings: "
                                  f"{type(exc).__name__}") from None


def propose(service: Service, actor: Any, body: str, summary: str, *, request_id: str | None = None) -> dict[str, Any]:
    """Record a proposal (validated; not in force) and start its backtest as a job."""
    _validate(service, body)
    parent = ensure_active_version(service)
    with service.ops.session() as session:
        row = ConfigVersion(parent=parent, body=body, summary=summary, status="proposed",
                            proposed_by=getattr(actor, "id", str(actor)), proposed_at=utcnow())
        session.add(row)
        session.flush()
        audit(session, actor, "config.propose", "config_version", [str(row.version)], request_id=request_id,
              parent=parent)
        version = row.version
    runner = service.extras.get("jobs")
    if runner is not None and runner.running:
        runner.submit("backtest", {"version": version}, actor)
    else:
        backtest_proposal(service, version)
    return get_version(service, version)


def _proposal(session: Session, version: int) -> ConfigVersion:
    row = session.get(ConfigVersion, version, with_for_update=True)
    if row is None:
        raise NotFoundError("configuration version", str(version))
    if row.status != "proposed":
        raise StateConflictError("not_proposed", f"version {version} is {row.status}, not a pending proposal")
    return row


def approve_proposal(service: Service, actor: Any, version: int, comment: str = "", *,
                     request_id: str | None = None) -> dict[str, Any]:
    """Activate proposal ``version``: in force at once. Its proposer may not approve it."""
    _validate(service, get_version(service, version)["body"])
    with service.ops.session() as session:
        row = _proposal(session, version)
        if row.proposed_by == getattr(actor, "id", str(actor)):
            raise StateConflictError("self_approval", "a proposal needs another analyst's or an approver's "
                                     "approval; its proposer may not approve it")
        active = _active(session)
        if active is not None and row.parent != active.version:
            raise StateConflictError("stale_proposal", f"version {version} was proposed on version {row.parent}; "
                                     f"version {active.version} is active now: propose the change on top of it")
        _activate(session, service, row, actor, comment)
        audit(session, actor, "config.approve", "config_version", [str(version)], request_id=request_id,
              replaces=row.parent)
    return get_version(service, version)


def _activate(session: Session, service: Service, row: ConfigVersion, actor: Any, comment: str) -> None:
    now = utcnow()
    for old in session.scalars(select(ConfigVersion).where(ConfigVersion.status == "active")):
        old.status = "superseded"
    row.status, row.activated_at = "active", now
    row.reviewed_by, row.reviewed_at = getattr(actor, "id", str(actor)), now
    row.review_comment = comment[:500] or None
    session.flush()
    # last: should the pipeline refuse the text, the transaction rolls back and nothing changed
    config_source(service).install(row.body, source=f"config version {row.version}")
    service.extras["config_version"] = row.version


def reject_proposal(service: Service, actor: Any, version: int, comment: str = "", *,
                    request_id: str | None = None) -> dict[str, Any]:
    """Reject proposal ``version`` (its proposer may withdraw it this way)."""
    with service.ops.session() as session:
        row = _proposal(session, version)
        row.status = "rejected"
        row.reviewed_by, row.reviewed_at = getattr(actor, "id", str(actor)), utcnow()
        row.review_comment = comment[:500] or None
        audit(session, actor, "config.reject", "config_version", [str(version)], request_id=request_id)
    return get_version(service, version)


def rollback(service: Service, actor: Any, comment: str = "", *, request_id: str | None = None) -> dict[str, Any]:
    """Put the previously active version back in force, as a new active version with its text."""
    ensure_active_version(service)
    with service.ops.session() as session:
        current = _active(session)
        assert current is not None
        previous = session.scalar(select(ConfigVersion).where(ConfigVersion.status == "superseded")
                                  .order_by(ConfigVersion.activated_at.desc(), ConfigVersion.version.desc())
                                  .limit(1))
        if previous is None:
            raise StateConflictError("nothing_to_roll_back", "no version was active before the current one")
        row = ConfigVersion(parent=current.version, body=previous.body,
                            summary=f"rollback to version {previous.version}"[:500], status="proposed",
                            proposed_by=getattr(actor, "id", str(actor)), proposed_at=utcnow(),
                            backtest=previous.backtest)
        session.add(row)
        session.flush()
        _activate(session, service, row, actor, comment)
        audit(session, actor, "config.rollback", "config_version", [str(row.version)], request_id=request_id,
              restores=previous.version, replaces=current.version)
        version = row.version
    return get_version(service, version)


# -- detectors ------------------------------------------------------------------------------
def detector_list(service: Service) -> list[dict[str, Any]]:
    """Every configured detector and every registered one not configured (mode ``off``)."""
    pipeline = service.runtime.pipeline
    loaded = pipeline.loaded
    registry = config_source(service).registry
    out = []
    for name, dc in loaded.config.detectors.items():
        cls = registry.resolve(dc.detector or name)
        built = loaded.detectors.get(name)
        weights = {s: pipeline.weights_of(s, st, loaded)[0].get(name, dc.weight)
                   for s, st in loaded.config.strategies.items() if name in (st.detectors or loaded.config.detectors)}
        out.append({"name": name, "detector": cls.name, "version": cls.version, "mode": dc.mode, "layer": cls.layer,
                    "weights": weights, "needs_training": cls.needs_training,
                    "trained": bool(built is not None and built.is_fitted), "veto": dc.veto is not None})
    configured = {dc.detector or n for n, dc in loaded.config.detectors.items()}
    for name in registry.names:
        if name not in configured:
            cls = registry.resolve(name)
            out.append({"name": name, "detector": cls.name, "version": cls.version, "mode": "off",
                        "layer": cls.layer, "weights": {}, "needs_training": cls.needs_training, "trained": False,
                        "veto": False})
    return out


# -- backtests on the stored history --------------------------------------------------------
def labels(session: Session) -> dict[str, bool]:
    """Labels by application id: verdicts first (the newest wins), else repayment outcomes.

    The rule is the training labels' (:func:`tianwang.service.feedback.labels`), so a proposal
    is measured on the labels the next model trains on.
    """
    return {application_id: fraud for application_id, fraud, _, _ in feedback_labels(session)}


def replay_decision(record: Mapping[str, Any], config: ScoringConfig) -> tuple[int, str]:
    """(fraud_score, band) ``config``'s champion strategy gives the votes a decision recorded.

    Configured weights are used (weights learned from training hold for one trained
    pipeline, not for a replay).
    """
    strategy = config.strategies[config.champion]
    members = set(strategy.detectors or config.detectors)
    votes: dict[str, Vote] = {}
    for outcome in record.get("votes", []):
        name, vote = outcome.get("detector"), outcome.get("vote")
        dc = config.detectors.get(name)
        if vote is None or outcome.get("status") != "ok" or dc is None or dc.mode != "active" or name not in members:
            continue
        votes[name] = Vote(score=vote["score"], confidence=vote.get("confidence", 1.0),
                           baseline=vote.get("baseline", 0.01), hard=bool(vote.get("hard")))
    if config.hard_decisions and any(v.hard for v in votes.values()):
        return 1000, "reject"
    weights = {n: strategy.weights.get(n, config.detectors[n].weight) for n in votes}
    fused = fuse(votes, weights, strategy.prior)
    band = band_for(fused.fraud_score, strategy.thresholds)
    vetoes = {n: config.detectors[n].veto for n in votes if config.detectors[n].veto is not None}
    score, band, _ = apply_vetoes(fused.fraud_score, band, votes, vetoes, strategy.thresholds)  # type: ignore[arg-type]
    return score, band


def _finite(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None


def replay_metrics(service: Service, config: ScoringConfig) -> dict[str, Any]:
    """Metrics of ``config`` re-deciding the stored decisions, against the stored labels."""
    with service.ops.session() as session:
        known = labels(session)
        records = [r.record for r in session.scalars(
            select(DecisionRow).order_by(DecisionRow.decided_at.desc()).limit(REPLAY_LIMIT))]
    replayed = [(replay_decision(rec, config), known.get(str(rec.get("application_id")))) for rec in records]
    bands = {b: sum(1 for (_, band), _ in replayed if band == b) for b in ("approve", "review", "reject")}
    rows = [(score, band, label) for (score, band), label in replayed if label is not None]
    y = np.array([label for _, _, label in rows], dtype=bool)
    scores = np.array([score for score, _, _ in rows], dtype=np.float64)
    flagged = np.array([band != "approve" for _, band, _ in rows], dtype=bool)
    both = bool(y.any() and (~y).any())
    return {
        "n_decisions": len(records), "n_labelled": len(rows), "n_fraud": int(y.sum()),
        "auroc": _finite(auroc(y, scores)) if both else None,
        "auprc": _finite(auprc(y, scores)) if both else None,
        "recall_at_1pct_fpr": _finite(recall_at_fpr(y, scores, 0.01)) if both else None,
        "fraud_flagged_rate": _finite(float(flagged[y].mean())) if y.any() else None,
        "legit_flagged_rate": _finite(float(flagged[~y].mean())) if (~y).any() else None,
        "band_counts": bands,
    }


def backtest_proposal(service: Service, version: int) -> dict[str, Any]:
    """Replay the stored history under proposal ``version`` and under the active version; store both."""
    registry = config_source(service).registry
    with service.ops.session() as session:
        row = session.get(ConfigVersion, version)
        if row is None:
            raise NotFoundError("configuration version", str(version))
        active = _active(session)
        body, active_body = row.body, (active.body if active is not None else _text_of(service))
        active_version = active.version if active is not None else None
    proposal = parse_config(body, registry, source=f"config version {version}").config
    current = parse_config(active_body, registry, source="active configuration").config
    result = {"method": "replay of recorded votes", "active_version": active_version,
              "proposal": replay_metrics(service, proposal), "active": replay_metrics(service, current),
              "at": utcnow().isoformat()}
    with service.ops.session() as session:
        stored = session.get(ConfigVersion, version)
        assert stored is not None
        stored.backtest = result
    return result
