"""The shaping steps: what every request goes through before anything decides to send it.

    resolve model -> validate -> apply output cap -> count input (a byte bound) -> check context window
    rate_limit: reserve capacity in the configured RPM/TPM limiter and in the shared one that learns
                the provider's announced limits (the sender waits)

Each is a plain function over a `Call`, testable alone; `unyo._client._defaults` assembles them
with the cache and money steps into the default pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from unyo._core._call import Call, Step
from unyo._core._config import Settings
from unyo._core._limiter import limiter_for
from unyo._providers._catalog import ModelInfo, model_info
from unyo._providers._tokens import BYTE_BOUND, Counter, count_input
from unyo._types._errors import BadRequest, ContextTooLong
from unyo._types._messages import Message

CONTENT_APIS = ("responses", "chat")
# the model the provider uses when a media call names none (the Images API defaults to dall-e-2)
MEDIA_DEFAULT_MODELS = {
    "images": "dall-e-2",
    "transcriptions": "whisper-1",
    "translations": "whisper-1",
    "speech": "tts-1",
}
MEDIA_NEEDS = {"images": "prompt", "transcriptions": "file", "translations": "file", "speech": "input"}


def _refuse(call: Call, message: str) -> BadRequest:
    return BadRequest(message, call.error_context())


def resolve_model(call: Call) -> None:
    """Turn a role (`main`, `premium`, `bulk`, ...) into the profile's model id."""
    if call.api == "models":
        return
    name = call.params.get("model") or MEDIA_DEFAULT_MODELS.get(call.api) or call.settings.model
    model_id, role = call.settings.profile.resolve_model(str(name))
    call.params["model"] = model_id
    call.info.model, call.info.role = model_id, role
    call.model = model_info(model_id, call.settings.models)


def validate(call: Call) -> None:
    p = call.params
    if call.api == "responses" and not (
        p.get("input") or p.get("previous_response_id") or p.get("conversation") or p.get("prompt")
    ):
        raise _refuse(call, "responses.create needs `input` (or previous_response_id / conversation / prompt)")
    if call.api == "chat":
        messages = p.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) and m.get("role") for m in messages)
        ):
            raise _refuse(call, "chat.completions.create needs `messages`: a non-empty list of {role, content}")
    if call.api == "embeddings" and not p.get("input"):
        raise _refuse(call, "embeddings.create needs `input`")
    if call.api in MEDIA_NEEDS:
        if not p.get(MEDIA_NEEDS[call.api]):
            raise _refuse(call, f"{call.api} needs `{MEDIA_NEEDS[call.api]}`")
        if p.get("stream") or p.get("stream_format") == "sse" or p.get("partial_images"):
            raise _refuse(call, f"{call.api}: streamed answers are not guarded by unyo; call without stream")
    temperature = p.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 2):
        raise _refuse(call, f"temperature must be a number from 0 to 2, got {temperature!r}")


_CAP_KEYS = ("max_output_tokens", "max_completion_tokens", "max_tokens")


def _cap_key(call: Call) -> str:
    return "max_output_tokens" if call.api == "responses" else call.settings.profile.chat_cap_param


def apply_output_cap(call: Call) -> None:
    """Always send an output cap: the caller's, else UNYO_MAX_OUTPUT_TOKENS, never above the
    model's own maximum. Without it a single call's cost has no upper bound."""
    if call.api not in CONTENT_APIS:
        return
    extra = call.params.get("extra_body")
    if isinstance(extra, Mapping) and any(k in extra for k in _CAP_KEYS):  # the SDK lets extra_body override the body
        extra = dict(extra)
        for key in _CAP_KEYS:
            if key in extra:
                call.params[key] = extra.pop(key)
        call.params["extra_body"] = extra
    given = [
        call.params[k]
        for k in ("max_output_tokens", "max_completion_tokens", "max_tokens")
        if call.params.get(k) is not None
    ]
    cap = given[0] if given else call.settings.max_output_tokens
    if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
        raise _refuse(call, f"the output cap must be a positive integer, got {cap!r}")
    if call.model.max_output and cap > call.model.max_output:
        if given:
            raise _refuse(
                call, f"output cap {cap} exceeds {call.info.model}'s maximum output of {call.model.max_output} tokens"
            )
        cap = call.model.max_output
    for key in ("max_output_tokens", "max_completion_tokens", "max_tokens"):
        call.params.pop(key, None)
    call.params[_cap_key(call)] = cap
    call.info.max_output_tokens = cap
    if call.api == "chat" and call.stream and call.settings.profile.stream_usage:
        call.params.setdefault("stream_options", {"include_usage": True})
    if call.api == "responses":
        cap_tool_calls(call)


def cap_tool_calls(call: Call) -> None:
    """With hosted tools (web_search, file_search) on a profile that prices them, always send
    `max_tool_calls` (the caller's, else data/tools.toml's default): each call is billed, so
    without it the worst case has no bound."""
    from unyo._providers._hosted_tools import default_max_tool_calls, requested

    if not call.settings.profile.hosted_tools or not requested(call.params):
        return
    given = call.params.get("max_tool_calls")
    if given is None:
        call.params["max_tool_calls"] = default_max_tool_calls()
    elif not isinstance(given, int) or isinstance(given, bool) or given <= 0:
        raise _refuse(call, f"max_tool_calls must be a positive integer, got {given!r}")


def model_counter(settings: Settings, model: ModelInfo) -> Counter:
    """The tokenizer that counts input for `model` on this profile (the local model's own, else BPE)."""
    return settings.profile.counter(model, settings.local_model, settings.local_ctx)  # type: ignore[no-any-return]


