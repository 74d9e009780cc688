"""Prometheus metrics: counters and histograms fed after each commit, gauges read from the routing state."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


@dataclass
class Observations:
    """What one batch did, applied to the metrics only once it is committed."""

    messages_in: list[str] = field(default_factory=list)  # channel
    messages_out: list[tuple[str, str]] = field(default_factory=list)  # channel, author kind
    offers: list[str] = field(default_factory=list)  # line
    takes: list[tuple[str, float]] = field(default_factory=list)  # line, seconds since the offer
    queue_waits: list[tuple[str, float]] = field(default_factory=list)  # line, seconds waited
    failures: list[str] = field(default_factory=list)  # channel
    auto_replies: list[tuple[str, str]] = field(default_factory=list)  # line, kind
    ratings: list[tuple[str, str]] = field(default_factory=list)  # line, score (a first one or a changed one)


class Metrics:
    """The daemon's metrics in a registry of its own (several daemons may share one process in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.messages_in = Counter(
            "openlines_messages_in", "Customer messages stored", ["channel"], registry=r
        )
        self.messages_out = Counter(
            "openlines_messages_out",
            "Messages to customers stored for delivery",
            ["channel", "author"],
            registry=r,
        )
        self.offers = Counter("openlines_offers", "Offers made to operators", ["line"], registry=r)
        self.take_latency = Histogram(
            "openlines_offer_take_seconds",
            "From an offer to its take",
            ["line"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "openlines_queue_wait_seconds",
            "How long a dialog waited before an operator had it",
            ["line"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.failures = Counter(
            "openlines_outbound_failures", "Outbound messages that finally failed", ["channel"], registry=r
        )
        self.auto_replies = Counter(
            "openlines_auto_replies", "Auto-replies sent", ["line", "kind"], registry=r
        )
        self.ratings = Counter(
            "openlines_ratings",
            "Customers' ratings of the answer (a re-rating with another score counts again)",
            ["line", "score"],
            registry=r,
        )

    def watch(
        self,
        lines: Iterable[str],
        dialogs: Callable[[], Iterable[tuple[str, str]]],
        presence: Callable[[], Iterable[str]],
    ) -> None:
        """Expose the open dialogs by line and state (`dialogs`: each one's (line, state)) and the operators by
        presence (`presence`: each one's status), read when scraped."""
        self.registry.register(_StateCollector(list(lines), dialogs, presence))

    def apply(self, o: Observations) -> None:
        """Count a committed batch (one `labels()` lookup per label set: it takes a lock and builds a key)."""
        for counter, seen in (
            (self.messages_in, o.messages_in),
            (self.messages_out, o.messages_out),
            (self.offers, o.offers),
            (self.failures, o.failures),
            (self.auto_replies, o.auto_replies),
            (self.ratings, o.ratings),
        ):
            if seen:
                for labels, n in collections.Counter(seen).items():
                    self._child(counter, labels if isinstance(labels, tuple) else (labels,)).inc(n)
        for line, seconds in o.takes:
            self._child(self.take_latency, (line,)).observe(seconds)
        for line, seconds in o.queue_waits:
            self._child(self.queue_wait, (line,)).observe(seconds)

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        """The metric's child for a label set, found once (`labels()` takes a lock and builds a key each call)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(
        self,
        lines: list[str],
        dialogs: Callable[[], Iterable[tuple[str, str]]],
        presence: Callable[[], Iterable[str]],
    ) -> None:
        self._lines = lines
        self._dialogs = dialogs
        self._presence = presence

    def collect(self) -> Iterator[GaugeMetricFamily]:
        dialogs = GaugeMetricFamily(
            "openlines_dialogs", "Open dialogs by line and state", labels=["line", "state"]
        )
        counts: dict[tuple[str, str], int] = {
            (ln, st): 0 for ln in self._lines for st in ("queued", "offered", "assigned")
        }
        for key in self._dialogs():
            counts[key] = counts.get(key, 0) + 1
        for (line, state), n in sorted(counts.items()):
            dialogs.add_metric([line, state], n)
        yield dialogs
        online = GaugeMetricFamily("openlines_operators", "Operators by presence", labels=["presence"])
        statuses = list(self._presence())
        for status in ("online", "away", "offline"):
            online.add_metric([status], statuses.count(status))
        yield online

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []
