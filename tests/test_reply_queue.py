from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.show.reply_queue import ReplyQueue, priority_of


def chat(text: str, user: str = "u", **kw: object) -> ChatMessage:
    return ChatMessage(user=user, message=text, **kw)  # type: ignore[arg-type]


def test_donations_first_then_streamer_then_chat_oldest_first() -> None:
    q = ReplyQueue(max_size=10, max_age_s=60)
    q.push(chat("c1"), 0)
    q.push(chat("s1", role=Role.STREAMER), 1)
    q.push(chat("d1", kind=Kind.DONATION, amount=1000), 2)
    q.push(chat("c2"), 3)
    q.push(chat("sub", kind=Kind.SUBSCRIPTION), 4)
    q.push(chat("d2", kind=Kind.DONATION, amount=50000), 5)
    # Each donation is its own turn, then the subscriptions on their own, then the chat.
    assert [m.message for m in q.take_batch(6, 10)] == ["d1"]
    assert [m.message for m in q.take_batch(6, 10)] == ["d2"]
    assert [m.message for m in q.take_batch(6, 10)] == ["sub"]
    assert [m.message for m in q.take_batch(6, 10)] == ["s1", "c1", "c2"]


def test_batch_size_and_remaining_order() -> None:
    q = ReplyQueue(max_size=10, max_age_s=60)
    for i in range(5):
        q.push(chat(f"c{i}"), i)
    assert [m.message for m in q.take_batch(5, 2)] == ["c0", "c1"]
    assert [m.message for m in q.take_batch(5, 2)] == ["c2", "c3"]
    assert len(q) == 1 and q.stats.taken == 4


def test_flood_keeps_queue_bounded_and_drops_oldest_chat_counted() -> None:
    q = ReplyQueue(max_size=5, max_age_s=600)
    q.push(chat("donation", kind=Kind.DONATION), 0)
    for i in range(1000):
        q.push(chat(f"c{i}"), i * 0.001)
    assert len(q) == 5
    assert q.stats.dropped_overflow == 996
    assert [m.message for m in q.pending()] == ["donation", "c996", "c997", "c998", "c999"]


def test_new_chat_never_pushes_out_a_donation() -> None:
    q = ReplyQueue(max_size=2, max_age_s=600)
    q.push(chat("d1", kind=Kind.DONATION), 0)
    q.push(chat("d2", kind=Kind.DONATION), 1)
    dropped = q.push(chat("c"), 2)
    assert dropped is not None and dropped.message == "c"
    assert [m.message for m in q.pending()] == ["d1", "d2"]
    dropped = q.push(chat("d3", kind=Kind.DONATION), 3)
    assert dropped is not None and dropped.message == "d1"


def test_old_chats_expire_but_donations_do_not() -> None:
    q = ReplyQueue(max_size=10, max_age_s=30)
    q.push(chat("old"), 0)
    q.push(chat("donation", kind=Kind.DONATION), 0)
    q.push(chat("fresh"), 25)
    assert [m.message for m in q.take_batch(40, 10)] == ["donation"]
    assert [m.message for m in q.take_batch(40, 10)] == ["fresh"]
    assert q.stats.dropped_expired == 1


def test_clear_counts() -> None:
    q = ReplyQueue(max_size=10, max_age_s=30)
    q.push(chat("a"), 0)
    q.push(chat("b"), 0)
    assert q.clear() == 2 and len(q) == 0 and q.stats.cleared == 2


def test_large_queue_operations_stay_fast() -> None:
    q = ReplyQueue(max_size=10_000, max_age_s=600)
    started = time.perf_counter()
    for i in range(50_000):
        q.push(chat(f"c{i}"), i * 0.001)
    per_push_ms = (time.perf_counter() - started) * 1000 / 50_000
    assert len(q) == 10_000
    assert per_push_ms < 0.5, per_push_ms  # O(1): microseconds, not the queue length


_ops = st.lists(
    st.tuples(st.sampled_from(["chat", "streamer", "donation", "sub", "take", "clear", "tick"]),
              st.floats(min_value=0, max_value=20)),
    max_size=120)


