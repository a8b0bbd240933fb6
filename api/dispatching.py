"""Store dispatches: the one a caller asks for, and the ones the service runs by itself.

A store's `RedispatchPolicy` says when the service re-plans on its own: when an order is
accepted, when a rider reports or an order event is recorded, and at least every N seconds.
Triggers of one store are coalesced: while its re-plan runs, further triggers mark it to run
once more afterwards, so a burst of orders costs two solves, not one per order. A re-plan that
loses a race with another dispatch (409), finds the solver pool full (503) or fails is logged,
recorded on the store (`last_redispatch`) and dropped; the next trigger or tick plans again.
Stored records that break a rule are left out of a dispatch (listed in the plan's `excluded`),
so no single record stops a store. Nothing here solves: the core does, in the solver pool.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any, Callable

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api import events, repository
from api.errors import ApiError, Conflict, ServiceBusy, SolveTimeout
from api.schemas import DEFAULT_COMMIT_LEAD_S, RedispatchPolicy
from api.solving import SolverPool, solve_document
from api.db import read_transaction
from api.observability import new_request_id, request_id_var
from api.store_state import dispatch_problem, plannable, remaining_stops, without_orders
from api.tables import OrderRow, PlanRow, StoreRow
from dispatch.errors import DispatchError, InvalidProblem
from dispatch.validate import validate_plan
from dispatch.schema import OptionsDoc

log = logging.getLogger("api.redispatch")
Trigger = str  # "new_order", "rider_event" or "every_s"


def dispatch_store(
    db: Session,
    solver: SolverPool,
    store_id: str,
    options: OptionsDoc,
    plan_time: datetime,
    now: Callable[[], datetime],
    commit_lead_s: int = DEFAULT_COMMIT_LEAD_S,
    kind: str = "dispatch",
    rules: events.EventRules = events.EventRules(),
) -> dict[str, Any]:
    """Plan the store as it is at `plan_time` and make the plan current (409 if another dispatch won).

    Stored records that break a rule at `plan_time` are left out and listed in the plan's
    `excluded`; the rest is planned. The plan's events are recorded with it.
    """
    with read_transaction(db):
        snapshot = repository.store_snapshot(db, store_id)
        current = repository.get_plan(db, snapshot.store.current_plan_id) if snapshot.store.current_plan_id else None
    # A 422 here (the store or the options at fault) comes before any solver time is spent.
    _, problem, excluded = plannable(dispatch_problem(snapshot, plan_time, options, current, commit_lead_s))
    plan = solver.run(solve_document, problem, time_limit_s=options.time_limit_s, kind=kind)
    plan["store_id"] = store_id
    if excluded:
        plan["excluded"] = excluded
    with db.begin():
        row = repository.new_plan(plan, problem, kind="dispatch", store_id=store_id, now=now())
        repository.commit_dispatch(db, store_id, snapshot.version, row)
        record_plan_events(db, snapshot, current, plan, row.created_at, rules)
    return plan


def _known_orders(snapshot: repository.StoreSnapshot) -> dict[str, OrderRow]:
    known = {o.id: o for o in snapshot.open_orders}
    for _rider, carried in snapshot.riders:
        known.update((o.id, o) for o in carried)
    return known


def record_plan_events(
    db: Session, snapshot: repository.StoreSnapshot, current: PlanRow | None, plan: dict, at: datetime, rules: events.EventRules
) -> None:
    """The events of a new current plan of the snapshot's store, against the plan it replaces."""
    known = _known_orders(snapshot)
    riders = {r["rider_id"] for r in current.plan["routes"]} if current is not None else set()
    before = {rid: remaining_stops(current, rid, known) for rid in riders}
    promises = {oid: o.document.get("promised_at") for oid, o in known.items()}
    events.plan_committed(db, snapshot.store.id, current.plan if current else None, before, plan, promises, at, rules)


