"""Image input on a request, checked and counted before sending (the `check_images` step).

profile without vision  -> ConfigError naming the profiles that take images
data: URL               -> the bytes checked (type by magic bytes, size, fully decodable)
http(s) URL             -> scheme and address checked (private hosts only if allowed)
tokens                  -> the model's rule (`[vision]` in the price table); a URL or file id
                           counts at the rule's worst case; a model without a rule is
                           refused while a budget is set (its images cannot be priced)
"""

from __future__ import annotations

from typing import Any

from unyo._core._call import Call
from unyo._providers._catalog import vision_facts
from unyo._providers._image_files import MAX_REQUEST_IMAGE_BYTES, check_image, check_url
from unyo._providers._vision import content_parts, data_url_bytes, image_parts, image_tokens
from unyo._types._errors import BadInput, ConfigError, UnpricedModel
from unyo._types._messages import Message

# Content parts the provider bills by what it finds inside (a PDF's pages as text and images,
# audio by its length) that unyo cannot count before sending: refused under a budget.
UNCOUNTED_PARTS = {"responses": ("input_file", "input_audio"), "chat": ("file", "input_audio")}


def _uncounted(api: str, params: dict[str, Any]) -> list[str]:
    kinds = UNCOUNTED_PARTS.get(api, ())
    return [str(part["type"]) for part in content_parts(api, params) if part.get("type") in kinds]


def refuse_uncounted(call: Call) -> None:
    """A file or audio part cannot be priced before sending: refused while a budget is set."""
    found = _uncounted(call.api, call.params)
    budget = call.settings.budget
    if found and budget.limits and not budget.allow_unpriced:
        kinds = "/".join(sorted(set(found)))
        raise UnpricedModel(
            Message("unpriced.content_parts", model=call.info.model, count=len(found), kinds=kinds),
            model=call.info.model,
        )


def count_images(call: Call) -> None:
    refuse_uncounted(call)
    parts = list(image_parts(call.api, call.params))
    if not parts:
        return
    profile = call.settings.profile
    if not profile.vision:
        from unyo._providers._profiles import profiles_with

        raise ConfigError(
            Message(
                "images.no_vision", profile=profile.name, count=len(parts), profiles=", ".join(profiles_with("vision"))
            )
        )
    rule = call.model.facts.get("vision") or vision_facts(call.info.model)  # unyo.toml may give a model's rule
    budget = call.settings.budget
    if rule is None and budget.limits and not budget.allow_unpriced:
        raise UnpricedModel(Message("unpriced.image_tokens", model=call.info.model), model=call.info.model)
    if sum(len(part.url) for part in parts) > MAX_REQUEST_IMAGE_BYTES:
        raise BadInput(Message("images.payload_limit", mib=MAX_REQUEST_IMAGE_BYTES // 2**20))
    tokens = 0
    for number, part in enumerate(parts, 1):
        raw = data_url_bytes(part.url)
        size: tuple[int | None, int | None] = (None, None)  # not known before sending: the worst case
        if raw is not None:
            checked = check_image(raw, f"image {number} (data: URL)")
            size = (checked.width, checked.height)
        elif not part.url.startswith("file:"):
            check_url(part.url, call.settings.image_hosts)
        if rule is not None:
            tokens += image_tokens(rule, *size, part.detail)
    call.image_tokens = tokens