@settings(max_examples=200, deadline=None)
@given(_ops, st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=4))
def test_queue_accounting_and_order_properties(ops, max_size, batch) -> None:
    q = ReplyQueue(max_size=max_size, max_age_s=30)
    now = 0.0
    taken = 0
    for op, dt in ops:
        now += dt
        if op == "take":
            got = q.take_batch(now, batch)
            taken += len(got)
            prios = [(-priority_of(m), int(m.message_id)) for m in got]
            assert prios == sorted(prios)  # priority first, then arrival
        elif op == "clear":
            q.clear()
        elif op == "tick":
            q.expire(now)
        else:
            kw = {"chat": {}, "streamer": {"role": Role.STREAMER},
                  "donation": {"kind": Kind.DONATION}, "sub": {"kind": Kind.SUBSCRIPTION}}[op]
            q.push(chat(op, message_id=str(q.stats.accepted), **kw), now)
        assert len(q) <= max_size
        assert len(q) == len(q.pending())
        s = q.stats
        assert s.accepted == s.taken + len(q) + s.dropped_overflow + s.dropped_expired + s.cleared
    assert taken == q.stats.taken


def _gift(user: str, gift_id: str, *, count: int | None = None, receiver: str | None = None,
          **kw: object) -> ChatMessage:
    from aischoco.core.messages import SubscriptionInfo

    info = SubscriptionInfo(tier="티어1", gift_id=gift_id, gift_count=count, receiver=receiver)
    return ChatMessage(user=user, message="선물", kind=Kind.SUBSCRIPTION, subscription=info,
                       **kw)  # type: ignore[arg-type]


def test_a_gift_bomb_is_one_entry_whoever_comes_first() -> None:
    q = ReplyQueue(max_size=10, max_age_s=60)
    q.push(_gift("큰손", "g1", receiver="r0"), 0)  # a receiver's event before the gifter's
    q.push(_gift("큰손", "g1", count=50), 0.01)
    for i in range(1, 50):
        q.push(_gift("큰손", "g1", receiver=f"r{i}"), 0.02)
    q.push(chat("c1"), 0.03)
    assert len(q) == 2 and q.stats.folded == 50
    (gift,) = q.take_batch(1, 10)
    info = gift.subscription
    assert info is not None and info.gift_count == 50 and info.receivers_seen == 50
    assert info.receivers == ("r0", "r1", "r2", "r3", "r4") and gift.user == "큰손"
    # Receivers that straggle in after the thank-you started are absorbed, not a second turn.
    q.push(_gift("큰손", "g1", receiver="late"), 2)
    assert [m.message for m in q.take_batch(3, 10)] == ["c1"] and q.stats.folded == 51
    q.push(_gift("다른손", "g2", count=1), 4)  # another gift is its own
    assert len(q.take_batch(5, 10)) == 1


def test_a_burst_of_subscriptions_is_thanked_together_and_alone() -> None:
    q = ReplyQueue(max_size=500, max_age_s=60)
    q.push(chat("c1"), 0)
    for i in range(120):
        q.push(chat(f"sub{i}", kind=Kind.SUBSCRIPTION), 0.01)
    first = q.take_batch(1, 3)
    assert len(first) == 100 and all(m.kind is Kind.SUBSCRIPTION for m in first)
    assert len(q.take_batch(1, 3)) == 20
    assert [m.message for m in q.take_batch(1, 3)] == ["c1"]


def test_withdraw_takes_hidden_messages_out_wherever_they_wait() -> None:
    q = ReplyQueue(max_size=10, max_age_s=60)
    msgs = [chat("a"), chat("b"), chat("d", kind=Kind.DONATION, amount=1000), chat("c")]
    for i, m in enumerate(msgs):
        q.push(m, i)
    taken = q.withdraw(frozenset({msgs[1].message_id, msgs[2].message_id, "unknown"}))
    assert {m.message for m in taken} == {"b", "d"} and len(q) == 2
    assert q.stats.withdrawn == 2
    assert [m.message for m in q.take_batch(5, 10)] == ["a", "c"]
    gift = _gift("x", "g9", count=3)
    q.push(gift, 6)
    q.withdraw(frozenset({gift.message_id}))
    q.push(_gift("x", "g9", receiver="r"), 7)  # the gift is no longer pending: a new entry
    assert len(q) == 1