def check_move(
    db: Session,
    solver: SolverPool,
    store_id: str,
    order_id: str,
    rider_id: str,
    options: OptionsDoc,
    plan_time: datetime,
    now: Callable[[], datetime],
    commit_lead_s: int = DEFAULT_COMMIT_LEAD_S,
) -> dict[str, Any]:
    """What the store's plan would be with `order_id` moved to `rider_id` (committed there), and
    the independent validator's verdict on it; the plan is stored, not made current.

    409 when the order is not open (a picked-up order stays with its rider) or the rider is not
    on the road; 404 for an unknown order or rider.
    """
    with read_transaction(db):
        snapshot = repository.store_snapshot(db, store_id)
        current = repository.get_plan(db, snapshot.store.current_plan_id) if snapshot.store.current_plan_id else None
        order = repository.get_order(db, order_id)
        rider = repository.get_rider(db, rider_id)
    if order.store_id != store_id:
        raise InvalidProblem.one("order_id", f"order {order_id!r} belongs to store {order.store_id!r}, not {store_id!r}", order_id)
    if order.status != "open":
        raise Conflict(f"order {order_id!r} is {order.status.replace('_', ' ')}; only an open order can move")
    if rider.store_id != store_id:
        raise InvalidProblem.one("rider_id", f"rider {rider_id!r} belongs to store {rider.store_id!r}, not {store_id!r}", rider_id)
    document = dispatch_problem(snapshot, plan_time, options, current, commit_lead_s)
    if rider_id not in {r["id"] for r in document["riders"]}:
        raise Conflict(f"rider {rider_id!r} is off duty or past its shift: it takes no orders now")
    if order_id not in {o["id"] for o in document["orders"]}:
        raise Conflict(f"order {order_id!r} is created after {plan_time.isoformat()}: it cannot be planned yet")
    document["orders"] = [
        {**o, "assigned_rider_id": rider_id, "committed": True} if o["id"] == order_id else o for o in document["orders"]
    ]
    document["initial_routes"] = without_orders(document.get("initial_routes", []), {order_id})
    parsed, problem, excluded = plannable(document)
    plan = solver.run(solve_document, problem, time_limit_s=options.time_limit_s, kind="move_check")
    plan["store_id"] = store_id
    if excluded:
        plan["excluded"] = excluded
    violations = validate_plan(parsed, plan)
    placed = next((r["rider_id"] for r in plan["routes"] for s in r["stops"] if s.get("order_id") == order_id and s["kind"] == "dropoff"), None)
    plan["move"] = {"order_id": order_id, "rider_id": rider_id, "base_version": snapshot.version}
    with db.begin():
        db.add(repository.new_plan(plan, problem, kind="move_check", store_id=store_id, now=now()))
    drop = next((s for r in plan["routes"] for s in r["stops"] if s.get("order_id") == order_id and s["kind"] == "dropoff"), None)
    promised = next(o.get("promised_at") for o in problem["orders"] if o["id"] == order_id)
    before = current.plan.get("metrics", {}) if current else {}
    why = next((u for u in plan["unassigned"] if u["order_id"] == order_id), None)
    return {
        "plan_id": plan["plan_id"],
        "order_id": order_id,
        "rider_id": rider_id,
        "valid": not violations and placed == rider_id,
        "placed_on": placed,
        "reason": why["reason"] if why else None,
        "detail": why["detail"] if why else None,
        "violations": [{"cause": v.cause, "detail": v.detail, "rider_id": v.rider_id, "order_id": v.order_id} for v in violations],
        "eta": drop["arrive_at"] if drop else None,
        "promised_at": promised,
        "slack_s": events.slack_s(promised, drop["arrive_at"]) if drop else None,
        "before": {k: before.get(k) for k in ("late", "late_s_total", "total_distance_m", "assigned")},
        "after": {k: plan["metrics"].get(k) for k in ("late", "late_s_total", "total_distance_m", "assigned")},
    }


