"""The bundled local model, for real: no key, no network, llama.cpp in-process."""

from __future__ import annotations

import asyncio
import json

import pytest
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

import unyo
from unyo._core._stream import event_text

from .conftest import run_cli

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def local() -> unyo.OpenAI:
    return unyo.OpenAI(settings=unyo.load_settings(profile="local"))


def test_both_apis_with_exact_token_counts(local: unyo.OpenAI) -> None:
    r = local.responses.create(input="Say hello.", max_output_tokens=16, temperature=0)
    assert isinstance(r, Response) and r.output_text
    info = unyo.call_info(r)
    assert (
        info.input_tokens == r.usage.input_tokens and info.input_tokens_exact
    )  # counted with the model's own tokenizer
    c = local.chat.completions.create(
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "日本の首都は?"}],
        max_tokens=16,
        temperature=0,
    )
    # llama-cpp-python reports completion_tokens by re-tokenizing the generated text, which can
    # exceed the generated count by one for Japanese (16 generated, 17 reported, seen here).
    assert isinstance(c, ChatCompletion) and c.usage.completion_tokens <= 16 + 1
    assert unyo.call_info(c).input_tokens == c.usage.prompt_tokens


def test_output_cap_and_incomplete_status(local: unyo.OpenAI) -> None:
    r = local.responses.create(input="Write a long story about a cat.", max_output_tokens=5, temperature=0)
    assert r.usage.output_tokens <= 5 and r.status == "incomplete"
    assert unyo.call_info(r).status == "incomplete"


def test_deterministic_at_temperature_zero_and_stop(local: unyo.OpenAI) -> None:
    a = local.chat.completions.create(
        messages=[{"role": "user", "content": "Count: 1, 2, 3,"}], max_tokens=12, temperature=0
    )
    b = local.chat.completions.create(
        messages=[{"role": "user", "content": "Count: 1, 2, 3,"}], max_tokens=12, temperature=0
    )
    assert a.choices[0].message.content == b.choices[0].message.content
    s = local.chat.completions.create(
        messages=[{"role": "user", "content": "Count from 1 to 10 separated by commas."}],
        max_tokens=40,
        temperature=0,
        stop=["5"],
    )
    assert "5" not in (s.choices[0].message.content or "")


def test_json_schema_constrained_output(local: unyo.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "urgent": {"type": "boolean"}},
        "required": ["name", "urgent"],
        "additionalProperties": False,
    }
    r = local.responses.create(
        input="Customer Tanaka says the server is down.",
        text={"format": {"type": "json_schema", "name": "ticket", "schema": schema, "strict": True}},
        max_output_tokens=60,
        temperature=0,
    )
    data = json.loads(r.output_text)
    assert set(data) == {"name", "urgent"} and isinstance(data["urgent"], bool)
    c = local.chat.completions.create(
        messages=[{"role": "user", "content": "A ticket from Sato."}],
        response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": schema}},
        max_tokens=60,
        temperature=0,
    )
    assert set(json.loads(c.choices[0].message.content)) == {"name", "urgent"}


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_streaming_and_a_real_stop(local: unyo.OpenAI, api: str) -> None:
    full = unyo.stream("Count from 1 to 30.", client=local, api=api, max_output_tokens=30, temperature=0)
    result = full.until_done()
    assert result.status in ("completed", "incomplete") and result.usage.reported and result.usage.output_tokens <= 30
    cut = unyo.stream("Count from 1 to 100.", client=local, api=api, max_output_tokens=200, temperature=0, max_chars=10)
    result = cut.until_done()
    assert result.status == "cancelled" and result.stop_reason == "max_chars" and 10 <= len(result.text) < 40
    assert result.usage.output_tokens < 40  # generation stopped: nowhere near the 200 cap


def test_context_window_enforced_before_generating(local: unyo.OpenAI) -> None:
    with pytest.raises(unyo.ContextTooLong, match="not sent"):
        local.responses.create(input="word " * 5000, max_output_tokens=100)


def test_models_and_unserved_endpoints(local: unyo.OpenAI) -> None:
    assert [m.id for m in local.models.list()] == ["smollm2-135m-instruct", "multilingual-e5-small"]
    with pytest.raises(unyo.NotFound):
        local.embeddings.create(model="main", input="x")


def test_async_local(local: unyo.OpenAI) -> None:
    async def main() -> tuple[str, str]:
        client = unyo.AsyncOpenAI(settings=unyo.load_settings(profile="local"))
        r = await client.responses.create(input="Hi", max_output_tokens=8, temperature=0)
        s = await client.chat.completions.create(
            messages=[{"role": "user", "content": "Hi"}], max_tokens=8, temperature=0, stream=True
        )
        text = "".join([event_text(e) async for e in s])
        return r.output_text, text

    a, b = asyncio.run(main())
    assert a and b


def test_cli_on_the_local_model_with_no_configuration() -> None:
    result = run_cli("ask", "--json", "--max-output-tokens", "8", "--temperature", "0", "Hello")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["provider"] == "local" and record["model"] == "smollm2-135m-instruct" and record["text"]
    assert "using the bundled local model" in result.stderr


def test_local_embeddings_serve_the_bundled_e5_model(local: unyo.OpenAI) -> None:
    """The local profile answers `embeddings.create` offline with multilingual-e5-small, and the
    vectors mean something across Japanese and English."""
    import numpy as np

    texts = [
        "猫はとてもかわいい動物です",
        "Cats are very cute animals",
        "株価が大きく下落した",
        "passage: 請求書の金額",
    ]
    r = local.embeddings.create(model="multilingual-e5-small", input=texts)
    vectors = np.array([d.embedding for d in r.data], dtype=np.float32)
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05  # same meaning across languages
    assert r.usage.prompt_tokens > 0 and unyo.call_info(r).cost_usd == 0
    floats = local.embeddings.create(model="multilingual-e5-small", input=texts[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[0], atol=1e-5)  # base64 (the SDK's default) == float
    assert "multilingual-e5-small" in [m.id for m in local.models.list()]
    with pytest.raises(unyo.BadRequest):
        local.embeddings.create(model="multilingual-e5-small", input=[1, 2, 3])
