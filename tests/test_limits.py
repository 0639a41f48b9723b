"""Rate limits learned from the provider (issue 13): headers, the shared limiter, Redis across
processes, the batch runner at defaults, and the AIMD fallback when no headers come.

Behavioural bounds only: no timing assertions beyond generous ones."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo._core._limiter import SAFETY, LocalBackend, SharedLimiter, parse_headers, shared_limiter
from unyo._jobs._batch import BatchOptions, Runner, batch_settings
from unyo._jobs._batch._limiter import AdaptiveLimiter
from unyo._jobs._tasks import find
from unyo.testing import FaultServer

REDIS_URL = os.environ.get("UNYO_TEST_REDIS", "redis://127.0.0.1:6379/0")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(**values: Any) -> dict[str, str]:
    return {f"x-ratelimit-{k.replace('_', '-')}": str(v) for k, v in values.items()}


@pytest.fixture
def own_server() -> Any:
    """A server of the test's own: learned limits are per host:port, so none leak into others."""
    with FaultServer() as srv:
        yield srv


def unique_key() -> str:
    return f"sk-test-{uuid.uuid4().hex}"


# --- headers ------------------------------------------------------------------------------------


def test_headers_are_parsed_with_openai_durations() -> None:
    seen = parse_headers(
        headers(
            limit_requests=600,
            limit_tokens=200000,
            remaining_requests=599,
            remaining_tokens=198500,
            reset_requests="100ms",
            reset_tokens="6m0s",
        )
    )
    assert (seen.limit_requests, seen.limit_tokens, seen.remaining_requests, seen.remaining_tokens) == (
        600,
        200000,
        599,
        198500,
    )
    assert seen.reset_requests_s == pytest.approx(0.1) and seen.reset_tokens_s == pytest.approx(360)
    assert seen.any
    bad = parse_headers(
        {
            "x-ratelimit-limit-requests": "lots",
            "x-ratelimit-remaining-requests": "-3",
            "x-ratelimit-reset-requests": "soon",
        }
    )
    assert not bad.any and bad.remaining_requests is None and bad.reset_requests_s is None
    assert not parse_headers({}).any and not parse_headers(None).any
    assert parse_headers({"x-ratelimit-limit-requests": "0"}).limit_requests is None  # no usable announcement


def test_the_limiter_adopts_announced_limits_and_the_remaining_budget() -> None:
    clock = Clock()
    limiter = SharedLimiter(LocalBackend(clock))
    first = limiter.reserve(100)
    assert first.wait == 0.0 and not limiter.known  # nothing announced yet: nothing paced
    limiter.observe(
        headers(limit_requests=600, limit_tokens=60000, remaining_requests=599, remaining_tokens=59900), first
    )
    assert limiter.known and (limiter.rpm, limiter.tpm) == (600, 60000) and limiter.paces_tokens
    assert limiter.request_rate() == pytest.approx(600 * SAFETY / 60)
    # The bucket holds a second of the rate: about 9.8 requests, then one every 1/9.8 s.
    waits = [limiter.reserve(10).wait for _ in range(12)]
    assert waits[:9] == [0.0] * 9 and waits[-1] > waits[-2] > 0
    # Another client drained the account: `remaining` 0 lowers the local balance at once.
    clock.now += 10
    ticket = limiter.reserve(10)
    limiter.observe(
        headers(limit_requests=600, limit_tokens=60000, remaining_requests=0, remaining_tokens=50000), ticket
    )
    assert limiter.reserve(10).wait == pytest.approx(1 / (600 * SAFETY / 60), rel=0.05)


def test_tokens_bind_with_input_plus_output_cap() -> None:
    clock = Clock()
    limiter = SharedLimiter(LocalBackend(clock))
    ticket = limiter.reserve(limiter.charge(1000, 800), counted_input=1000)
    assert ticket.tokens == 1800
    limiter.observe(
        headers(limit_requests=10000, limit_tokens=120000, remaining_requests=9999, remaining_tokens=118200), ticket
    )
    per_s = 120000 * SAFETY / 60
    waits = [limiter.reserve(limiter.charge(1000, 800)).wait for _ in range(4)]
    assert waits[0] == 0.0 and waits[-1] == pytest.approx(
        waits[-2] + 1800 / per_s, rel=0.01
    )  # tokens, not requests, bind
    assert limiter.request_rate() == pytest.approx(per_s / 1800, rel=0.05)
    # The provider counts more input than we did: later charges are scaled up (at most 1.5x).
    limiter.observe(
        headers(limit_requests=10000, limit_tokens=120000), limiter.reserve(1800, counted_input=1000), used_input=1400
    )
    assert 1.0 < limiter.calibration <= 1.5 and limiter.charge(1000, 800) > 1800


