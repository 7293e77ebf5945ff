"""Benchmarks behind `crowdpulse bench ...`; each ends with one JSON line."""
