"""The official `openai` SDK pointed at `unyo serve` (a real uvicorn process; upstream = the fault
server): create, parse, stream, the stream helpers and embeddings, for both APIs, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from tests.gateway_helpers import Served, gateway_env
from unyo.testing import FaultServer


class Ticket(BaseModel):
    category: str
    urgent: bool


@pytest.fixture(scope="module")
def gateway(server: FaultServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[openai.OpenAI, Served]]:
    """One `unyo serve` for the module (the SDK's calls do not depend on each other's records)."""
    tmp = tmp_path_factory.mktemp("conformance")
    env = gateway_env(server.url, f"sqlite:///{tmp / 'gw' / 'unyo.db'}", UNYO_HOME=str(tmp / "home"))
    served = Served(env, tmp / "serve.log")
    key = served.new_key(name="sdk")
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=key, max_retries=0)
    yield client, served
    client.close()
    served.stop()


@pytest.fixture
def sdk(gateway: tuple[openai.OpenAI, Served], fault: FaultServer) -> tuple[openai.OpenAI, Served]:
    return gateway  # `fault` resets the shared fault server's script for each test


def test_create_for_both_apis(sdk: tuple[openai.OpenAI, Served]) -> None:
    client, _ = sdk
    response = client.responses.create(model="gpt-4o-mini", input="hello")
    assert response.output_text.startswith("Hello from") and response.usage is not None
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    assert chat.choices[0].message.content and chat.usage is not None and chat.usage.completion_tokens > 0


def test_parse_for_both_apis(sdk: tuple[openai.OpenAI, Served]) -> None:
    client, _ = sdk
    parsed = client.responses.parse(model="gpt-4o-mini", input="classify", text_format=Ticket)
    assert isinstance(parsed.output_parsed, Ticket)
    chat = client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "classify"}], response_format=Ticket
    )
    assert isinstance(chat.choices[0].message.parsed, Ticket)


def test_stream_for_both_apis(sdk: tuple[openai.OpenAI, Served]) -> None:
    client, _ = sdk
    events = list(client.responses.create(model="gpt-4o-mini", input="hello", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.startswith("Hello from")
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0  # asked for: passed on
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Hello from")


def test_stream_helpers_for_both_apis(sdk: tuple[openai.OpenAI, Served]) -> None:
    client, _ = sdk
    with client.responses.stream(model="gpt-4o-mini", input="hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and final.output_text.startswith("Hello from")
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "classify"}], response_format=Ticket
    ) as chat_stream:
        for _ in chat_stream:
            pass
        completion = chat_stream.get_final_completion()
    assert isinstance(completion.choices[0].message.parsed, Ticket)


def test_embeddings_and_models(sdk: tuple[openai.OpenAI, Served]) -> None:
    client, _ = sdk
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["一つ", "二つ"])
    assert len(vectors.data) == 2 and vectors.usage.prompt_tokens > 0
    assert {m.id for m in client.models.list()} >= {"gpt-4o-mini"}


def test_errors_are_the_sdks_own_exceptions(sdk: tuple[openai.OpenAI, Served], fault: FaultServer) -> None:
    client, server = sdk
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="uk-wrong", max_retries=0).responses.create(
            model="gpt-4o-mini", input="x"
        )
    fault.script("quota")
    with pytest.raises(openai.RateLimitError) as quota:
        client.responses.create(model="gpt-4o-mini", input="x")
    assert quota.value.code == "insufficient_quota"
    tight = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.new_key(budget_request="0.000001"), max_retries=0)
    with pytest.raises(openai.RateLimitError) as budget:
        tight.responses.create(model="gpt-4o-mini", input="x")
    assert budget.value.code == "budget_exceeded"


def test_async_client(sdk: tuple[openai.OpenAI, Served]) -> None:
    client, _ = sdk

    async def main() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=str(client.base_url), api_key=client.api_key, max_retries=0) as aclient:
            response = await aclient.responses.create(model="gpt-4o-mini", input="hello")
            parts = []
            async with aclient.chat.completions.stream(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                async for event in stream:
                    if event.type == "content.delta":
                        parts.append(event.delta)
            return response.output_text, "".join(parts)

    one, two = asyncio.run(main())
    assert one.startswith("Hello from") and two.startswith("Hello from")