def test_lowered_limits_are_adopted_at_once_and_silence_forgets_them() -> None:
    clock = Clock()
    limiter = SharedLimiter(LocalBackend(clock))
    limiter.observe(headers(limit_requests=6000, remaining_requests=6000))
    assert limiter.request_rate() == pytest.approx(100 * SAFETY)
    clock.now += 5
    limiter.observe(headers(limit_requests=600, remaining_requests=3))
    assert limiter.rpm == 600 and limiter.request_rate() == pytest.approx(10 * SAFETY)
    for _ in range(3):  # answers without headers: the provider stopped announcing
        limiter.observe({})
    assert not limiter.known and limiter.reserve(1).wait == 0.0


# --- the client ---------------------------------------------------------------------------------


def test_every_answer_teaches_the_shared_limiter_success_or_429(own_server: FaultServer) -> None:
    settings = unyo.load_settings(
        profile="openai",
        api_key=unique_key(),
        base_url=own_server.url,
        model="gpt-4o-mini",
        db_url="off",
        max_attempts=1,
    )
    client = unyo.OpenAI(settings=settings)
    client.responses.create(input="warm up", max_output_tokens=50)  # the SDK's first-call costs, before any limit
    own_server.provider(rpm=120, tpm=50_000, latency_s=0.0, burst_s=0.5)  # a burst of 1 request
    client.responses.create(input="hello", max_output_tokens=50)
    limiter = shared_limiter(settings, "gpt-4o-mini")
    assert (limiter.rpm, limiter.tpm) == (120, 50_000)
    assert limiter.answers == 2 and limiter.remaining_requests == 0
    # A second client with the same key, host and model shares the one limiter: it waits its turn.
    other = unyo.OpenAI(settings=settings)
    began = time.monotonic()
    other.responses.create(input="hello again", max_output_tokens=50)
    assert time.monotonic() - began >= 0.3 and own_server.rate_limited == 0
    assert other.last_call.limiter_wait_s > 0
    # A 429 teaches too: the server lowers its limit, the next answer is a 429 announcing it.
    own_server.set_limits(rpm=60, tpm=50_000)
    with own_server._lock:
        own_server._provider["level_r"] = 0.0  # type: ignore[index]
    with pytest.raises(unyo.RateLimited):
        unyo.OpenAI(settings=settings).responses.create(input="third", max_output_tokens=50)
    assert limiter.rpm == 60 and limiter.answers == 4


def test_tpm_pacing_counts_the_input_exactly(own_server: FaultServer) -> None:
    own_server.provider(rpm=6000, tpm=600_000, latency_s=0.0)
    settings = unyo.load_settings(
        profile="openai", api_key=unique_key(), base_url=own_server.url, model="gpt-4o-mini", db_url="off"
    )
    client = unyo.OpenAI(settings=settings)
    text = "請求書の再発行をお願いします。" * 40
    client.responses.create(input=text, max_output_tokens=100)  # learns: a TPM bucket that can bind
    deadline = time.monotonic() + 30
    while True:  # the tokenizer loads in the background; until then the (larger) bound is charged
        client.responses.create(input=text, max_output_tokens=100)
        info = client.last_call
        if info.input_tokens_bound is False or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert info.input_tokens_bound is False  # counted, not the ~3x byte bound
    charged = own_server.admissions[-1][1]
    assert shared_limiter(settings, "gpt-4o-mini").avg_tokens is not None
    assert info.input_tokens + 100 == pytest.approx(charged, abs=2)  # what the provider charged at admission


# --- the batch runner ---------------------------------------------------------------------------


