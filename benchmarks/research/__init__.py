"""Research instruments: each answers one question about the solver, beside the benchmark harness.

- `best_known` (`python -m benchmarks best-known`): is there a cheaper plan of a published store
  instance than the recorded best-known one? (records only ever improve)
- `exchange_check` (`python -m benchmarks exchange-check`): can any two (or three) riders of a plan
  divide their orders so that they ride less? (exact, on the peers' model)
- `spread` (`python -m benchmarks spread`): how much does each solver's plan vary from run to run,
  and is a difference between two solvers larger than that spread?
- `same_plans` (`python -m benchmarks.research.same_plans record|check DIR`): do the same seeds
  still give the same plans after a change that must not change them?
"""
