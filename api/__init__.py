"""The dispatch service: a thin FastAPI layer over the core in `dispatch/` (no solver logic here)."""
