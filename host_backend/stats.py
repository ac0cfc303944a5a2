"""Counters (Xen tmem names) and a log2 latency histogram.

Counting is a plain attribute increment on the hot path; everything else (sums, ratios,
percentiles) is worked out only when someone asks for stats.
"""

from __future__ import annotations

COUNTERS = (
    "puts", "good_puts", "gets", "found_gets", "flushes", "found_flushes", "flush_objects",
    "evictions", "same_filled", "dedup_hits", "compress_poor",
)

# Reject reasons, one counter each (as zswap's reject_* debugfs files).
REJECT_REASONS = ("quota_pages", "quota_bytes", "host_cap", "bad_size")


class PoolStats:
    __slots__ = COUNTERS + ("rejects",)

    def __init__(self) -> None:
        for name in COUNTERS:
            setattr(self, name, 0)
        self.rejects = dict.fromkeys(REJECT_REASONS, 0)

    def as_dict(self) -> dict:
        out = {name: getattr(self, name) for name in COUNTERS}
        out["rejects"] = dict(self.rejects)
        return out

    def add(self, other: PoolStats) -> None:
        """Fold another pool's counters in (a destroyed pool's history stays with its guest)."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.rejects.items():
            self.rejects[reason] = self.rejects.get(reason, 0) + n


HIST_BUCKETS = 40  # bucket b holds latencies in [2**(b-1), 2**b) ns; the last one is open


class LatencyHistogram:
    """Per-op histograms of service time inside the backend (frame parsed to reply built)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    def bucket_list(self, op: str) -> list[int]:
        counts = self.counts.get(op)
        if counts is None:
            counts = self.counts[op] = [0] * HIST_BUCKETS
        return counts

    def as_dict(self) -> dict:
        out = {}
        for op, counts in self.counts.items():
            total = sum(counts)
            if not total:
                continue
            out[op] = {
                "count": total,
                "p50_us": _percentile(counts, total, 0.50),
                "p99_us": _percentile(counts, total, 0.99),
                # Upper bound of each non-empty bucket in µs -> count.
                "hist_us": {_upper_us(b): n for b, n in enumerate(counts) if n},
            }
        return out


def record(counts: list[int], ns: int) -> None:
    b = ns.bit_length()
    counts[b if b < HIST_BUCKETS else HIST_BUCKETS - 1] += 1


def _upper_us(bucket: int) -> str:
    return f"{(1 << bucket) / 1000:g}"


def _percentile(counts: list[int], total: int, q: float) -> float:
    """Upper bound of the bucket holding the q-quantile (a log2 histogram's honest answer)."""
    rank = q * total
    seen = 0
    for b, n in enumerate(counts):
        seen += n
        if seen >= rank:
            return (1 << b) / 1000
    return (1 << (HIST_BUCKETS - 1)) / 1000
