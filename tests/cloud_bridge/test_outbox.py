from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from gridedge.cloud_bridge import Outbox, OutboxError, OutMessage, event_message
from gridedge.cloud_bridge.outbox import Bound
from gridedge.edge.clock import FakeClock
from gridedge.edge.event import Severity
from tests.cloud_bridge.helpers import make_event, numbered
from tests.disks import fill


def numbers(outbox: Outbox, limit: int = 10_000) -> list[int]:
    return [json.loads(s.message.payload)["n"] for s in outbox.peek(limit)]


def test_peek_returns_the_oldest_first_and_keeps_them(outbox: Outbox) -> None:
    outbox.put_many([numbered(i) for i in range(5)])
    outbox.put(numbered(5))
    assert numbers(outbox, 3) == [0, 1, 2]
    assert numbers(outbox) == [0, 1, 2, 3, 4, 5]
    assert outbox.depth() == 6


def test_a_message_comes_back_as_it_went_in(outbox: Outbox) -> None:
    sent = OutMessage(topic="gridedge/v1/status/gw", payload=b"\x00\xff", severity=Severity.INFO, qos=2, retain=True)
    outbox.put(sent)
    [stored] = outbox.peek(1)
    assert stored.message == sent
    assert stored.attempts == 0


def test_revisions_of_one_incident_keep_their_order(outbox: Outbox) -> None:
    outbox.put_many([event_message(make_event(seq=s)) for s in range(1, 4)])
    outbox.put(event_message(make_event(seq=4)))
    seqs = [json.loads(s.message.payload)["seq"] for s in outbox.peek(10)]
    assert seqs == [1, 2, 3, 4]


def test_remove_forgets_only_the_given_ids(outbox: Outbox) -> None:
    outbox.put_many([numbered(i) for i in range(5)])
    ids = [s.id for s in outbox.peek(5)]
    outbox.remove([ids[1], ids[3]])
    outbox.remove([ids[1]])  # twice is harmless: a retry after a crash may do it
    assert numbers(outbox) == [0, 2, 4]
    assert outbox.depth() == 3


def test_ids_are_never_reused_so_order_survives_an_empty_outbox(outbox: Outbox) -> None:
    outbox.put_many([numbered(0), numbered(1)])
    first = outbox.peek(2)
    outbox.remove([s.id for s in first])
    outbox.put(numbered(2))
    [later] = outbox.peek(1)
    assert later.id > first[-1].id


def test_put_many_is_one_transaction(outbox: Outbox, tmp_path: Path) -> None:
    outbox.put_many([numbered(i) for i in range(100)])
    other = sqlite3.connect(tmp_path / "outbox.sqlite3")
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT count(*) FROM outbox").fetchone()[0] == 100
    finally:
        other.close()


def test_an_acknowledged_put_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "outbox.sqlite3"
    with Outbox(path) as box:
        box.put_many([numbered(i) for i in range(3)])
        box.record_attempt([box.peek(1)[0].id])
    with Outbox(path) as box:
        assert numbers(box) == [0, 1, 2]
        assert [s.attempts for s in box.peek(3)] == [1, 0, 0]


def test_oldest_age_says_how_far_behind_the_centre_is(tmp_path: Path) -> None:
    clock = FakeClock()
    with Outbox(tmp_path / "o.sqlite3", clock=clock) as box:
        assert box.oldest_age() == 0.0
        box.put(numbered(0))
        clock.advance(30)
        box.put(numbered(1))
        clock.advance(12)
        assert box.oldest_age() == pytest.approx(42)
        assert box.oldest_age(now=clock.now() + 8) == pytest.approx(50)
        box.remove([box.peek(1)[0].id])
        assert box.oldest_age() == pytest.approx(12)