def apply_move(db: Session, store_id: str, plan_id: str, now: datetime, rules: events.EventRules) -> dict[str, Any]:
    """Make a checked move's plan current and pin the order to its new rider (re-plans keep it
    there); 409 if the store was dispatched since the check, or the check found the move invalid."""
    with db.begin():
        row = repository.get_plan(db, plan_id)
        move = row.plan.get("move")
        if row.kind not in ("move_check", "move") or row.store_id != store_id or not move:
            raise InvalidProblem.one("plan_id", f"plan {plan_id!r} is not a checked move of store {store_id!r}", plan_id)
        if row.kind == "move":
            raise Conflict(f"the move of plan {plan_id!r} was applied already")
        placed = any(s.get("order_id") == move["order_id"] for r in row.plan["routes"] if r["rider_id"] == move["rider_id"] for s in r["stops"])
        if not placed:
            raise Conflict(f"the checked plan does not put order {move['order_id']!r} on rider {move['rider_id']!r}; nothing was changed")
        order = repository.get_order(db, move["order_id"], for_update=True)
        if order.status != "open":
            raise Conflict(f"order {order.id!r} is {order.status.replace('_', ' ')} since the check; check the move again")
        snapshot = repository.store_snapshot(db, store_id)
        current = repository.get_plan(db, snapshot.store.current_plan_id) if snapshot.store.current_plan_id else None
        if snapshot.version != move["base_version"]:
            raise Conflict(f"store {store_id!r} was dispatched since the check; check the move again")
        row.kind = "move"
        repository.commit_dispatch(db, store_id, move["base_version"], row)
        order.pinned_rider_id = move["rider_id"]
        record_plan_events(db, snapshot, current, row.plan, now, rules)
    return row.plan


def pin_order(db: Session, order_id: str, rider_id: str | None) -> OrderRow:
    """Pin an open order to a rider of its store (every re-plan keeps it there), or unpin it."""
    with db.begin():
        order = repository.get_order(db, order_id, for_update=True)
        if rider_id is not None:
            rider = repository.get_rider(db, rider_id)
            if rider.store_id != order.store_id:
                raise InvalidProblem.one("rider_id", f"rider {rider_id!r} belongs to store {rider.store_id!r}, not {order.store_id!r}", rider_id)
            if order.status != "open":
                raise Conflict(f"order {order_id!r} is {order.status.replace('_', ' ')}; only an open order can be pinned")
        order.pinned_rider_id = rider_id
    return order


def plan_fields(plan: dict[str, Any]) -> dict[str, Any]:
    """What a log line says about a plan: its id, orders, objective, reassignments, left out."""
    m = plan.get("metrics", {})
    return {
        "plan_id": plan.get("plan_id"), "orders": m.get("orders"), "assigned": m.get("assigned"),
        "objective": m.get("objective"), "reassigned": m.get("reassigned"), "late": m.get("late"),
        "excluded": len(plan.get("excluded", [])),
    }


def policy_of(row: StoreRow) -> RedispatchPolicy | None:
    """The store's automatic re-dispatch policy, if it has one."""
    return repository.read_document(RedispatchPolicy, row.redispatch) if row.redispatch else None


def _has_work(db: Session, store_id: str) -> bool:
    """Whether the store has an order to plan (open, or carried by a rider)."""
    return db.scalar(
        select(OrderRow.id).where(OrderRow.store_id == store_id, OrderRow.status.in_(("open", "picked_up"))).limit(1)
    ) is not None


