"""The order in which a rider delivers what it already carries, before any search starts.

Carried orders used to be delivered in the order the caller listed them, and with small
budgets (live re-plans get 0.1-0.2 s) no later step re-sequenced them: a rider would ride a
listed order last and miss its promise while another sequence kept every one. A rider
carries a handful of orders, so every sequence is tried (vectorised over permutations);
beyond `EXACT_UP_TO` a promise-first sequence improved by moving single drop-offs.
A rider riding to one of them now (`Rider.heading_to`) keeps that one first.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from functools import lru_cache

import numpy as np

from dispatch.instance import Instance
from dispatch.solver.routes import drop_time_costs

EXACT_UP_TO = 7  # 7! = 5 040 sequences: well under a millisecond vectorised


def _costs(inst: Instance, r: int, sequences: np.ndarray) -> np.ndarray:
    """Cost of delivering each row of `sequences` (order indices) from rider r's start."""
    tt = inst.travel_s_of_rider[r]
    timed = inst.speed_profile  # under a profile each leg from its departure
    opts = inst.problem.options
    base = inst.n_stores + inst.n_riders
    n_seq = sequences.shape[0]
    at = np.full(n_seq, inst.n_stores + r, dtype=np.int64)
    t = np.full(n_seq, int(inst.available_s[r]), dtype=np.int64)
    travel = np.zeros(n_seq, dtype=np.int64)
    timing = np.zeros(n_seq, dtype=np.int64)
    for col in range(sequences.shape[1]):
        k = sequences[:, col]
        leg = tt[at, base + k] if timed is None else inst.legs_s(r, at, base + k, t)
        travel += leg
        start = np.maximum(t + leg, inst.earliest_s[k])
        timing += drop_time_costs(inst, k, start)
        t = start + inst.service_s[k]
        at = base + k
    if inst.return_to_store:
        home = int(inst.home_store[r]) if inst.home_store[r] >= 0 else int(inst.order_store[sequences[0, 0]])
        travel += tt[at, home] if timed is None else inst.legs_s(r, at, home, t)
    return travel * float(opts.travel_cost_per_s) + timing.astype(float)


def _improve_by_moves(inst: Instance, r: int, seq: list[int], fixed: int = 0) -> list[int]:
    """Move single drop-offs (not the first `fixed`) to other positions while that lowers the
    cost (first improvement)."""
    best = float(_costs(inst, r, np.array([seq]))[0])
    improved = True
    while improved:
        improved = False
        for i in range(fixed, len(seq)):
            rest = seq[:i] + seq[i + 1 :]
            tries = np.array([rest[:j] + [seq[i]] + rest[j:] for j in range(fixed, len(seq)) if j != i])
            costs = _costs(inst, r, tries)
            j = int(np.argmin(costs))
            if costs[j] < best:
                best, seq, improved = float(costs[j]), list(tries[j]), True
                break
    return seq


@lru_cache(maxsize=EXACT_UP_TO + 1)
def _permutations(count: int) -> np.ndarray:
    """Every ordering of range(count), one per row (built once per count)."""
    return np.array(list(itertools.permutations(range(count))), dtype=np.int64)


def best_sequence(inst: Instance, r: int, carried: tuple[int, ...], first: int | None = None) -> tuple[int, ...]:
    """The cheapest delivery order (travel plus lateness) of the orders rider r carries;
    `first`, when given, stays first."""
    rest = tuple(k for k in carried if k != first)
    head = () if first is None else (first,)
    if len(rest) < 2:
        return head + rest
    if len(carried) <= EXACT_UP_TO:
        sequences = np.asarray(rest, dtype=np.int64)[_permutations(len(rest))]
        if first is not None:
            sequences = np.hstack([np.full((len(sequences), 1), first, dtype=np.int64), sequences])
        return tuple(int(k) for k in sequences[int(np.argmin(_costs(inst, r, sequences)))])
    by_promise = head + tuple(sorted(rest, key=lambda k: (int(inst.promised_s[k]), k)))
    return tuple(int(k) for k in _improve_by_moves(inst, r, list(by_promise), fixed=len(head)))


def heading_index(inst: Instance, r: int) -> int | None:
    """The index of the carried order rider r is riding to now, if it said so."""
    target = inst.problem.riders[r].heading_to
    if target is None:
        return None
    return next((k for k in inst.carried_of_rider[r] if inst.orders[k].id == target), None)


def sequence_carried(inst: Instance) -> Instance:
    """The instance with every rider's carried orders in their cheapest delivery order."""
    if not any(len(c) > 1 for c in inst.carried_of_rider):
        return inst
    return replace(
        inst,
        carried_of_rider=tuple(
            best_sequence(inst, r, c, heading_index(inst, r)) for r, c in enumerate(inst.carried_of_rider)
        ),
    )