def test_concurrent_puts_from_threads_lose_nothing_and_keep_each_threads_order(outbox: Outbox) -> None:
    threads, per_thread = 8, 100

    def producer(t: int) -> None:
        for i in range(per_thread):
            if i % 10 == 0:
                outbox.put_many([numbered(t * 1000 + i + k) for k in range(10)])

    workers = [threading.Thread(target=producer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    got = numbers(outbox)
    assert len(got) == threads * per_thread
    for t in range(threads):
        mine = [n for n in got if n // 1000 == t]
        assert mine == sorted(mine) == [t * 1000 + i for i in range(per_thread)]


def test_an_outbox_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(OutboxError, match="newer"):
        Outbox(path)


def tagged(n: int, severity: Severity) -> OutMessage:
    return OutMessage(topic="gridedge/v1/t", payload=json.dumps({"n": n}).encode(), severity=severity)


def test_when_full_the_oldest_info_goes_first_then_minor_then_major(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", bound=Bound(max_messages=6)) as box:
        box.put_many(
            [
                tagged(0, Severity.MAJOR),
                tagged(1, Severity.INFO),
                tagged(2, Severity.MINOR),
                tagged(3, Severity.CRITICAL),
                tagged(4, Severity.INFO),
                tagged(5, Severity.MINOR),
            ]
        )
        assert box.put(tagged(6, Severity.MAJOR)) == {Severity.INFO: 1}
        assert numbers(box) == [0, 2, 3, 4, 5, 6]
        assert box.put_many([tagged(7, Severity.CRITICAL), tagged(8, Severity.CRITICAL)]) == {
            Severity.INFO: 1,
            Severity.MINOR: 1,
        }
        assert numbers(box) == [0, 3, 5, 6, 7, 8]
        assert box.put_many([tagged(n, Severity.CRITICAL) for n in range(9, 12)]) == {
            Severity.MINOR: 1,
            Severity.MAJOR: 2,
        }
        assert numbers(box) == [3, 7, 8, 9, 10, 11]
        assert box.dropped() == {Severity.INFO: 2, Severity.MINOR: 2, Severity.MAJOR: 2}


def test_critical_messages_are_never_dropped_even_past_the_bound(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", bound=Bound(max_messages=3)) as box:
        box.put_many([tagged(n, Severity.CRITICAL) for n in range(5)])
        assert box.put(tagged(5, Severity.INFO)) == {Severity.INFO: 1}  # a newcomer gives way too
        assert numbers(box) == [0, 1, 2, 3, 4]
        assert box.depth() == 5
        assert Severity.CRITICAL not in box.dropped()


def test_the_byte_bound_counts_topics_and_payloads_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    one = len(b"gridedge/v1/t") + len(b'{"n": 0}')
    with Outbox(path, bound=Bound(max_bytes=3 * one)) as box:
        box.put_many([tagged(n, Severity.INFO) for n in range(3)])
        assert box.size() == 3 * one
        box.put(tagged(3, Severity.MINOR))
        assert numbers(box) == [1, 2, 3]
        box.remove([box.peek(1)[0].id])
        assert (box.depth(), box.size()) == (2, 2 * one)
    with Outbox(path, bound=Bound(max_bytes=3 * one)) as box:
        assert (box.depth(), box.size()) == (2, 2 * one)
        assert box.dropped() == {Severity.INFO: 1}


def test_a_refused_message_is_set_aside_with_its_reason(outbox: Outbox, tmp_path: Path) -> None:
    outbox.put_many([numbered(i) for i in range(3)])
    first = outbox.peek(1)[0]
    outbox.set_aside([first.id], "Not authorized")
    assert numbers(outbox) == [1, 2]
    assert outbox.depth() == 2
    assert outbox.set_aside_count() == 1
    other = sqlite3.connect(tmp_path / "outbox.sqlite3")
    try:
        assert other.execute("SELECT reason, payload FROM set_aside").fetchone() == ("Not authorized", b'{"n": 0}')
    finally:
        other.close()


def test_state_is_written_with_the_events_in_one_transaction_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        outbox.put_many([numbered(0)], {"i/smoke:SA-1": {"seq": 1}, "t/smoke|SA-1|smoke": {"holds": True}})
        outbox.put_many([numbered(1)], {"i/smoke:SA-1": {"seq": 2}, "t/smoke|SA-1|smoke": None})
        outbox.put_many([], {"s/abc": {"author": "li"}})  # state alone: no event
    with Outbox(path) as outbox:
        assert outbox.load_state() == {"i/smoke:SA-1": {"seq": 2}, "s/abc": {"author": "li"}}
        assert outbox.load_state("s/") == {"s/abc": {"author": "li"}}
        assert numbers(outbox) == [0, 1]


def test_a_failed_transaction_leaves_neither_events_nor_state(outbox: Outbox) -> None:
    with pytest.raises(TypeError):
        outbox.put_many([numbered(0)], {"i/x": {"not json": object()}})
    assert outbox.depth() == 0
    assert outbox.load_state() == {}


def test_an_outbox_of_schema_1_gains_the_state_table(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        outbox.put(numbered(0))
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE state")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with Outbox(path) as outbox:
        outbox.put_many([], {"k": 1})
        assert outbox.load_state() == {"k": 1}
        assert numbers(outbox) == [0]


def test_a_full_disk_refuses_a_put_whole_and_the_outbox_works_again_when_space_returns(small_disk: Path) -> None:
    with Outbox(small_disk / "outbox.sqlite3") as outbox:
        outbox.put_many([numbered(0)], {"k": 0})
        filler = fill(small_disk)
        big = [OutMessage(topic="t", payload=bytes(1024), severity=Severity.CRITICAL) for _ in range(20)]
        with pytest.raises(sqlite3.OperationalError, match="full"):
            outbox.put_many(big, {"k": 1})
        assert outbox.depth() == 1
        with pytest.raises(sqlite3.OperationalError):  # still full: refused again, not stuck in a transaction
            outbox.put_many(big, {"k": 1})
        filler.unlink()
        outbox.put_many([numbered(1)], {"k": 2})
        outbox.remove([outbox.peek(1)[0].id])
        assert numbers(outbox) == [1]
        assert outbox.load_state() == {"k": 2}
    with Outbox(small_disk / "outbox.sqlite3") as outbox:  # and so it is on disk
        assert numbers(outbox) == [1]