def counter_for(call: Call) -> Counter:
    return model_counter(call.settings, call.model)


def count_input_tokens(call: Call) -> None:
    """An upper bound on the input (UTF-8 bytes) for BPE models, the exact count on the local
    model (its tokenizer is loaded anyway). `count_exactly` refines a bound near a limit."""
    if call.api == "models":
        return
    in_process = call.settings.profile.in_process  # its own tokenizer is loaded anyway: count exactly
    counter = counter_for(call) if in_process else BYTE_BOUND
    call.info.input_tokens = count_input(call.api, call.params, counter) + call.prior_tokens + call.image_tokens
    call.info.input_tokens_exact = in_process or call.model.exact_count
    call.info.input_tokens_bound = not in_process


def count_exactly(call: Call) -> bool:
    """Replace a byte bound by the tokenizer's count. False if the count was already exact."""
    if not call.info.input_tokens_bound or call.info.input_tokens is None:
        return False
    call.info.input_tokens = (
        count_input(call.api, call.params, counter_for(call)) + call.prior_tokens + call.image_tokens
    )
    call.info.input_tokens_bound = False
    return True


def check_context_window(call: Call) -> None:
    """Refuse, before sending, a request that cannot fit: input + output cap > context window."""
    s = call.settings
    window = s.profile.context_window(call.model, s.local_model, s.local_ctx)
    if not window or call.info.input_tokens is None:
        return
    needed = call.info.input_tokens + (call.info.max_output_tokens or 0)
    if needed > window and count_exactly(call):
        needed = call.info.input_tokens + (call.info.max_output_tokens or 0)
    if needed > window:
        ctx = call.error_context()
        raise ContextTooLong(
            Message(
                "context.too_long",
                input=call.info.input_tokens,
                cap=call.info.max_output_tokens or 0,
                needed=needed,
                model=call.info.model,
                window=window,
            ),
            ctx,
        )


_warming: dict[tuple[str, str], threading.Event] = {}
_warming_lock = threading.Lock()


def warm_counter(settings: Settings, model: ModelInfo) -> threading.Event:
    """Load the model's tokenizer in the background (once per process); set once it is ready.
    A batch calls it as it starts, so exact counts are ready by the time a TPM limit binds."""
    key = (settings.profile.name, str(model.tokenizer or ""))
    with _warming_lock:
        ready = _warming.get(key)
        if ready is None:
            ready = _warming[key] = threading.Event()

            def load() -> None:
                try:
                    model_counter(settings, model)
                finally:
                    ready.set()

            threading.Thread(target=load, daemon=True, name="unyo-tokenizer").start()
    return ready


def _exact_counter_ready(call: Call) -> bool:
    """Is the model's tokenizer loaded? If not, load it in the background (once) and say no."""
    return warm_counter(call.settings, call.model).is_set()


def check_images(call: Call) -> None:
    """Image input (`input_image` / `image_url` parts): refused on a profile without vision; each
    data: URL checked (type, size, decodable) and measured, each URL checked (http(s), no private
    address), and their tokens counted by the model's rule (a URL at its worst case)."""
    if call.api not in CONTENT_APIS:
        return
    from unyo._core._images import count_images

    count_images(call)


def rate_limit(call: Call) -> None:
    """Reserve capacity in the client-side limiters; the sender waits.

    Two limiters: the profile's configured rpm/tpm (fixed caps), and the shared one for
    (host, key, model) that learns the provider's announced limits from every answer. A request
    costs 1 request and input + output cap x choices tokens, as providers charge at admission.

    Where the TPM limit can bind (requests at their byte-bound charge would reach half of it
    before the RPM limit does) the input is counted exactly (`count_exactly`) instead of charged
    at its UTF-8 byte bound: for Japanese the bound is about 3x the tokens, so a TPM limit would
    be used at a third of its size. The tokenizer costs about a second to load, once per process:
    it loads in a background thread the first time it is wanted, and until it is ready calls
    charge the bound scaled by the tokens/bytes ratio the provider's reported usage showed (its
    recent maximum, + 10 %; the bound itself before any usage came back), so no call waits for it.
    Where RPM binds first the bound is charged as it is: exact counts would buy nothing. A provider
    that counts more than we do (reported usage above our count) raises `calibration`, up to 1.5x."""
    if call.info.cache_hit:
        return
    from unyo._core._limiter import shared_limiter

    profile = call.settings.profile
    choices = max(1, int(call.params.get("n") or 1)) if call.api == "chat" else 1
    output = (call.info.max_output_tokens or 0) * choices
    limiter = limiter_for(profile.name, profile.rpm, profile.tpm)
    wait = 0.0
    if limiter is not None:
        wait = limiter.reserve((call.info.input_tokens or 0) + output)
    if call.api != "models":
        shared = shared_limiter(call.settings, call.info.model)
        bound = call.info.input_tokens or 0
        charged = bound
        if call.info.input_tokens_bound and shared.tokens_could_bind(bound + output):
            if _exact_counter_ready(call):
                count_exactly(call)
                charged = call.info.input_tokens or 0
            else:  # until the tokenizer is ready: the bound scaled by what the provider reported
                charged = shared.estimate(bound) or bound
        exact = not call.info.input_tokens_bound
        ticket = shared.reserve(shared.charge(charged, output), charged if exact else None, None if exact else bound)
        call.limiter_ticket = ticket
        wait = max(wait, ticket.wait)
    call.info.limiter_wait_s = wait


SHAPING_STEPS: tuple[Step, ...] = (
    resolve_model,
    validate,
    check_images,
    apply_output_cap,
    count_input_tokens,
    check_context_window,
)  # the request as sent
