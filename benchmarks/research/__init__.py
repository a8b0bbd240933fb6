"""Research instruments: tools that answer one question about the solver, kept beside the harness."""
