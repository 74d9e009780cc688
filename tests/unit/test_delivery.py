"""The shared bounded-retry policy and `deliver` against a fake channel that fails as real ones do."""

from __future__ import annotations

import pytest

from queues.messages import OutboundMessage, Receipt, SendResult
from router.engine.delivery import RetryPolicy, deliver

MSG = OutboundMessage("e1", "m1", "d1", "telegram", "bot", "42", "hello", "2026-11-23T10:00:00.000Z")


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.5, 0.5),
        (2, 0.5, 1.0),
        (3, 0.5, 2.0),
        (7, 0.5, 30.0),
        (20, 0.5, 30.0),
        (1, 0.0, 0.4),
        (1, 0.999999, 0.6),
    ],
    ids=["first", "doubles", "again", "capped", "stays-capped", "jitter-low", "jitter-high"],
)
def test_backoff_doubles_up_to_the_cap_with_jitter(attempt, rand, expected):
    assert RetryPolicy().delay(attempt, rand) == pytest.approx(expected, rel=1e-5)


class FakeChannel:
    """A channel that answers from a script of results (or raises), recording each attempt."""

    def __init__(self, script: list[SendResult | Exception]) -> None:
        self.script = script
        self.sent: list[str] = []

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.sent.append(msg.message_id)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def on_receipt(self, receipt: Receipt) -> None:
        pass


async def _run(script, policy=None):
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    channel = FakeChannel(script)
    result, attempts = await deliver(channel, MSG, policy or RetryPolicy(jitter=0.0), sleep)
    return result, attempts, waits, channel


RETRY = SendResult(ok=False, error="429 Too Many Requests", retryable=True)


async def test_retryable_failures_are_retried_with_backoff_then_succeed():
    result, attempts, waits, channel = await _run([RETRY, RETRY, SendResult(ok=True, external_id="tg-7")])
    assert (result.ok, result.external_id, attempts) == (True, "tg-7", 3)
    assert waits == [0.5, 1.0]
    assert channel.sent == ["m1", "m1", "m1"]


async def test_a_final_failure_is_not_retried():
    blocked = SendResult(ok=False, error="403 Forbidden: bot was blocked by the user", retryable=False)
    result, attempts, waits, _ = await _run([blocked])
    assert (result.ok, result.error, attempts, waits) == (False, blocked.error, 1, [])


async def test_retries_are_bounded():
    result, attempts, waits, _ = await _run([RETRY] * 10, RetryPolicy(max_attempts=4, jitter=0.0))
    assert (result.ok, attempts) == (False, 4)
    assert result.error == RETRY.error
    assert len(waits) == 3


async def test_an_exception_in_the_channel_is_a_retryable_failure():
    result, attempts, _, _ = await _run([ConnectionResetError("peer reset"), SendResult(ok=True)])
    assert result.ok and attempts == 2
    result, attempts, _, _ = await _run([RuntimeError("boom")] * 3, RetryPolicy(max_attempts=3, jitter=0.0))
    assert not result.ok and attempts == 3 and "boom" in (result.error or "")
