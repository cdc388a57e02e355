"""The KeyLedger (per-key counts of one worker, a fake clock) and LINGMA_KEY_LIMITS' parsing."""

from __future__ import annotations

import pytest

from lingma_flask.config import check_settings
from lingma_flask.keylimits import KeyLimits
from lingma_flask.keylimits import Limit
from lingma_flask.keylimits import parse_key_limits
from lingma_flask.settings_reader import SettingError
from lingma_flask.web.ledger import KeyLedger
from lingma_flask.web.ledger import OverLimit

MIDNIGHT = 1_800_057_600.0   # a UTC midnight (a multiple of 86 400 s)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock(MIDNIGHT + 3600 + 15)   # 01:00:15 UTC


@pytest.fixture
def ledger(clock):
    return KeyLedger(clock)


def refused(ledger: KeyLedger, name: str, limit: Limit) -> OverLimit:
    with pytest.raises(OverLimit) as info:
        ledger.admit(name, limit)
    return info.value


def test_requests_per_minute_count_the_fixed_utc_minute_and_reset(ledger, clock):
    limit = Limit(rpm=2)
    ledger.admit("alice", limit).finish()
    ledger.admit("alice", limit)            # still open: rpm counts admissions, not open chats
    over = refused(ledger, "alice", limit)
    assert (over.limit, over.value, over.retry_after) == ("rpm", 2, 45.0)
    refused(ledger, "alice", limit)          # a refusal is not counted
    assert ledger.usage("alice")["minute_requests"] == 2
    ledger.admit("bob", limit)               # another key has its own count
    clock.now += 44.5
    assert refused(ledger, "alice", limit).retry_after == pytest.approx(0.5)
    clock.now += 0.5                          # the next minute
    ledger.admit("alice", limit)
    assert ledger.usage("alice")["minute_requests"] == 1


def test_concurrent_chats_are_freed_when_a_chat_finishes(ledger):
    limit = Limit(concurrent=2)
    first, second = ledger.admit("alice", limit), ledger.admit("alice", limit)
    over = refused(ledger, "alice", limit)
    assert (over.limit, over.value, over.retry_after) == ("concurrent", 2, 1.0)
    first.finish()
    first.finish()   # once only
    third = ledger.admit("alice", limit)
    assert ledger.usage("alice")["open"] == 2
    refused(ledger, "alice", limit)
    second.finish()
    third.finish()
    assert ledger.usage("alice")["open"] == 0


def test_daily_tokens_count_since_utc_midnight_and_renew(ledger, clock):
    limit = Limit(daily_tokens=100)
    ledger.admit("alice", limit).finish(60)
    ledger.admit("alice", limit).finish(45)   # admitted under the budget; its tokens go over
    over = refused(ledger, "alice", limit)
    assert (over.limit, over.value) == ("daily_tokens", 100)
    assert over.retry_after == 86_400 - 3615   # until the next midnight UTC
    clock.now = MIDNIGHT + 86_400               # the next day
    ledger.admit("alice", limit).finish(10)
    assert ledger.usage("alice")["day_tokens"] == 10


def test_the_longest_wait_is_the_one_reported(ledger):
    limit = Limit(rpm=1, concurrent=1, daily_tokens=5)
    ledger.admit("alice", limit).finish(5)
    over = refused(ledger, "alice", limit)   # over rpm (45 s) and the daily budget (hours)
    assert over.limit == "daily_tokens"


def test_unlimited_keys_are_counted_but_never_refused(ledger):
    for _ in range(100):
        ledger.admit("bob", Limit()).finish(1000)
    assert ledger.usage("bob") == {"minute_requests": 100, "open": 0, "day_tokens": 100_000}


def test_the_seam_for_sharing_hands_out_deltas_and_adds_what_others_counted(ledger, clock):
    limit = Limit(rpm=5, daily_tokens=1000)
    ledger.admit("alice", limit).finish(30)
    ledger.admit("alice", limit).finish(20)
    ledger.admit("bob", Limit())
    assert ledger.take_deltas() == {"alice": (2, 50), "bob": (1, 0)}
    assert ledger.take_deltas() == {}
    ledger.set_shared("alice", minute_requests=3, day_tokens=900)   # the other workers and hosts
    assert ledger.usage("alice") == {"minute_requests": 5, "open": 0, "day_tokens": 950}
    assert refused(ledger, "alice", limit).limit == "rpm"
    clock.now += 45                               # a new minute: the shared minute is forgotten
    ledger.admit("alice", limit).finish(60)       # 950 + 60: over the budget after this one
    assert refused(ledger, "alice", limit).limit == "daily_tokens"
    assert ledger.take_deltas() == {"alice": (1, 60)}   # only this worker's own counts


def test_limits_parse_with_a_default_and_per_key_overrides():
    limits = parse_key_limits('{"*": {"rpm": 60, "concurrent": 4}, "ci": {"rpm": null, "daily_tokens": 5000,'
                              ' "weight": 3}}', {"ci", "alice"})
    assert limits.for_key("alice") == Limit(rpm=60, concurrent=4)
    assert limits.for_key("ci") == Limit(rpm=None, concurrent=4, daily_tokens=5000, weight=3)
    assert limits.for_key(None) == Limit() and not limits.for_key(None).limited
    assert (limits.weight("ci"), limits.weight("alice"), limits.weight(None)) == (3, 1, 1)
    assert parse_key_limits(None, set()) == KeyLimits() == parse_key_limits("  ", set())
    assert parse_key_limits({"alice": {"concurrent": 1}}, {"alice"}).for_key("alice").concurrent == 1


@pytest.mark.parametrize("value, words", [
    ("[1]", 'must be a JSON object like {"*"'),
    ("{nope", "must be a JSON object"),
    ('{"*": 5}', "'*' must be an object"),
    ('{"*": {"rpm": 0}}', "'*': 'rpm' must be a whole number of at least 1 (or null: unlimited), not 0"),
    ('{"*": {"rpm": 1.5}}', "'rpm' must be a whole number"),
    ('{"*": {"concurrent": true}}', "'concurrent' must be a whole number"),
    ('{"*": {"weight": 0}}', "'weight' must be a whole number from 1 to 100, not 0"),
    ('{"*": {"weight": null}}', "'weight' must be a whole number from 1 to 100"),
    ('{"*": {"rpn": 5}}', "unknown field 'rpn'; the fields are rpm, concurrent, daily_tokens, weight"),
    ('{"bob": {"rpm": 5}}', "names 'bob', which is no configured key"),
])
def test_bad_limits_stop_the_start_naming_the_setting(value, words):
    with pytest.raises(SettingError, match="^LINGMA_KEY_LIMITS") as info:
        check_settings({"API_KEYS": "alice:k1", "KEY_LIMITS": value})
    assert words in str(info.value) and info.value.name == "LINGMA_KEY_LIMITS"
