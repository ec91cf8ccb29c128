"""Benchmarks of the live auction engine: ``python -m bench.auction.run``."""
