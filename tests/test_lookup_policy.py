"""Tests for core.lookup_policy: the lock-out after failed verifications and the hourly cap."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from core.lookup_policy import LOCKOUT, MAX_FAILURES, MAX_LOOKUPS_PER_HOUR, WINDOW, Decision, lookup_decision

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Attempt:
    at: datetime
    verified: bool


def minutes_ago(minutes: float, verified: bool) -> Attempt:
    return Attempt(NOW - timedelta(minutes=minutes), verified)


def fail(minutes: float) -> Attempt:
    return minutes_ago(minutes, False)


def ok(minutes: float) -> Attempt:
    return minutes_ago(minutes, True)


def test_constants() -> None:
    assert MAX_FAILURES == 3
    assert LOCKOUT == timedelta(minutes=30)
    assert MAX_LOOKUPS_PER_HOUR == 10
    assert WINDOW == timedelta(hours=1)


def test_allowed_with_no_attempts() -> None:
    assert lookup_decision([], NOW) == Decision(True, None, timedelta(0))


def test_allowed_from_a_generator() -> None:
    assert lookup_decision((a for a in [fail(5), fail(4)]), NOW).allowed


@pytest.mark.parametrize("attempts", [[fail(10)], [fail(10), fail(5)], [ok(20), fail(10), fail(5)]])
def test_up_to_two_failures_allowed(attempts: list[Attempt]) -> None:
    assert lookup_decision(attempts, NOW) == Decision(True)


def test_three_failures_lock_for_thirty_minutes_from_the_third() -> None:
    attempts = [fail(10), fail(5), fail(1)]
    decision = lookup_decision(attempts, NOW)
    assert decision.allowed is False
    assert decision.reason == "locked"
    assert decision.retry_after == timedelta(minutes=29)  # 30 minutes from the third, 1 minute ago


def test_lock_right_after_the_third_failure() -> None:
    decision = lookup_decision([fail(2), fail(1), fail(0)], NOW)
    assert decision == Decision(False, "locked", LOCKOUT)


def test_order_of_attempts_does_not_matter() -> None:
    attempts = [fail(10), fail(5), fail(1), ok(40)]
    for _ in range(5):
        random.shuffle(attempts)
        assert lookup_decision(attempts, NOW) == Decision(False, "locked", timedelta(minutes=29))


def test_still_locked_one_second_before_the_end() -> None:
    third = NOW - LOCKOUT + timedelta(seconds=1)
    attempts = [Attempt(third - timedelta(minutes=2), False), Attempt(third - timedelta(minutes=1), False)]
    attempts.append(Attempt(third, False))
    decision = lookup_decision(attempts, NOW)
    assert decision == Decision(False, "locked", timedelta(seconds=1))


@pytest.mark.parametrize("extra", [timedelta(0), timedelta(seconds=1), timedelta(minutes=10)])
def test_allowed_again_after_thirty_minutes(extra: timedelta) -> None:
    attempts = [fail(10), fail(5), fail(1)]
    later = NOW - timedelta(minutes=1) + LOCKOUT + extra
    assert lookup_decision(attempts, later) == Decision(True)


def test_end_of_lock_out_resets_the_count() -> None:
    # locked at 50 minutes ago until 20 minutes ago; one more failure since is only the first of a new run
    attempts = [fail(52), fail(51), fail(50), fail(10)]
    assert lookup_decision(attempts, NOW) == Decision(True)
    attempts += [fail(5)]
    assert lookup_decision(attempts, NOW).allowed
    attempts += [fail(1)]
    assert lookup_decision(attempts, NOW) == Decision(False, "locked", timedelta(minutes=29))


def test_success_between_failures_resets_the_count() -> None:
    assert lookup_decision([fail(10), fail(8), ok(6), fail(4), fail(2)], NOW) == Decision(True)
    assert lookup_decision([fail(10), ok(8), fail(6), fail(4), ok(3), fail(2)], NOW) == Decision(True)


def test_success_after_three_failures_does_not_lift_the_lock() -> None:
    # a lookup during the lock-out is refused and not recorded; if one was, it must not unlock
    decision = lookup_decision([fail(10), fail(5), fail(3), ok(1)], NOW)
    assert decision == Decision(False, "locked", timedelta(minutes=27))


def test_ten_lookups_in_the_last_hour_rate_limited() -> None:
    attempts = [ok(55 - 5 * i) for i in range(MAX_LOOKUPS_PER_HOUR)]  # 55, 50, …, 10 minutes ago
    decision = lookup_decision(attempts, NOW)
    assert decision.allowed is False
    assert decision.reason == "rate_limited"
    assert decision.retry_after == timedelta(minutes=5)  # when the oldest is an hour old


def test_nine_lookups_in_the_last_hour_allowed() -> None:
    attempts = [ok(50 - 5 * i) for i in range(MAX_LOOKUPS_PER_HOUR - 1)]
    assert lookup_decision(attempts, NOW) == Decision(True)


def test_eleventh_allowed_once_the_oldest_is_over_an_hour_old() -> None:
    attempts = [ok(55 - 5 * i) for i in range(MAX_LOOKUPS_PER_HOUR)]
    retry = lookup_decision(attempts, NOW).retry_after
    assert retry == timedelta(minutes=5)
    assert lookup_decision(attempts, NOW + retry - timedelta(seconds=1)).reason == "rate_limited"
    assert lookup_decision(attempts, NOW + retry) == Decision(True)
    assert lookup_decision(attempts, NOW + retry + timedelta(seconds=1)) == Decision(True)


def test_rate_limit_counts_failures_too() -> None:
    # alternate failures and successes: never three failures in a row, but ten lookups
    attempts = [minutes_ago(50 - 5 * i, verified=i % 2 == 0) for i in range(MAX_LOOKUPS_PER_HOUR)]
    decision = lookup_decision(attempts, NOW)
    assert decision == Decision(False, "rate_limited", timedelta(minutes=10))


def test_rate_limit_uses_the_tenth_most_recent() -> None:
    # twelve in the hour: the limit lifts when the third oldest (tenth most recent) leaves the window
    attempts = [ok(58 - 4 * i) for i in range(12)]  # 58, 54, 50, …, 14 minutes ago
    decision = lookup_decision(attempts, NOW)
    assert decision == Decision(False, "rate_limited", timedelta(minutes=10))


def test_attempts_older_than_an_hour_ignored() -> None:
    old = [fail(61), fail(62), fail(63)] + [ok(70 + i) for i in range(20)]
    assert lookup_decision(old, NOW) == Decision(True)
    # two old failures and one recent are not three in a row within the hour
    assert lookup_decision([fail(65), fail(61), fail(1)], NOW) == Decision(True)


def test_attempt_exactly_an_hour_old_ignored() -> None:
    attempts = [ok(60)] + [ok(50 - 5 * i) for i in range(MAX_LOOKUPS_PER_HOUR - 1)]
    assert lookup_decision(attempts, NOW) == Decision(True)


def test_lock_takes_precedence_over_rate_limit() -> None:
    attempts = [ok(55 - 5 * i) for i in range(7)] + [fail(3), fail(2), fail(1)]
    assert len(attempts) == MAX_LOOKUPS_PER_HOUR
    decision = lookup_decision(attempts, NOW)
    assert decision == Decision(False, "locked", timedelta(minutes=29))