def write_rows(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text"])
        writer.writerows([[t] for t in texts])
    return path


def batch_runner(server: FaultServer, tmp: Path, rows: int, **kw: Any) -> tuple[Runner, Any]:
    settings = unyo.load_settings(
        profile="openai", api_key=unique_key(), base_url=server.url, model="gpt-4o-mini", home=str(tmp / "home")
    )
    options = BatchOptions(
        task=find("triage"),
        input=write_rows(tmp / "in.csv", [f"inquiry {i}: 請求書の再発行" for i in range(rows)]),
        output=tmp / "out.csv",
        column="text",
        backoff_s=0.05,
        call_options={"tag": "t", "model": "gpt-4o-mini"},
        **kw,
    )
    return Runner(options, unyo.OpenAI(settings=batch_settings(settings, "t", None))), settings


def test_a_batch_at_defaults_adopts_the_announced_limits_with_few_429s(own_server: FaultServer, tmp_path: Path) -> None:
    own_server.provider(rpm=1200, tpm=2_000_000, latency_s=0.1, burst_s=1.0)
    runner, settings = batch_runner(own_server, tmp_path, 80)
    summary = runner.run()
    assert summary.ok == 80 and summary.failed == 0 and summary.pending == 0
    assert own_server.rate_limited <= 3  # the unknown first moments at most
    limiter = shared_limiter(settings, "gpt-4o-mini")
    assert (limiter.rpm, limiter.tpm) == (1200, 2_000_000)
    assert runner.limiter.following and runner.limiter.rpm == pytest.approx(1200 * SAFETY, rel=0.01)
    assert 2 < runner.peak_inflight <= 64  # grew past the old fixed 4, bounded by rate x latency
    span = own_server.admissions[-1][0] - own_server.admissions[0][0]
    assert span >= (80 - 20) / 20  # never faster than the server allows (20/s, a burst of 20)


def test_no_headers_falls_back_to_aimd_that_still_adapts(own_server: FaultServer, tmp_path: Path) -> None:
    own_server.provider(rpm=600, latency_s=0.02, headers=False, burst_s=1.0)  # bare 429s, nothing announced
    runner, settings = batch_runner(own_server, tmp_path, 80)
    summary = runner.run()
    assert summary.ok == 80 and summary.failed == 0
    assert not runner.limiter.following and not shared_limiter(settings, "gpt-4o-mini").known
    assert own_server.rate_limited > 0 and not runner.limiter.probing  # it found the limit by probing
    assert own_server.rate_limited < 80  # and no retry storm
    assert 60 <= runner.limiter.rpm <= 6000


def test_flags_are_upper_bounds(own_server: FaultServer, tmp_path: Path) -> None:
    own_server.provider(rpm=6000, latency_s=0.0)
    runner, _ = batch_runner(own_server, tmp_path, 12, rpm=300, concurrency=2)
    runner.run()
    times = [t for t, _ in own_server.admissions]
    assert times[-1] - times[0] >= 11 / 5 * 0.8  # --rpm 300: 5/s at most, though the server allows 100/s
    assert runner.peak_inflight <= 2


def test_aimd_slow_start_then_additive() -> None:
    limiter = AdaptiveLimiter()
    assert limiter.rpm == 60 and limiter.probing
    for _ in range(10):
        limiter.success()
    assert limiter.rpm > 300  # slow start: fast growth until the first 429
    limiter.limited(0.0)
    assert not limiter.probing and limiter.rpm < 360
    before = limiter.rpm
    limiter.success()
    assert 0 < limiter.rpm - before < 0.1 * before  # then additive, slow
    capped = AdaptiveLimiter(rpm=120)
    for _ in range(50):
        capped.success()
    assert capped.rpm == 120


def test_run_help_says_the_flags_are_optional_bounds() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "unyo", "run", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "at most N rows in flight" in result.stdout and "x-ratelimit" in result.stdout


# --- Redis: one bucket for every process --------------------------------------------------------

_WORKER = r"""
import json, sys, time
from unyo._core._limiter import RedisBackend, SharedLimiter
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
limiter = SharedLimiter(RedisBackend(url, key))
limiter.observe({"x-ratelimit-limit-requests": "600", "x-ratelimit-limit-tokens": "1000000"})
sent = []
print("ready", flush=True)
sys.stdin.readline()  # start together
for _ in range(n):
    ticket = limiter.reserve(100)
    time.sleep(ticket.wait)
    sent.append(time.time())
print(json.dumps(sent), flush=True)
"""


@pytest.fixture
def redis_key() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    key = f"unyo-test:{uuid.uuid4().hex}"
    yield key
    client.delete(key)


def test_the_redis_limiter_is_one_bucket_across_processes(redis_key: str) -> None:
    n = 20
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, REDIS_URL, redis_key, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    sends = sorted(t for p in procs for t in json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]))
    assert len(sends) == 2 * n
    rate, burst = 600 * SAFETY / 60, 600 * SAFETY / 60 * 1.0
    # Whatever window we look at, both processes together stayed within one bucket (+1 for timing).
    for i, start in enumerate(sends):
        for j in range(i, len(sends)):
            assert j - i + 1 <= burst + rate * (sends[j] - start) + 1.5
    assert sends[-1] - sends[0] >= (2 * n - burst - 2) / rate * 0.9  # 40 at ~10/s: not 20 each at 10/s


