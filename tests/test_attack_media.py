"""Hostile and careless use of images, audio and fine-tuning (issue 17), tried against the fault
server: nothing spends past a budget by naming its price-relevant arguments somewhere unyo does
not read, or by under-reporting what it will train on; each hole found is pinned here."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import unyo
from unyo.testing import FaultServer

from .conftest import fast_settings

MODEL = "gpt-4.1-mini"
TRAINING = Decimal("5.00")  # gpt-4.1-mini, USD per 1M trained tokens (data/fine_tuning.toml)


def _example(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"注文 {i} の配送状況を教えてください。" * 20},
            {"role": "assistant", "content": f"注文 {i} は本日発送しました。" * 20},
        ]
    }


def _upload(client: Any, folder: Path, n: int = 12) -> tuple[Any, int]:
    """(the uploaded dataset, its tokens per epoch as `unyo finetune validate` counts them)."""
    from unyo._jobs._finetune._dataset import validate

    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(_example(i), ensure_ascii=False) + "\n" for i in range(n)), encoding="utf-8")
    report = validate(path, MODEL, 1, client.settings)
    assert report.ok, report.findings
    return client.files.create(file=("t.jsonl", path.read_bytes()), purpose="fine-tune"), report.tokens


def _one_epoch() -> dict[str, Any]:
    return {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}}


def _reserved_covers_the_bill(fault: FaultServer, job: Any, client: Any) -> None:
    """What unyo held for the job is at least what the server will bill for it."""
    info = unyo.call_info(job)
    assert info is not None and info.worst_case_usd is not None
    billed = fault.fine_tuning.jobs[job.id]["_tokens"] * TRAINING / 1_000_000
    assert info.worst_case_usd >= billed, (info.worst_case_usd, billed)


@pytest.mark.parametrize(
    "trick",
    [
        {"extra_body": {"hyperparameters": {"n_epochs": 20}}},  # the SDK merges extra_body over the body
        {"extra_body": {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 20}}}}},
        {"hyperparameters": {"n_epochs": 20}},  # the deprecated field beside `method`
    ],
    ids=["extra_body-hyperparameters", "extra_body-method", "both-fields"],
)
def test_fine_tuning_epochs_hidden_from_the_price_are_counted(
    fault: FaultServer, tmp_path: Path, trick: dict[str, Any]
) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    upload, tokens = _upload(client, tmp_path)
    try:
        job = client.fine_tuning.jobs.create(
            model=MODEL, training_file=upload.id, method=_one_epoch(), unyo_training_tokens=tokens, **trick
        )
    except unyo.UnpricedModel:
        return  # refused: also safe
    _reserved_covers_the_bill(fault, job, client)


def test_fine_tuning_tokens_under_reported_are_not_believed(fault: FaultServer, tmp_path: Path) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    upload, tokens = _upload(client, tmp_path)
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=upload.id, method=_one_epoch(), unyo_training_tokens=tokens // 100
    )
    _reserved_covers_the_bill(fault, job, client)


# --- images: what unyo reads, and what it lets the provider fetch ----------------------------------


def _one_colour(size: tuple[int, int], mode: str = "1") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("side", [12_000, 20_000], ids=["144-megapixels", "400-megapixels"])
def test_a_png_decompression_bomb_is_refused_before_it_is_decoded(
    fault: FaultServer, tmp_path: Path, side: int
) -> None:
    import base64

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_one_colour((side, side)))  # tens of kB on disk, hundreds of MB decoded
    assert bomb.stat().st_size < 200_000
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    with pytest.raises(unyo.BadInput, match="megapixels") as err:
        unyo.ask("?", images=[bomb], client=client, model="gpt-4.1-mini")
    assert str(bomb) in str(err.value)
    url = "data:image/png;base64," + base64.b64encode(bomb.read_bytes()).decode()
    with pytest.raises(unyo.BadInput, match="megapixels"):  # the drop-in client checks data: URLs the same way
        client.responses.create(
            model="gpt-4.1-mini", input=[{"role": "user", "content": [{"type": "input_image", "image_url": url}]}]
        )
    assert fault.requests == []


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        "[::ffff:169.254.169.254]",
        "2130706433",
        "0x7f.1",
        "[::7f00:1]",
        "[::ffff:0:7f00:1]",
    ],
    ids=["nat64-metadata", "nat64-loopback", "6to4-loopback", "mapped-metadata", "decimal", "hex-short"]
    + ["compatible-loopback", "translated-loopback"],
)
def test_image_urls_that_carry_a_private_address_are_refused(fault: FaultServer, host: str) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))
    with pytest.raises(unyo.BadInput, match="private, loopback"):
        unyo.ask("?", images=[f"http://{host}/latest/meta-data"], client=client, model="gpt-4.1-mini")
    assert fault.requests == []


def test_an_image_urls_password_and_signature_stay_out_of_errors_and_the_audit_log(fault: FaultServer) -> None:
    import sqlite3

    url = "https://taro:hunter2secret@127.0.0.1/a.png?X-Amz-Signature=0123456789abcdef0123"
    client = unyo.OpenAI(settings=fast_settings(fault))
    with pytest.raises(unyo.BadInput) as err:
        client.responses.create(
            model="gpt-4.1-mini", input=[{"role": "user", "content": [{"type": "input_image", "image_url": url}]}]
        )
    assert "hunter2secret" not in str(err.value) and "0123456789abcdef0123" not in str(err.value)
    assert "https://127.0.0.1/a.png?..." in str(err.value)
    with sqlite3.connect(Path(os.environ["UNYO_HOME"]) / "unyo.db") as conn:
        rows = [str(r) for r in conn.execute("SELECT * FROM unyo_calls")]
    assert rows and not any("hunter2secret" in r or "0123456789abcdef0123" in r for r in rows)


# --- audio --------------------------------------------------------------------------------------------


def _wav(seconds: float, rate: int = 8000) -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return out.getvalue()


@pytest.mark.parametrize("response_format", ["json", "text", "srt", "vtt"])
def test_whisper_ledger_equals_the_bill_whatever_the_answers_format(fault: FaultServer, response_format: str) -> None:
    from unyo.testing._images import bill_total

    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", _wav(61.5)), response_format=response_format
    )  # 61.5 s: billed as 62 seconds
    info = client.last_call
    assert info is not None and info.cost_usd == bill_total(fault) == Decimal(62) * Decimal("0.006") / 60


def test_an_endless_or_oversized_audio_file_is_refused_without_reading_it_all(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    with pytest.raises(unyo.BadInput, match="25 MiB audio limit"):
        client.audio.transcriptions.create(model="whisper-1", file=Path("/dev/zero"))  # read() would never end
    with pytest.raises(unyo.BadInput, match="25 MiB audio limit"):
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", _wav(900, rate=16000)))  # 28.8 MB
    assert fault.requests == []


# --- image generation: an output that cannot be written is refused before it is paid for ----------


def test_image_output_that_cannot_be_written_is_refused_before_paying(fault: FaultServer, tmp_path: Path) -> None:
    from .conftest import FAKE_KEY, run_cli

    env = {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url}
    folder = tmp_path / "pictures"
    folder.mkdir()
    for output, why in [(tmp_path / "missing" / "cat.png", "does not exist"), (folder, "is a directory")]:
        made = run_cli("image", "a cat", "-o", str(output), "--model", "dall-e-2", "--size", "256x256", env=env)
        assert made.returncode == 2 and why in made.stderr and "nothing was sent" in made.stderr, made.stderr
    assert fault.media_bill == []
    client = unyo.OpenAI(settings=fast_settings(fault))
    with pytest.raises(unyo.BadInput, match="does not exist"):
        unyo.generate_image("a cat", output=tmp_path / "nowhere" / "x.png", model="dall-e-2", client=client)
    assert fault.media_bill == []


# --- content the provider bills by what is inside it: PDFs and audio in a chat / responses request --


UNCOUNTED = {
    "responses-file_url": ("responses", {"type": "input_file", "file_url": "https://example.com/500-pages.pdf"}),
    "responses-file_id": ("responses", {"type": "input_file", "file_id": "file-abc"}),
    "responses-file_data": (
        "responses",
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"},
    ),
    "chat-file": ("chat", {"type": "file", "file": {"file_id": "file-abc"}}),
    "chat-input_audio": ("chat", {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}),
}


@pytest.mark.parametrize("case", list(UNCOUNTED), ids=list(UNCOUNTED))
def test_files_and_audio_inside_a_request_are_refused_under_a_budget(fault: FaultServer, case: str) -> None:
    api, part = UNCOUNTED[case]
    text = {"type": "input_text" if api == "responses" else "text", "text": "要約して"}
    turn = [{"role": "user", "content": [text, part]}]

    def send(client: Any) -> Any:
        if api == "responses":
            return client.responses.create(model="gpt-4.1-mini", input=turn)
        return client.chat.completions.create(model="gpt-4.1-mini", messages=turn)

    with pytest.raises(unyo.UnpricedModel, match="cannot count them before sending"):
        send(unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5")))
    assert fault.requests == []
    send(unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5", allow_unpriced=True)))  # knowingly
    send(unyo.OpenAI(settings=fast_settings(fault)))  # no budget: sent and recorded
    assert len(fault.requests) == 2


def test_an_image_path_to_a_device_or_pipe_is_refused_without_reading_it(fault: FaultServer, tmp_path: Path) -> None:
    link = tmp_path / "photo.png"
    link.symlink_to("/dev/zero")  # stat says 0 bytes; reading it never ends
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # opening it would wait for a writer forever
    client = unyo.OpenAI(settings=fast_settings(fault))
    for path in (link, pipe):
        with pytest.raises(unyo.BadInput, match="not a regular file"):
            unyo.ask("?", images=[path], client=client, model="gpt-4.1-mini")
    assert fault.requests == []


def test_a_job_polled_with_the_sdks_own_calls_is_settled_when_it_ends(fault: FaultServer, tmp_path: Path) -> None:
    """A program that only uses the drop-in client never runs `unyo finetune list`: its job's
    cost must still reach the ledger, once, and its hold be released."""
    import asyncio
    import time

    from unyo._records._ledger import ledger_for

    fault.fine_tuning.seconds = 0.3
    settings = fast_settings(fault, budget_daily_usd="5")
    client = unyo.OpenAI(settings=settings)
    upload, tokens = _upload(client, tmp_path)
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=upload.id, method=_one_epoch(), unyo_training_tokens=tokens
    )
    assert [h["owner"] for h in ledger_for(settings).reservations()] == [f"fine-tune:{job.id}"]
    time.sleep(0.4)
    ended = client.fine_tuning.jobs.retrieve(job.id)
    assert ended.status == "succeeded"
    assert ledger_for(settings).reservations() == []
    day = settings.budget.period_keys()["day"]
    spent = ledger_for(settings).counters([day])[("all", day)][0]
    assert spent == fault.fine_tuning.billed_tokens * TRAINING / 1_000_000 > 0
    client.fine_tuning.jobs.list()  # seen again: settled once
    assert ledger_for(settings).counters([day])[("all", day)][0] == spent

    async def on_the_async_client() -> Any:
        aclient = unyo.AsyncOpenAI(settings=settings)
        created = await aclient.fine_tuning.jobs.create(
            model=MODEL, training_file=upload.id, method=_one_epoch(), unyo_training_tokens=tokens
        )
        await asyncio.sleep(0.4)
        return await aclient.fine_tuning.jobs.retrieve(created.id)

    assert asyncio.run(on_the_async_client()).status == "succeeded"
    assert ledger_for(settings).reservations() == []
    assert ledger_for(settings).counters([day])[("all", day)][0] == fault.fine_tuning.billed_tokens * TRAINING / 10**6


def test_the_async_client_counts_the_training_file_and_lifts_extra_body_too(fault: FaultServer, tmp_path: Path) -> None:
    import asyncio

    settings = fast_settings(fault, budget_daily_usd="5")
    upload, tokens = _upload(unyo.OpenAI(settings=settings), tmp_path)

    async def main() -> Any:
        client = unyo.AsyncOpenAI(settings=settings)
        return await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=upload.id,
            method=_one_epoch(),
            unyo_training_tokens=1,
            extra_body={"hyperparameters": {"n_epochs": 7}},
        )

    job = asyncio.run(main())
    _reserved_covers_the_bill(fault, job, None)


def test_finetune_validate_refuses_a_device_instead_of_reading_it_forever(tmp_path: Path) -> None:
    from .conftest import run_cli

    link = tmp_path / "train.jsonl"
    link.symlink_to("/dev/zero")
    checked = run_cli("finetune", "validate", str(link), timeout=60)
    assert checked.returncode == 2 and "not a regular file" in checked.stderr, checked.stderr


def test_images_and_files_in_a_tool_output_are_checked_and_counted(fault: FaultServer) -> None:
    """Responses `function_call_output.output` may be a list of text, image and file parts."""
    import base64

    def turn(part: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": "この写真を説明して"},
            {"type": "function_call", "call_id": "c1", "name": "camera", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [part]},
        ]

    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    private = {"type": "input_image", "image_url": "http://169.254.169.254/latest/meta-data", "detail": "high"}
    with pytest.raises(unyo.BadInput, match="private, loopback"):
        client.responses.create(model="gpt-4.1-mini", input=turn(private))
    with pytest.raises(unyo.UnpricedModel, match="input_file"):
        client.responses.create(model="gpt-4.1-mini", input=turn({"type": "input_file", "file_id": "file-abc"}))
    assert fault.requests == []
    url = "data:image/png;base64," + base64.b64encode(_one_colour((1024, 1024), "RGB")).decode()
    answer = client.responses.create(model="gpt-4.1-mini", input=turn({"type": "input_image", "image_url": url}))
    info = unyo.call_info(answer)
    assert info is not None and info.input_tokens is not None
    assert 1659 < info.input_tokens < 1659 + 200  # 1024 patches x 1.62 + the text; not the base64 read as text
    assert info.usage is not None and info.usage.input_tokens == fault.billed["input_tokens"]


def test_finetune_create_does_not_read_back_the_file_it_counted(fault: FaultServer, tmp_path: Path) -> None:
    """The provider may refuse to let a fine-tune file be downloaded; the CLI counted it already."""
    from .conftest import FAKE_KEY, run_cli

    fault.fine_tuning.seconds = 0.3
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(_example(i), ensure_ascii=False) + "\n" for i in range(12)), encoding="utf-8")
    env = {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_BUDGET_DAILY_USD": "5"}
    made = run_cli("finetune", "create", str(path), "--model", MODEL, "--epochs", "1", env=env)
    assert made.returncode == 0, made.stderr
    assert not [r for r in fault.requests if r["method"] == "GET" and r["path"].startswith("/files/")]


def test_a_training_file_the_provider_will_not_hand_back_is_bounded_by_its_size(
    fault: FaultServer, tmp_path: Path
) -> None:
    fault.fine_tuning.downloadable = False  # OpenAI: "Not allowed to download files of purpose: fine-tune"
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    upload, tokens = _upload(client, tmp_path)
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=upload.id, method=_one_epoch(), unyo_training_tokens=1
    )
    _reserved_covers_the_bill(fault, job, client)
    info = unyo.call_info(job)
    assert info is not None and info.input_tokens == upload.bytes  # every token is at least one byte


@pytest.mark.parametrize("url", ["http://127.0.0.1\\@example.com/a.png", "http://169.254.169.254 @example.com/"])
def test_image_urls_that_parsers_read_differently_are_refused(fault: FaultServer, url: str) -> None:
    """Python's urlsplit sees example.com; a WHATWG parser (the provider's fetcher) sees 127.0.0.1."""
    client = unyo.OpenAI(settings=fast_settings(fault))
    with pytest.raises(unyo.BadInput, match="backslash, a space or a control character"):
        unyo.ask("?", images=[url], client=client, model="gpt-4.1-mini")
    assert fault.requests == []


def test_a_dearer_base_model_in_extra_body_is_the_one_priced(fault: FaultServer, tmp_path: Path) -> None:
    from unyo._providers._fine_tuning import training_price

    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    upload, tokens = _upload(client, tmp_path)
    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=upload.id, method=_one_epoch(), extra_body={"model": "gpt-4.1-2025-04-14"}
    )
    assert job.model == "gpt-4.1-2025-04-14"  # what the server trains
    info = unyo.call_info(job)
    price = training_price("gpt-4.1-2025-04-14")
    assert info is not None and price is not None and price > TRAINING
    assert info.model == "gpt-4.1-2025-04-14" and info.worst_case_usd is not None
    assert info.worst_case_usd >= fault.fine_tuning.jobs[job.id]["_tokens"] * price / 1_000_000


def test_a_tuned_model_counts_images_as_its_base_does(fault: FaultServer) -> None:
    import base64

    tuned = "ft:gpt-4.1-mini-2025-04-14:acme::abc123"
    client = unyo.OpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
    url = "data:image/png;base64," + base64.b64encode(_one_colour((1024, 1024), "RGB")).decode()
    answer = client.responses.create(
        model=tuned, input=[{"role": "user", "content": [{"type": "input_image", "image_url": url}]}]
    )  # refused before as "no rule for how this model counts image tokens"
    info = unyo.call_info(answer)
    assert info is not None and info.input_tokens is not None and info.input_tokens > 1659  # 1024 patches x 1.62
    assert info.usage is not None and info.usage.input_tokens == fault.billed["input_tokens"] > 1659
