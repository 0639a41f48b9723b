"""Images in and out (issue 17 §1): image input checked and counted before sending on both APIs,
image generation priced, budgeted, audited and saved 0600; the ledger equals the server's bill."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import sqlite3
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import unyo
from unyo._providers._catalog import model_info
from unyo._providers._vision import image_tokens, patch_size, tile_size
from unyo.testing import FaultServer
from unyo.testing._images import bill_total

from .conftest import FAKE_KEY, fast_settings, run_cli

GPT4O = {"rule": "tile", "base": 85, "tile": 170}
MINI = {"rule": "patch", "multiplier": "1.62"}


def png(width: int = 640, height: int = 480, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 90)).save(out, kind)
    return out.getvalue()


def audit_rows() -> list[dict[str, Any]]:
    with sqlite3.connect(Path(os.environ["UNYO_HOME"]) / "unyo.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM unyo_calls ORDER BY ts")]


def ledger_total() -> Decimal:
    return sum((Decimal(str(r["cost"])) for r in audit_rows() if r["cost"] is not None), Decimal(0))


# --- the provider's counting rules --------------------------------------------------------


def test_tile_and_patch_rules_match_the_published_examples() -> None:
    assert image_tokens(GPT4O, 1024, 1024, "high") == 765  # 768x768: 4 tiles
    assert image_tokens(GPT4O, 2048, 4096, "high") == 1105  # 768x1536: 6 tiles
    assert image_tokens(GPT4O, 4096, 8192, "low") == 85
    assert image_tokens(GPT4O, None, None, "auto") == 85 + 170 * 8  # a URL: the most tiles there can be
    assert tile_size(4000, 3000) == (1024, 768)
    assert patch_size(1800, 2400) == (1056, 1408)  # 33 x 44 = 1452 patches, as the guide says
    assert image_tokens({"rule": "patch", "multiplier": "1"}, 1800, 2400, "high") == 1452
    assert image_tokens(MINI, 1024, 1024, "high") == 1659  # 1024 patches x 1.62
    assert image_tokens(MINI, None, None, "high") == 2489  # the 1536-patch cap x 1.62


# --- bad files ----------------------------------------------------------------------------


def client(fault: FaultServer, **settings: Any) -> unyo.OpenAI:
    return unyo.OpenAI(settings=fast_settings(fault, **settings))


def test_bad_images_are_refused_before_anything_is_sent(fault: FaultServer, tmp_path: Path) -> None:
    c = client(fault, budget_daily_usd="5")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(png(800, 600, "JPEG")[:3000])
    svg = tmp_path / "logo.png"
    svg.write_text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>')
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.write(png()[:64])
        f.truncate(50 * 1024 * 1024)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    cases = [(truncated, "truncated JPEG"), (svg, "SVG"), (huge, "50.0 MiB is over"), (text, "not a PNG, JPEG")]
    for path, why in cases:
        with pytest.raises(unyo.BadInput, match=why) as err:
            unyo.ask("what is this?", images=[path], client=c)
        assert str(path) in str(err.value)
    with pytest.raises(unyo.BadInput, match="no such image file"):
        unyo.ask("?", images=[tmp_path / "missing.png"], client=c)
    frames = [Image.new("RGB", (32, 32), color) for color in ("red", "blue")]
    animated = tmp_path / "wave.gif"
    frames[0].save(animated, save_all=True, append_images=frames[1:])
    with pytest.raises(unyo.BadInput, match="animated GIF"):
        unyo.ask("?", images=[animated], client=c)
    big = "data:image/png;base64," + "A" * (26 * 2**20)  # two of these: 52 MiB in one request
    parts = [{"type": "input_image", "image_url": big, "detail": "low"} for _ in range(2)]
    with pytest.raises(unyo.BadInput, match="50 MiB payload limit"):
        c.responses.create(model="gpt-4o", input=[{"role": "user", "content": parts}])
    assert fault.requests == []


def test_type_comes_from_the_bytes_not_the_name(fault: FaultServer, tmp_path: Path) -> None:
    renamed = tmp_path / "photo.jpg"
    renamed.write_bytes(png(300, 200))  # a PNG named .jpg
    answer = unyo.ask("what is this?", images=[renamed], client=client(fault), model="gpt-4.1-mini", api="chat")
    part = fault.requests[-1]["body"]["messages"][0]["content"][1]
    assert part["image_url"]["url"].startswith("data:image/png;base64,") and answer.text


def test_a_large_photo_is_scaled_down_to_what_the_model_uses(fault: FaultServer, tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(png(4000, 3000, "JPEG"))
    unyo.ask("describe", images=[big], client=client(fault), model="gpt-4o", image_detail="high")
    url = fault.requests[-1]["body"]["input"][0]["content"][1]["image_url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == (1024, 768) and sent.format == "JPEG"


# --- image input: counted before sending, ledger == the server's bill ----------------------


@pytest.mark.parametrize("api", ["responses", "chat"])
@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1-mini"])
def test_image_tokens_are_counted_before_sending_and_settled_as_billed(
    fault: FaultServer, tmp_path: Path, api: str, model: str
) -> None:
    photo = tmp_path / "receipt.png"
    photo.write_bytes(png(1200, 900))
    answer = unyo.ask(
        "この画像の内容は?", images=[photo], client=client(fault, budget_daily_usd="5"), model=model, api=api
    )
    info = answer.call
    assert info.usage is not None and info.usage.input_tokens == fault.billed["input_tokens"]
    rule = {"gpt-4o-mini": {"rule": "tile", "base": 2833, "tile": 5667}, "gpt-4.1-mini": MINI}[model]
    assert info.usage.input_tokens > image_tokens(rule, 1200, 900, "auto")  # the image dominates the bill
    assert info.input_tokens >= info.usage.input_tokens  # counted (a bound) before sending, never below
    price = model_info(model).price
    billed = (fault.billed["input_tokens"] * price.input + fault.billed["output_tokens"] * price.output) / 10**6
    assert info.cost_usd == billed == ledger_total() and info.worst_case_usd >= info.cost_usd


def test_image_urls_only_http_and_no_private_hosts_unless_allowed(fault: FaultServer) -> None:
    fault.generated["pic"] = png(512, 512)
    url = f"{fault.url}/_generated/pic.png"  # 127.0.0.1
    with pytest.raises(unyo.BadInput, match="private, loopback"):
        unyo.ask("?", images=[url], client=client(fault))
    with pytest.raises(unyo.BadInput, match="http:// or https://"):
        unyo.ask("?", images=["ftp://example.com/a.png"], client=client(fault))
    drop_in = client(fault)
    with pytest.raises(unyo.BadInput, match="private, loopback"):  # the drop-in client checks it too
        drop_in.responses.create(
            model="gpt-4o",
            input=[{"role": "user", "content": [{"type": "input_image", "image_url": url, "detail": "low"}]}],
        )
    assert fault.requests == []
    allowed = client(fault, image_hosts="127.0.0.1", budget_daily_usd="5")
    answer = unyo.ask("?", images=[url], client=allowed, model="gpt-4o", image_detail="high")
    # unknown size before sending: the worst case (8 tiles) was reserved; the server fetched it: 1 tile + base
    assert answer.call.input_tokens >= 85 + 170 * 8 and answer.call.usage.input_tokens == fault.billed["input_tokens"]
    assert 85 + 170 <= fault.billed["input_tokens"] < 85 + 170 * 8  # 512x512: one tile


def test_the_local_profile_refuses_images_naming_the_profiles_that_take_them(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    photo.write_bytes(png(64, 64))
    local = unyo.OpenAI(profile="local")
    with pytest.raises(unyo.ConfigError, match="takes no images") as err:
        unyo.ask("?", images=[photo], client=local)
    assert "openai" in str(err.value) and "local" not in str(err.value).split("vision:")[1]
    with pytest.raises(unyo.ConfigError, match="does not serve the Images or Audio API"):
        local.images.generate(prompt="a cat")


# --- generation -----------------------------------------------------------------------------


def test_generate_image_saves_0600_audits_the_hash_and_matches_the_bill(fault: FaultServer, tmp_path: Path) -> None:
    c = client(fault, budget_daily_usd="5")
    result = unyo.generate_image(
        "和風の猫", output=tmp_path / "cat.png", size="1024x1024", quality="medium", n=2, client=c
    )
    assert [p.name for p in result.paths] == ["cat.png", "cat-2.png"]
    for path in result.paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and Image.open(path).size == (1024, 1024)
    assert result.cost_usd == bill_total(fault) == ledger_total()
    assert result.call.worst_case_usd >= result.cost_usd > 0 and result.call.usage.output_tokens == 2 * 1056
    row = audit_rows()[-1]
    assert row["api"] == "images" and row["prompt"] == "和風の猫" and result.sha256[0] in row["output"]
    assert "base64" not in row["output"] and len(row["output"]) < 300  # the hash, not the image
    dalle = unyo.generate_image("a fox", output=tmp_path / "fox.png", model="dall-e-3", quality="hd", client=c)
    assert dalle.cost_usd == Decimal("0.080") and fault.requests[-1]["body"]["response_format"] == "b64_json"
    assert ledger_total() == bill_total(fault)


def test_agenerate_image_on_the_async_client(fault: FaultServer, tmp_path: Path) -> None:
    async def main() -> unyo.GeneratedImages:
        c = unyo.AsyncOpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
        return await unyo.agenerate_image("a bird", output=tmp_path / "bird.png", model="dall-e-2", client=c)

    result = asyncio.run(main())
    assert result.paths[0].read_bytes().startswith(b"\x89PNG") and result.cost_usd == Decimal("0.020")
    assert ledger_total() == bill_total(fault)


def test_generation_over_budget_is_refused_before_sending(fault: FaultServer) -> None:
    c = client(fault, max_request_usd="0.5")
    with pytest.raises(unyo.BudgetExceeded, match="4 images, high auto"):
        c.images.generate(prompt="posters", model="gpt-image-1", quality="high", n=4)  # 4 x 6240 tokens x $40/1M
    with pytest.raises(unyo.BadRequest, match="no image of quality"):
        c.images.generate(prompt="x", model="dall-e-3", size="256x256")
    assert not any(r["path"].startswith("/images") for r in fault.requests)
    assert [r["status"] for r in audit_rows()] == ["failed", "failed"]
    fine = c.images.generate(
        prompt="poster for tanaka@example.co.jp", model="gpt-image-1", quality="low", size="1024x1024"
    )
    assert unyo.call_info(fine).cost_usd == bill_total(fault)
    assert audit_rows()[-1]["prompt"] == "poster for [EMAIL]"  # masked, as every prompt is


def test_cli_image_and_ask_with_image_end_to_end(fault: FaultServer, tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": FAKE_KEY, "OPENAI_BASE_URL": fault.url, "UNYO_BUDGET_DAILY_USD": "2"}
    out = tmp_path / "out.png"
    made = run_cli(
        "image", "夕焼けの富士山", "-o", str(out), "--size", "1024x1024", "--quality", "medium", "--json", env=env
    )
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["paths"] == [str(out)] and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert Decimal(record["cost_usd"]) == bill_total(fault)
    asked = run_cli("ask", "この画像の内容は?", "--image", str(out), "--json", "-m", "gpt-4.1-mini", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["usage"]["input_tokens"] == fault.billed["input_tokens"] > 1659
    bad = tmp_path / "x.svg"
    bad.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    refused = run_cli("ask", "?", "--image", str(bad), "--no-stream", env=env)
    assert refused.returncode == 2 and "SVG" in refused.stderr
    local = run_cli("ask", "?", "--image", str(out), "--no-stream", env={"UNYO_PROFILE": "local"})
    assert local.returncode == 3 and "vision: " in local.stderr


def test_aask_with_images_and_the_async_drop_in_client(fault: FaultServer, tmp_path: Path) -> None:
    photo = tmp_path / "chart.webp"
    photo.write_bytes(png(700, 500, "WEBP"))

    async def main() -> tuple[Any, Any]:
        c = unyo.AsyncOpenAI(settings=fast_settings(fault, budget_daily_usd="5"))
        answer = await unyo.aask("グラフの傾向は?", images=[photo], client=c, model="gpt-4.1-mini")
        url = "data:image/webp;base64," + base64.b64encode(photo.read_bytes()).decode()
        content = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]
        raw = await c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
        return answer, raw

    answer, raw = asyncio.run(main())
    assert fault.requests[0]["body"]["input"][0]["content"][1]["image_url"].startswith("data:image/webp;base64,")
    info = unyo.call_info(raw)
    assert answer.call.usage.input_tokens + info.usage.input_tokens == fault.billed["input_tokens"]
    assert answer.call.cost_usd + info.cost_usd == ledger_total()
    assert info.input_tokens >= 85 and info.usage.input_tokens - 85 < 20  # low detail: 85 tokens + the text


def test_an_image_model_without_a_price_is_refused_under_a_budget(fault: FaultServer) -> None:
    with pytest.raises(unyo.UnpricedModel, match=r"images \(gpt-image-1.5\) cannot be priced"):
        client(fault, budget_daily_usd="5").images.generate(prompt="x", model="gpt-image-1.5")  # not gpt-image-1's
    assert fault.requests == [] and audit_rows()[-1]["error"] == "UnpricedModel"


def test_a_project_names_the_image_rule_of_its_own_model(fault: FaultServer, tmp_path: Path) -> None:
    settings = fast_settings(fault, budget_daily_usd="5")
    settings = settings.with_overrides(
        models={"my-vlm": {"input": "1.00", "output": "2.00", "vision": {"rule": "tile", "base": 50, "tile": 100}}}
    )
    photo = tmp_path / "p.png"
    photo.write_bytes(png(512, 512))
    answer = unyo.ask("?", images=[photo], client=unyo.OpenAI(settings=settings), model="my-vlm", api="chat")
    assert answer.call.input_tokens >= 150 and answer.call.budget == "reserved"
    with pytest.raises(unyo.UnpricedModel, match="does not know how this model counts image tokens"):
        unyo.ask("?", images=[photo], client=unyo.OpenAI(settings=settings), model="mystery-vlm")


def test_raw_response_and_with_options_are_guarded_too(fault: FaultServer) -> None:
    c = client(fault, budget_daily_usd="5")
    raw = c.with_options(timeout=5).images.with_raw_response.generate(prompt="a map", model="dall-e-2", n=2)
    assert raw.status_code == 200 and unyo.call_info(raw).cost_usd == Decimal("0.040") == bill_total(fault)
    assert "returned as a URL" in audit_rows()[-1]["output"]  # DALL·E's default: URLs, never fetched by unyo


def test_wire_shapes_match_the_official_spec(fault: FaultServer, tmp_path: Path) -> None:
    """What unyo sends (image parts) and what the fault server answers carry the spec's required fields."""
    from .test_audio import wav
    from .test_shapes import check

    photo = tmp_path / "p.png"
    photo.write_bytes(png(64, 64))
    c = client(fault)
    unyo.ask("?", images=[photo], client=c, api="responses")
    unyo.ask("?", images=[photo], client=c, api="chat")
    check(fault.requests[0]["body"]["input"][0]["content"][1], "InputImageContent")
    check(fault.requests[1]["body"]["messages"][0]["content"][1], "ChatCompletionRequestMessageContentPartImage")
    images = c.images.generate(prompt="x", model="gpt-image-1", quality="low").model_dump()
    check(images, "ImagesResponse")
    check(images["usage"], "ImageGenUsage")
    for model, usage in (
        ("whisper-1", "TranscriptTextUsageDuration"),
        ("gpt-4o-transcribe", "TranscriptTextUsageTokens"),
    ):
        text = c.audio.transcriptions.create(model=model, file=("a.wav", wav(1))).model_dump()
        check(text, "CreateTranscriptionResponseJson")
        check(text["usage"], usage)
