"""Simulated (hollow) nodes for scale tests and benchmarks, as KWOK and kubemark."""