class Redispatcher:
    """Runs the service's own re-plans: one at a time per store, triggers coalesced.

    Triggers run on threads of their own, after the request that caused them has finished
    (so the request's transaction is closed and the answer is not held up by a solve).
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        solver: SolverPool,
        now: Callable[[], datetime],
        threads: int = 2,
        reads: Callable[[], Session] | None = None,
        rules: events.EventRules = events.EventRules(),
        metrics=None,
    ):
        self.sessions = sessions
        # Policies and due stores are read without SQLite's write lock (they were read with it,
        # and under load a trigger's read timed out behind the writers).
        self.reads = reads or sessions
        self.solver = solver
        self.now = now
        self.rules = rules
        self.metrics = metrics  # api.metrics.ServiceMetrics, or None
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._again_by: dict[str, str | None] = {}  # the request whose trigger asked for the run once more
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="redispatch")
        self._submitted: set[Future] = set()

    def trigger(self, store_id: str, trigger: Trigger) -> None:
        """Something happened at the store: re-plan it in the background if its policy says so."""
        # The re-plan's log lines carry the id of the request that triggered it.
        future = self._threads.submit(contextvars.copy_context().run, self.on_event, store_id, trigger)
        with self._lock:
            self._submitted.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._submitted.discard(future)

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Wait until every trigger submitted so far has finished; False on timeout."""
        with self._lock:
            pending = set(self._submitted)
        return not wait(pending, timeout=timeout_s).not_done

    def close(self) -> None:
        """Finish the re-plans under way; triggers still queued are dropped."""
        self._threads.shutdown(wait=True, cancel_futures=True)

    def wants(self, store_id: str, trigger: Trigger) -> bool:
        """Whether the store's policy re-plans on this trigger."""
        policy = self._policy(store_id)
        if policy is None:
            return False
        return {"new_order": policy.on_new_order, "rider_event": policy.on_rider_event}.get(trigger, False)

    def request(self, store_id: str, trigger: Trigger) -> None:
        """Re-plan the store now (in this thread) unless one is running; then it runs once more after."""
        with self._lock:
            if store_id in self._running:
                self._again.add(store_id)
                self._again_by[store_id] = request_id_var.get()
                return
            self._running.add(store_id)
        try:
            while True:
                self._replan(store_id, trigger)
                with self._lock:
                    if store_id not in self._again:
                        self._running.discard(store_id)
                        return
                    self._again.discard(store_id)
                    again_by = self._again_by.pop(store_id, None)
                if again_by is not None:  # the run once more answers to the request that asked for it
                    request_id_var.set(again_by)
        except BaseException:
            with self._lock:
                self._running.discard(store_id)
                self._again.discard(store_id)
                self._again_by.pop(store_id, None)
            raise

    def on_event(self, store_id: str, trigger: Trigger) -> None:
        """Re-plan if the store's policy asks for it on this trigger (never raises)."""
        try:
            if self.wants(store_id, trigger):
                self.request(store_id, trigger)
        except OperationalError as exc:
            # The database did not answer in time (a moment's overload): the next trigger or tick plans.
            log.warning("re-dispatch of store %s on %s skipped: the database did not answer (%s)", store_id, trigger, exc.orig)
        except Exception:
            log.exception("re-dispatch of store %s on %s failed", store_id, trigger)

    def due(self, at: datetime) -> list[str]:
        """Stores whose `every_s` has passed since their last dispatch and that have orders to plan."""
        out = []
        with self.reads() as db:
            for row in db.scalars(select(StoreRow).where(StoreRow.redispatch.is_not(None)).order_by(StoreRow.id)):
                policy = policy_of(row)
                if policy is None or policy.every_s is None:
                    continue
                last = row.dispatched_at
                if (last is None or at - last >= timedelta(seconds=policy.every_s)) and _has_work(db, row.id):
                    out.append(row.id)
        return out

    def tick(self) -> list[str]:
        """Re-plan every store that is due now; the ids it re-planned (or tried to)."""
        stores = self.due(self.now())
        for store_id in stores:
            request_id_var.set(f"tick-{new_request_id()[:16]}")  # each periodic re-plan its own id
            self.request(store_id, "every_s")
        return stores

    def _policy(self, store_id: str) -> RedispatchPolicy | None:
        return read_policy(self.reads, store_id)

    def _replan(self, store_id: str, trigger: Trigger) -> None:
        replan_store(self.sessions, self.reads, self.solver, store_id, trigger, self.now, self.metrics, self.rules)


def read_policy(reads: Callable[[], Session], store_id: str) -> RedispatchPolicy | None:
    """The store's re-dispatch policy as stored now (None: no policy, or no such store)."""
    with reads() as db:
        row = db.get(StoreRow, store_id)
        return policy_of(row) if row is not None else None


