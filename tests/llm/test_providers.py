"""The real provider path (inspect_ai's openai-api provider over HTTP) against a local stub
server on 127.0.0.1 that injects latency, 429, 500, timeouts, empty and malformed replies."""

import asyncio

import pytest
from pydantic import BaseModel

from a3.llm import CallConfig, LLMCallError, LLMClient, RetryPolicy
from a3.testing.stub_server import StubServer

FAST_RETRY = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05)


class Verdict(BaseModel):
    reason: str
    refused: bool


@pytest.fixture(scope="module")
def stub():
    with StubServer(latency=0.0) as server:
        yield server


@pytest.fixture
def client(tmp_path):
    client = LLMClient(tmp_path / "run", retry=FAST_RETRY, concurrency=8)
    yield client
    client.close()


def config(stub, **kw):
    return CallConfig(model="openai-api/stub/tiny", model_args={"base_url": stub.base_url, "api_key": "test-key"}, **kw)


def served(stub, match):
    return stub.stats()["served"][match]


async def test_plain_call_goes_over_http(stub, client):
    completion = await client.generate("hello there", config=config(stub, temperature=0.0, max_tokens=50))
    assert completion.text == "echo: hello there"
    assert completion.usage.input_tokens > 0 and completion.attempts == 1
    body = stub.stats()["last_bodies"][-1]
    assert body["max_tokens"] == 50 and body["temperature"] == 0.0


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429},
        {"status": 500},
        {"status": 503},
        {"content": ""},
        {"body": "this is { not json"},
        {"delay": 3},
    ],
    ids=["429", "500", "503", "empty", "malformed", "timeout"],
)
async def test_transient_fault_is_retried_once_then_succeeds(stub, client, fault):
    match = f"fault-{sorted(fault.items())}"
    stub.script(match, [fault, {"content": "recovered"}])
    completion = await client.generate(f"please answer {match}", config=config(stub, timeout=1.0))
    assert completion.text == "recovered"
    assert completion.attempts == 2
    assert served(stub, match) == 2  # exactly one request per attempt: the SDK does not retry behind our back


async def test_client_error_is_not_retried(stub, client):
    stub.script("bad-request", [{"status": 400}])
    with pytest.raises(LLMCallError, match="HTTP 400"):
        await client.generate("bad-request please", config=config(stub))
    assert served(stub, "bad-request") == 1


async def test_persistent_429_gives_up_after_max_attempts(stub, client):
    stub.script("always-limited", [{"status": 429}])
    with pytest.raises(LLMCallError, match="gave up after 4 attempts"):
        await client.generate("always-limited", config=config(stub))
    assert served(stub, "always-limited") == 4


async def test_malformed_structured_reply_is_repaired_over_http(stub, client):
    stub.script(
        "judge-me",
        [{"content": "Sure! The answer is refused."}, {"content": '{"reason": "declined", "refused": true}'}],
    )
    completion = await client.generate("judge-me", config=config(stub), schema=Verdict)
    assert completion.parsed == Verdict(reason="declined", refused=True)
    assert completion.repairs == 1
    # the provider was asked for schema-shaped JSON
    assert stub.stats()["last_bodies"][-1]["response_format"]["type"] == "json_schema"


async def test_concurrency_limit_holds_over_http(tmp_path):
    with StubServer(latency=0.05) as slow:
        client = LLMClient(tmp_path / "run", retry=FAST_RETRY, concurrency=5)
        await asyncio.gather(*(client.generate(f"q{i}", config=config(slow)) for i in range(30)))
        stats = slow.stats()
        assert stats["requests"] == 30
        assert stats["max_in_flight"] == 5
        client.close()


async def test_second_run_on_same_dir_makes_no_http_calls(stub, tmp_path):
    first = LLMClient(tmp_path / "run", retry=FAST_RETRY)
    await first.generate("cache me over http", config=config(stub))
    first.close()
    before = stub.stats()["requests"]
    second = LLMClient(tmp_path / "run", retry=FAST_RETRY)
    completion = await second.generate("cache me over http", config=config(stub))
    second.close()
    assert completion.cached and stub.stats()["requests"] == before


async def test_an_error_body_with_status_200_is_a_clear_retried_error(stub, client):
    stub.script(
        "error-body", [{"body": '{"error": {"message": "upstream overloaded", "code": 529}}'}, {"content": "recovered"}]
    )
    completion = await client.generate("error-body please", config=config(stub))
    assert completion.text == "recovered" and completion.attempts == 2
    stub.script("persistent-200-fault", [{"body": '{"error": {"message": "upstream overloaded", "code": 529}}'}])
    with pytest.raises(LLMCallError, match="no completion") as caught:
        await client.generate("persistent-200-fault please", config=config(stub))
    assert "NoneType" not in str(caught.value)


def test_jitter_never_takes_a_wait_past_the_cap():
    policy = RetryPolicy(initial_wait=1.0, max_wait=10.0, jitter=0.25)
    assert max(policy.wait(attempt, retry_after=30.0) for attempt in range(1, 6) for _ in range(200)) <= 10.0
    assert max(policy.wait(8) for _ in range(200)) <= 10.0
