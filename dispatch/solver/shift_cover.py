"""The shift-covering programme: the fewest rider-slots whose shifts cover each slot's need.

Slots are equal periods (30 minutes by default). A shift starts at the beginning of a slot and
lasts a whole number of slots between `min_slots` and `max_slots`; `x[start, length]` riders
take it. Minimise the slots worked subject to every slot having at least its need on shift.
The adapter of OR-Tools' CP-SAT solver (with the routing adapters, the only ortools imports).
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from dispatch.errors import DispatchError


@dataclass(frozen=True)
class ShiftCover:
    """The chosen shifts as (start slot, length in slots, riders) and what they cover."""

    shifts: tuple[tuple[int, int, int], ...]
    scheduled: tuple[int, ...]  # riders on shift per slot
    rider_slots: int  # the objective: slots worked, summed over riders
    optimal: bool  # proven optimal (else the best found within the time limit)


def cover_shifts(
    needs: list[int], min_slots: int, max_slots: int, time_limit_s: float = 10.0, workers: int = 1
) -> ShiftCover:
    """Shifts of `min_slots`..`max_slots` slots covering `needs[t]` riders in each slot t, with
    the fewest rider-slots (CP-SAT, within `time_limit_s`)."""
    if not 1 <= min_slots <= max_slots:
        raise ValueError(f"shift lengths must satisfy 1 <= min ({min_slots}) <= max ({max_slots})")
    if any(n < 0 for n in needs):
        raise ValueError("needs must be non-negative")
    n_slots = len(needs)
    if n_slots == 0 or max(needs) == 0:
        return ShiftCover((), tuple([0] * n_slots), 0, True)
    model = cp_model.CpModel()
    peak = max(needs)
    # A shift may run past the last slot with a need (it costs its whole length); shifts that
    # start later than the last slot with a need cover nothing and are left out.
    last = max(t for t, n in enumerate(needs) if n > 0)
    first = min(t for t, n in enumerate(needs) if n > 0)
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for start in range(max(0, first - max_slots + 1), last + 1):
        for length in range(min_slots, max_slots + 1):
            if start + length <= first:
                continue
            x[start, length] = model.NewIntVar(0, peak, f"x_{start}_{length}")
    covering: list[list[cp_model.IntVar]] = [[] for _ in range(n_slots)]
    for (start, length), var in x.items():
        for t in range(start, min(n_slots, start + length)):
            covering[t].append(var)
    for t, need in enumerate(needs):
        if need > 0:
            model.Add(sum(covering[t]) >= need)
    model.Minimize(sum(length * var for (start, length), var in x.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_search_workers = max(1, int(workers))
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise DispatchError(f"the shift programme found no cover within {time_limit_s} s ({solver.StatusName(status)})")
    shifts = tuple(
        (start, length, int(solver.Value(var))) for (start, length), var in sorted(x.items()) if solver.Value(var) > 0
    )
    scheduled = [0] * n_slots
    for start, length, riders in shifts:
        for t in range(start, min(n_slots, start + length)):
            scheduled[t] += riders
    return ShiftCover(
        shifts=shifts,
        scheduled=tuple(scheduled),
        rider_slots=sum(length * riders for _, length, riders in shifts),
        optimal=status == cp_model.OPTIMAL,
    )