def replan_store(
    sessions: Callable[[], Session],
    reads: Callable[[], Session],
    solver: Any,
    store_id: str,
    trigger: Trigger,
    now: Callable[[], datetime],
    metrics=None,
    rules: events.EventRules = events.EventRules(),
) -> dict[str, Any] | None:
    """One automatic re-plan of the store with its policy's options, logged and recorded on the
    store (`last_redispatch`); what it did, or None when the store has no policy. A re-plan that
    fails never raises: the next trigger or tick plans again. `solver` is anything with
    `run(fn, *args, time_limit_s, kind)`: this process's pool, or a cluster worker's own process.
    """
    policy = read_policy(reads, store_id)  # read afresh: it may have changed since the trigger
    if policy is None:
        return None
    outcome: dict[str, Any] = {"at": now().isoformat(), "trigger": trigger}
    started = time.perf_counter()
    fields: dict[str, Any] = {"event": "replan", "store_id": store_id, "trigger": trigger}
    fault: Exception | None = None
    with sessions() as db:
        try:
            # A policy stored before a rule was tightened is read as it is; solving with it
            # needs it to pass today's rules (else this re-plan fails, and says why).
            options = OptionsDoc.model_validate(policy.options.model_dump(mode="json"))
            plan = dispatch_store(db, solver, store_id, options, now(), now, policy.commit_lead_s, kind="replan", rules=rules)
        except ValidationError as exc:
            outcome.update(outcome="failed", detail=f"the stored policy's options break a rule: {exc.errors()[0]['msg']}")
        except (Conflict, ServiceBusy, SolveTimeout) as exc:
            # Another dispatch won (409), the pool is full (503) or slow (504): the next
            # trigger or tick plans again.
            outcome.update(outcome="skipped", detail=f"{exc}")
        except (ApiError, DispatchError) as exc:
            outcome.update(outcome="failed", detail=f"{exc}")
        except Exception as exc:
            outcome.update(outcome="failed", detail=f"{type(exc).__name__}: {exc}")
            fault = exc  # a fault, not a refusal: its line carries the traceback
        else:
            outcome.update(outcome="planned", plan_id=plan["plan_id"], excluded=len(plan.get("excluded", [])))
            fields.update(plan_fields(plan))
    seconds = time.perf_counter() - started
    log_replan(fields, outcome, seconds, metrics, fault)
    record_outcome(sessions, store_id, outcome)
    return outcome


def log_replan(fields: dict[str, Any], outcome: dict[str, Any], seconds: float, metrics=None, fault: Exception | None = None) -> None:
    """One structured line per re-plan: planned (info), skipped (warning) or failed (error)."""
    fields = {**fields, "outcome": outcome["outcome"], "duration_ms": round(seconds * 1000, 1)}
    if metrics is not None:
        metrics.replan_seconds.labels(fields["trigger"], outcome["outcome"]).observe(seconds)
    where = f"store {fields['store_id']} on {fields['trigger']}"
    if outcome["outcome"] == "planned":
        log.info(
            "re-planned %s: %s orders in %.0f ms, objective %s, %s reassigned", where, fields["orders"],
            seconds * 1000, fields["objective"], fields["reassigned"], extra=fields,
        )
    else:
        fields["detail"] = outcome.get("detail")
        level = logging.WARNING if outcome["outcome"] == "skipped" else logging.ERROR
        log.log(level, "re-plan of %s %s: %s", where, outcome["outcome"], outcome.get("detail"), extra=fields, exc_info=fault)


def record_outcome(sessions: Callable[[], Session], store_id: str, outcome: dict[str, Any]) -> None:
    """Keep what the re-plan did on the store, where GET /v1/stores/{id} shows it."""
    try:
        with sessions() as db, db.begin():
            db.execute(update(StoreRow).where(StoreRow.id == store_id).values(last_redispatch=outcome))
    except Exception:
        log.exception("could not record the re-dispatch of store %s", store_id)
