"""Prometheus metrics, one registry per application (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class _Sources(Collector):
    """Figures read when /metrics is scraped, from the component that keeps them (the
    auction engine's counters): nothing is copied on the hot path."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, str, str, Callable[[], float | None]]] = []

    def collect(self) -> Iterator[Metric]:
        for name, text, kind, read in self.sources:
            value = read()
            if value is None:
                continue
            family = CounterMetricFamily(name, text) if kind == "counter" else GaugeMetricFamily(name, text)
            family.add_metric([], value)
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sunlit_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sunlit_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.in_flight = Gauge("sunlit_http_requests_in_flight", "Requests being served", registry=self.registry)
        self._sources = _Sources()
        self.registry.register(self._sources)

    def add(self, name: str, text: str, read: Callable[[], float | None], *, kind: str = "gauge") -> None:
        """Expose ``read()`` as ``name`` (a gauge, or a counter: ``name`` without ``_total``)."""
        assert kind in ("gauge", "counter")
        self._sources.sources.append((name, text, kind, read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
