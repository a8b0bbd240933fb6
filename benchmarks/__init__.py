"""Benchmarks: latency, plan quality, peers (PyVRP, VROOM), Solomon VRPTW."""
