"""The Airflow request budget: a token bucket on an injected clock, paused by Retry-After."""

from orcai.airflow.rate import RequestRate, retry_after_s


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_burst_of_one_second_then_the_steady_rate():
    t = FakeTime()
    rate = RequestRate(10, clock=t.clock, sleep=t.sleep)
    for _ in range(10):
        rate.acquire()
    assert t.now == 100.0  # the burst is free
    for _ in range(20):
        rate.acquire()
    assert abs(t.now - 102.0) < 1e-6  # then 10 a second


def test_a_slow_rate_spaces_every_request():
    t = FakeTime()
    rate = RequestRate(0.5, clock=t.clock, sleep=t.sleep)
    rate.acquire()
    rate.acquire()
    assert abs(t.now - 102.0) < 1e-6


def test_retry_after_pauses_everyone_until_it_is_over():
    t = FakeTime()
    rate = RequestRate(10, clock=t.clock, sleep=t.sleep)
    rate.pause(30)
    rate.acquire()
    assert t.now >= 130.0 and rate.waited_s >= 30


def test_retry_after_header_values():
    assert retry_after_s({"Retry-After": "30"}) == 30.0
    assert retry_after_s({"retry-after": "1.5"}) == 1.5
    assert retry_after_s({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_s(None) is None and retry_after_s({}) is None
