"""The scoring pipeline: one application in, one explained decision out.

Steps, each timed: **validate** (schema v1), **upsert** into the graph store (idempotent), **context** (the
application's graph links as of its own time), **fast** layer, **deep** layer, **vote**, **decide**, **record**.

Every detector runs in a thread pool under its own time budget. The pipeline waits for a detector at most
until its budget is spent; one that is late or raises is left out of the vote, and the decision says which and
why (the late thread may finish in the background; a detector with too many calls still running is skipped
until they finish, so a hung detector cannot exhaust the pool). A hard vote from the fast layer (a watchlisted
identity) decides alone and the deep layer is skipped. Shadow detectors run and are recorded but do not vote.
The configuration comes from a :class:`~tianwang.scoring.config.ConfigSource` and is reloaded when its file
changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, cast

from detectors.base import DetectorError, Reason
from detectors.context import ApplicantResolver, LabelledContext, ScoringContext, build_context
from graph_schema.mapping import ApplicationRow, application_row
from graph_schema.schema import SCHEMA_VERSION
from graph_schema.store import GraphStore
from tianwang.application import Application, parse_application
from tianwang.errors import ApplicationConflictError
from tianwang.keys import PersonalKeys, personal_keys
from tianwang.scoring.config import BoundConfig, ConfigSource, LoadedConfig, Thresholds
from tianwang.scoring.decisions import Decision, DetectorOutcome, StrategyResult
from tianwang.scoring.fusion import LearnedWeights, learn_strategies, vote_terms
from tianwang.scoring.layers import LayerRunner
from tianwang.scoring.outbox import GraphGate, GraphUnavailable
from tianwang.scoring.persistence import DecisionLog, DocumentIndex, ScoringRecords, WatchlistStore
from tianwang.scoring.strategy import AssignedStrategy, assign_strategy
from tianwang.scoring.voting import apply_vetoes, band_for, fuse

__all__ = ["GRAPH_UNAVAILABLE", "ScoringPipeline"]

log = logging.getLogger(__name__)

_MAX_REASONS = 8

#: The reason a decision gets when the graph store was unavailable and the band was raised to review.
GRAPH_UNAVAILABLE = "GRAPH_UNAVAILABLE"


class ScoringPipeline:
    """Scores applications against a graph store under a (reloadable) configuration.

    Parameters
    ----------
    store : GraphStore
        Where applications are upserted and graph links read.
    config : ConfigSource or LoadedConfig
        A source is checked for changes on every call (cheaply); a loaded configuration is fixed.
    records : ScoringRecords
        The watchlist, document index and decision log it reads and writes: durable
        ones (:meth:`ScoringRecords.open`) for a service, in-memory ones only where the
        caller says so (:meth:`ScoringRecords.in_memory`).
    max_workers : int
        Threads that run detectors.
    max_backlog : int
        Calls of one detector still running past their budget after which it is skipped until they finish.
    gate : GraphGate, optional
        Runs the graph write and reads under a deadline and keeps the write in a
        durable outbox when the store is down or slow (:mod:`tianwang.scoring.outbox`);
        by default the store is called directly and its failure is the caller's error.
    """

    def __init__(
        self,
        store: GraphStore,
        config: ConfigSource | LoadedConfig,
        records: ScoringRecords,
        *,
        max_workers: int = 16,
        max_backlog: int = 4,
        gate: GraphGate | None = None,
    ) -> None:
        self.store = store
        self.gate = gate if gate is not None else GraphGate(store, None)
        self.keyer = store.keyer
        self._config = BoundConfig(config, store)
        self.records = records
        self.watchlist: WatchlistStore = records.watchlist
        self.documents: DocumentIndex = records.documents
        self.decisions: DecisionLog | None = records.decisions
        self._layers = LayerRunner(max_workers=max_workers, max_backlog=max_backlog)
        self.applicants = ApplicantResolver()
        self._learned: dict[str, tuple[str, LearnedWeights]] = {}
        self._store_info = {"kind": store.kind, "schema_version": SCHEMA_VERSION,
                            "keyer_fingerprint": self.keyer.fingerprint()}

    # -- configuration --------------------------------------------------------------------
    @property
    def loaded(self) -> LoadedConfig:
        """The configuration in force (reloaded first when its file changed), its detectors bound to the store."""
        return self._config.current()

    @property
    def in_force(self) -> LoadedConfig | None:
        """The configuration in force, read without reloading or binding (metrics: a scrape changes nothing)."""
        return self._config.in_force

    @property
    def source(self) -> ConfigSource | None:
        """The reloadable configuration, or ``None`` for a fixed one."""
        return self._config.source

    @property
    def config_error(self) -> str | None:
        """Why the last reload was refused, if it was."""
        return self._config.source.last_error if self._config.source is not None else None

    # -- contexts and training ------------------------------------------------------------
    def context(self, application: Application, *, attachments: Mapping[str, bytes] | None = None,
                keys: PersonalKeys | None = None, graph: bool = True) -> ScoringContext:
        """The context of a stored application, as the graph stood at its submission.

        ``keys`` are its :func:`~tianwang.keys.personal_keys` when already computed; with ``graph=False`` it
        has no graph links (the store is unavailable)."""
        window = timedelta(days=self.loaded.config.velocity_window_days)
        view = self.store.as_of(application.submitted_ts) if graph else None
        context = build_context(application, self.keyer, keys=keys, view=view, window=window, watchlist=self.watchlist,
                                documents=self.documents, attachments=attachments, applicants=self.applicants)
        self.applicants.remember(application.application_id, context.keys.id_hash)
        return context

    def ingest(self, application: Application) -> ScoringContext:
        """Upsert ``application``, build its context and index its documents, without scoring."""
        keys = personal_keys(application, self.keyer)
        self.store.upsert_application(application, keys)
        context = self.context(application, keys=keys)
        self._index_documents(context)
        self._observe(context, self.loaded)
        return context

    def follow(self, application: Application) -> ScoringContext:
        """Observe an application another process scored (in the shared store): state as if scored here."""
        context = self.context(application)
        self._observe(context, self.loaded)
        return context

    def _observe(self, context: ScoringContext, loaded: LoadedConfig) -> None:
        for name, detector in loaded.detectors.items():
            try:
                detector.observe(context)
            except Exception as exc:  # a detector's bookkeeping must not stop the service
                log.warning("detector failed to observe", extra={"detector": name, "error": type(exc).__name__,
                                                                 "application_id": context.application_id})

    def settle(self) -> None:
        """Wait for the background work detectors started (ring refreshes): backtests call it after each
        application so that a replay repeats; a service never does, so no request waits."""
        for detector in self.loaded.detectors.values():
            detector.settle()

    def fit(self, history: Sequence[LabelledContext]) -> dict[str, dict[str, Any]]:
        """Fit every detector that trains on ``history``; return what each learned.

        Strategies with ``fit_weights`` learn their weights and prior first
        (:mod:`tianwang.scoring.fusion`): the detectors are fitted on all but the latest
        ``fusion.holdout`` share of ``history`` (in time order), vote on that share, and
        the weights are learned from those votes; then every detector is fitted on the
        whole history. Learned weights hold until the configuration changes.
        """
        loaded = self.loaded
        report: dict[str, dict[str, Any]] = {}
        learning = [name for name, st in loaded.config.strategies.items() if st.fit_weights]
        if learning:
            report["fusion"] = self._learn_weights(history, loaded, learning)
        report.update(self._fit_detectors(history, loaded))
        return report

    def _fit_detectors(self, history: Sequence[LabelledContext], loaded: LoadedConfig) -> dict[str, dict[str, Any]]:
        report = {}
        for name, detector in loaded.detectors.items():
            if detector.supports_training or detector.needs_training:
                started = time.perf_counter()
                try:
                    detector.fit(history)
                except DetectorError as exc:
                    # it cannot learn from this history (too few cases of a kind): it is left out of the
                    # vote until trained, as a detector that fails to score is
                    report[name] = {"fitted": False, "why": str(exc)}
                    log.warning("detector not fitted", extra={"detector": name, "why": str(exc)})
                    continue
                report[name] = {**detector.fit_details, "seconds": round(time.perf_counter() - started, 3)}
                log.info("detector fitted", extra={"detector": name, "samples": len(history)})
        return report

    def _learn_weights(self, history: Sequence[LabelledContext], loaded: LoadedConfig,
                       strategies: Sequence[str]) -> dict[str, Any]:
        started = time.perf_counter()
        ordered = sorted(history, key=lambda h: (h.context.as_of, h.context.application_id))
        n_hold = int(len(ordered) * loaded.config.fusion.holdout)
        earlier, later = ordered[: len(ordered) - n_hold], ordered[len(ordered) - n_hold:]
        self._fit_detectors(earlier, loaded)
        voting = [n for n, d in loaded.config.detectors.items() if d.mode == "active" and n in loaded.detectors]
        terms = []
        for labelled in later:
            votes = {}
            for name in voting:
                try:
                    votes[name] = loaded.detectors[name].score(labelled.context)
                except Exception:  # a detector that fails here is left out, as in scoring
                    continue
            terms.append(vote_terms(votes, voting))
        learned, report = learn_strategies(terms, [h.fraud for h in later], voting, loaded, strategies)
        self._learned.update({name: (loaded.version, lw) for name, lw in learned.items()})
        report["seconds"] = round(time.perf_counter() - started, 3)
        return report

    def thresholds_of(self, name: str, strategy: Any, loaded: LoadedConfig) -> Thresholds:
        """The thresholds strategy ``name`` decides with: its review threshold learned from its review budget
        (``review_legit_share``) when trained under this configuration, else as configured."""
        configured = cast(Thresholds, strategy.thresholds)
        learned = self._learned.get(name)
        if learned is None or learned[0] != loaded.version:
            return configured
        threshold = getattr(learned[1], "review_threshold", None)  # absent from bundles made before budgets
        return configured if threshold is None else Thresholds(review=threshold, reject=configured.reject)

    def weights_of(self, name: str, strategy: Any, loaded: LoadedConfig) -> tuple[dict[str, float], float]:
        """The weights (by detector) and prior strategy ``name`` votes with: learned, else configured."""
        configured = {n: strategy.weights.get(n, d.weight) for n, d in loaded.config.detectors.items()}
        learned = self._learned.get(name)
        if learned is not None and learned[0] == loaded.version:
            return {**configured, **learned[1].weights}, learned[1].prior
        return configured, strategy.prior

    def verdict(self, application_id: str, fraud: bool, typology: str | None = None) -> list[str]:
        """Hand an investigator's verdict to every detector; return those that took it in.

        The known-fraud index takes a confirmed case in at once, the ring detector counts it towards its
        applicant's ring; labels for the next training are kept elsewhere.
        """
        used = []
        for name, detector in self.loaded.detectors.items():
            try:
                if detector.verdict(application_id, fraud, typology):
                    used.append(name)
            except Exception as exc:  # one detector's bookkeeping must not lose the others'
                log.warning("detector failed to take a verdict", extra={"detector": name,
                                                                        "error": type(exc).__name__,
                                                                        "application_id": application_id})
        log.info("verdict", extra={"application_id": application_id, "fraud": fraud, "detectors": used})
        return used

    # -- scoring --------------------------------------------------------------------------
    def score(
        self, application: Application | str | bytes | Mapping[str, Any], *,
        attachments: Mapping[str, bytes] | None = None,
    ) -> Decision:
        """Validate, upsert, score, decide and record one application.

        Raises
        ------
        ApplicationValidationError
            If the application is invalid (nothing is written).
        ApplicationConflictError
            If its id is stored with different content.
        """
        timings: dict[str, float] = {}
        t0 = mark = time.perf_counter()

        def lap(step: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            timings[step] = (now - mark) * 1000
            mark = now

        app = application if isinstance(application, Application) else parse_application(application)
        lap("validate")
        keys = personal_keys(app, self.keyer)
        row = application_row(app, self.keyer, keys)
        loaded = self.loaded
        degraded: str | None = None
        try:
            context = self.gate.call(partial(self._write_and_read, app, row, keys, attachments, timings))
        except GraphUnavailable as exc:
            # the application waits in the outbox (on disk before the decision is answered) and is
            # scored without graph evidence
            waiting = self.gate.waiting_hash(app.application_id)
            if waiting is not None and waiting != row.content_hash:
                raise ApplicationConflictError(app.application_id) from None
            self.gate.degrade(row, exc)
            degraded = exc.why
            context = self.context(app, attachments=attachments, keys=keys, graph=False)
            timings["upsert"] = (time.perf_counter() - mark) * 1000
        mark = time.perf_counter()
        assigned = assign_strategy(app.application_id, loaded.config)
        by_layer: dict[str, list[str]] = {"fast": [], "deep": []}
        for name, detector in loaded.detectors.items():
            by_layer[detector.layer].append(name)
        outcomes = self._layers.run(by_layer["fast"], context, loaded, degraded)
        lap("fast")
        hard = [o for o in outcomes.values() if o.status == "ok" and o.mode == "active" and o.vote is not None
                and o.vote.hard] if loaded.config.hard_decisions else []
        if hard:
            for name in by_layer["deep"]:
                detector = loaded.detectors[name]
                outcomes[name] = DetectorOutcome(
                    name, detector.version, loaded.config.detectors[name].mode, "deep", "skipped", 0.0,
                    why=f"decided by the hard finding of {hard[0].detector}",
                )
        else:
            outcomes.update(self._layers.run(by_layer["deep"], context, loaded, degraded))
        lap("deep")
        decision = self._decide(app, loaded, assigned, outcomes, hard, timings, degraded)
        lap("vote")
        self._index_documents(context)
        self._observe(context, loaded)
        if self.decisions is not None:
            self.decisions.put(decision.as_dict())
        lap("record")
        timings["total"] = (time.perf_counter() - t0) * 1000
        decision.timings_ms = timings
        return decision

    def _write_and_read(self, app: Application, row: ApplicationRow, keys: PersonalKeys,
                        attachments: Mapping[str, bytes] | None, timings: dict[str, float]) -> ScoringContext:
        """Write ``app`` to the graph and read its context: what :attr:`gate` runs under its deadline."""
        started = time.perf_counter()
        if self.store.write_rows([row]).conflicts:
            raise ApplicationConflictError(app.application_id)
        written = time.perf_counter()
        context = self.context(app, attachments=attachments, keys=keys)
        timings["upsert"] = (written - started) * 1000
        timings["context"] = (time.perf_counter() - written) * 1000
        return context

    def warm_up(self, application: Application) -> float:
        """Rehearse ``application``'s graph write (rolled back) and read its links, so that the store's first
        real request does not pay for compiling its queries (a cold Neo4j takes seconds, past the gate's
        deadline); nothing is written or remembered. Returns seconds."""
        started = time.perf_counter()
        keys = personal_keys(application, self.keyer)
        row = application_row(application, self.keyer, keys)
        window = timedelta(days=self.loaded.config.velocity_window_days)

        def rehearse() -> None:
            self.store.rehearse_write([row])
            build_context(application, self.keyer, keys=keys, view=self.store.as_of(application.submitted_ts),
                          window=window, applicants=ApplicantResolver(capacity=1))

        self.gate.call(rehearse)
        return time.perf_counter() - started

    def _index_documents(self, context: ScoringContext) -> None:
        files = [doc.sha256 for doc in context.application.documents if doc.sha256]
        if files:
            self.documents.add_many(files, context.keys.id_hash, context.as_of)

    def _strategy_result(self, name: str, role: str, strategy: Any, loaded: LoadedConfig,
                         outcomes: dict[str, DetectorOutcome]) -> tuple[StrategyResult, dict[str, float], list[str]]:
        members = set(strategy.detectors or loaded.detectors)
        cfg = loaded.config.detectors
        votes = {n: o.vote for n, o in outcomes.items()
                 if o.status == "ok" and o.vote is not None and o.mode == "active" and n in members}
        all_weights, prior = self.weights_of(name, strategy, loaded)
        weights = {n: all_weights[n] for n in votes}
        fused = fuse(votes, weights, prior)
        thresholds = self.thresholds_of(name, strategy, loaded)
        band = band_for(fused.fraud_score, thresholds)
        vetoes = {n: cfg[n].veto for n in votes if cfg[n].veto is not None}
        score, band, fired = apply_vetoes(fused.fraud_score, band, votes, vetoes, thresholds)  # type: ignore[arg-type]
        return StrategyResult(name, role, score, band), {n: fused.contributions[n] for n in votes}, fired

    def _decide(self, app: Application, loaded: LoadedConfig, assigned: AssignedStrategy,
                outcomes: dict[str, DetectorOutcome], hard: list[DetectorOutcome],
                timings: dict[str, float], degraded: str | None = None) -> Decision:
        result, contributions, fired = self._strategy_result(assigned.name, assigned.role, assigned.strategy,
                                                             loaded, outcomes)
        weights = self.weights_of(assigned.name, assigned.strategy, loaded)[0]
        for name, c in contributions.items():
            outcomes[name].voting = True
            outcomes[name].contribution = c
            outcomes[name].weight = weights[name]
        other = None
        if assigned.other is not None and assigned.other_name is not None:
            other_role = "champion" if assigned.role == "challenger" else "challenger"
            other = self._strategy_result(assigned.other_name, other_role, assigned.other, loaded, outcomes)[0]
        fraud_score, band, decided_by = result.fraud_score, result.band, "vote"
        if fired:
            decided_by = f"veto:{fired[0]}"
        if hard:
            fraud_score, band, decided_by = 1000, "reject", f"hard:{hard[0].detector}"
        ranked = sorted(outcomes.values(), key=lambda o: -(contributions.get(o.detector, 0.0)))
        reasons: list[tuple[str, Reason]] = []
        for outcome in ranked:
            if outcome.vote is None or not (outcome.detector in hard_names(hard) or
                                            contributions.get(outcome.detector, 0.0) > 0):
                continue
            reasons.extend((outcome.detector, r) for r in outcome.vote.reasons)
        degraded_record = None
        if degraded is not None:
            missing = sorted(o.detector for o in outcomes.values() if o.status == "unavailable" and o.mode == "active")
            raised = band == "approve" and bool(missing) and not loaded.config.degraded.approve
            if raised:
                band, decided_by = "review", "degraded:graph"
                fraud_score = max(fraud_score, self.thresholds_of(assigned.name, assigned.strategy, loaded).review)
                reasons.insert(0, ("pipeline", Reason(
                    GRAPH_UNAVAILABLE,
                    "the graph store could not be reached: the graph detectors "
                    f"({', '.join(missing)}) did not run, so it is not approved without a person's look",
                    strength=1.0)))
            degraded_record = {"graph": "unavailable", "why": degraded, "detectors": missing,
                               "band_raised": raised, "outbox": True}
        order = [o.detector for o in sorted(outcomes.values(), key=lambda o: (o.layer != "fast", o.detector))]
        return Decision(
            application_id=app.application_id,
            submitted_at=app.submitted_at.isoformat(),
            fraud_score=fraud_score,
            band=band,
            strategy=assigned.name,
            role=assigned.role,
            decided_by=decided_by,
            reasons=reasons[:_MAX_REASONS],
            outcomes=[outcomes[n] for n in order],
            timings_ms=timings,
            config_version=loaded.version,
            store=self._store_info,
            other_strategy=other,
            vetoes=fired,
            degraded=degraded_record,
        )

    def close(self) -> None:
        """Stop the detector threads (late ones finish in the background)."""
        self._layers.close()

    def __enter__(self) -> ScoringPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hard_names(hard: Sequence[DetectorOutcome]) -> set[str]:
    return {o.detector for o in hard}
