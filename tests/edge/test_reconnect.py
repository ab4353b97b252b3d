from __future__ import annotations

import random

import pytest

from gridedge.edge.reconnect import Backoff


def test_delays_are_jittered_below_a_doubling_cap() -> None:
    backoff = Backoff(initial=0.2, maximum=30.0, rng=random.Random(7))
    caps = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]
    delays = [backoff.next_delay() for _ in caps]
    assert all(0.0 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len(set(delays)) == len(delays), "full jitter: no two gateways wait alike"


def test_reset_starts_again_from_the_initial_cap() -> None:
    backoff = Backoff(initial=0.2, maximum=30.0, rng=random.Random(1))
    for _ in range(20):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.2


def test_nonsense_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=5, maximum=1)