def test_clients_in_two_processes_share_the_limit_through_redis(
    own_server: FaultServer, redis_key: str, tmp_path: Path
) -> None:
    own_server.provider(rpm=300, tpm=None, latency_s=0.05, burst_s=1.0)  # 5/s, a burst of 5
    script = (
        "import sys, unyo\n"
        "c = unyo.OpenAI(api_key=sys.argv[1], base_url=sys.argv[2], model='gpt-4o-mini')\n"
        "c.responses.create(input='warm up', max_output_tokens=20)\n"  # learns the limits (and shares them)
        "print('ready', flush=True); sys.stdin.readline()\n"
        "for i in range(12): c.responses.create(input=f'row {i}', max_output_tokens=20)\n"
    )
    key = unique_key()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "UNYO_"))},
        "UNYO_REDIS_URL": REDIS_URL,
        "UNYO_HOME": str(tmp_path / "home"),
        "UNYO_DB_URL": "off",
        "UNYO_BACKOFF_BASE_S": "0.05",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, key, own_server.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    time.sleep(1.2)  # the server's bucket refills
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.communicate(timeout=60)
        assert p.returncode == 0
    assert len(own_server.admissions) == 26
    assert own_server.rate_limited <= 2  # alone, each process would have run at the full 5/s
    import hashlib

    import redis

    client = redis.Redis.from_url(REDIS_URL)
    names = client.keys(f"unyo:rl:*:{hashlib.sha256(key.encode()).hexdigest()[:16]}:*")
    assert names  # the buckets were in Redis, under the key's fingerprint (never the key)
    client.delete(*names)


def test_a_probing_wait_ends_when_the_provider_announces_its_limits() -> None:
    limiter = AdaptiveLimiter()  # probing at 60 RPM: the second slot is a second away
    assert limiter.acquire()
    took: list[float] = []

    def second() -> None:
        began = time.monotonic()
        limiter.acquire(threading.Event())
        took.append(time.monotonic() - began)

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.1)
    limiter.follow(None)  # still no announcement: the wait goes on
    time.sleep(0.1)
    assert not took
    limiter.follow(100.0)  # the first answer announced limits that sustain 100/s
    waiter.join(2)
    assert took and took[0] < 0.5  # not the 1 s the probing rate planned


def test_the_first_announcement_is_told_at_once_to_listeners(own_server: FaultServer) -> None:
    from unyo._core._limiter import on_first_announcement

    settings = unyo.load_settings(
        profile="openai", api_key=unique_key(), base_url=own_server.url, model="gpt-4o-mini", db_url="off"
    )
    heard: list[Any] = []
    stop = on_first_announcement(heard.append)
    try:
        limiter = shared_limiter(settings, "gpt-4o-mini")
        limiter.observe({})  # no headers: nothing learned, nobody told
        assert heard == []
        limiter.observe(headers(limit_requests=600, remaining_requests=599))
        limiter.observe(headers(limit_requests=600, remaining_requests=598))
        assert heard == [limiter] and limiter.ident[2] == "gpt-4o-mini"  # once, with what it is the limit of
    finally:
        stop()
    shared_limiter(settings, "gpt-4o").observe(headers(limit_requests=600))
    assert len(heard) == 1  # unregistered
