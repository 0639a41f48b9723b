"""Provider profiles: who hosts the model, where, and which env var holds the key.

A profile is data. Built-in ones are registered below; `unyo.toml` adds or amends profiles
under `[profiles.NAME]`; code can call `register_profile`. Nothing dispatches on a profile's
name, and nothing outside the provider layer asks whether a profile is local: a profile
declares its capabilities, and the rest of unyo asks it.

    http_client(...)     the transport: None for the SDK's own, or the in-process llama.cpp one
    counter(...)         the token counter for a model (the local model's own, else BPE)
    context_window(...)  the window a model really has here
    price(model)         what a model costs on this profile (the local model: nothing)
    free                 every call costs nothing
    in_process           the model runs in this process (exact counts are cheap)
    logprobs             token logprobs are known to work (classification confidence)
    classify_via         how label fields are chosen by default: "llm", or "embeddings" where the
                         model cannot classify (the bundled 135M model)
    server_state         the provider keeps responses / conversations (previous_response_id)
    batch_price          the Batch API's discount; None: no Batch API
    fine_tuning          the fine-tuning API is offered (`unyo finetune`)
    hosted_tools         the Responses API's web_search / file_search tools and vector stores are
                         served, at the prices in data/tools.toml (`unyo ask --web`, `kb add --via`)
    env_aliases          the provider's own variable names (OPENAI_BASE_URL, OPENAI_MODEL)
    vision               the models take image input (input_image / image_url parts)
    media                the Images and Audio APIs are served (generation, transcription, speech)
    endpoint(url), host(url)  how the endpoint is named in cache keys and audit records
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from unyo._types._errors import ConfigError
from unyo._types._messages import Message

Api = Literal["responses", "chat"]


@dataclass(frozen=True)
class Profile:
    name: str
    base_url: str | None
    key_env: str | None = None  # the *name* of the variable holding the key, never the key
    key_required: bool = True
    api: Api = "responses"  # the API shape `unyo ask` uses by default
    models: dict[str, str] = field(default_factory=dict)  # role -> model id
    rpm: float | None = None  # client-side limits, off unless set
    tpm: float | None = None
    local: bool = False  # served in-process by llama.cpp
    stream_usage: bool = True  # send stream_options.include_usage on chat streams
    chat_cap_param: str = "max_tokens"  # OpenAI's reasoning models need max_completion_tokens
    batch_price: str | None = None  # the Batch API's price as a fraction of list prices; None: no Batch API known
    logprobs: bool = False  # token logprobs are known to work here
    classify_via: str = "llm"  # "embeddings": label fields by the nearest label (see _quality._embed_classify)
    server_state: bool = True  # the provider keeps responses and conversations
    env_aliases: dict[str, str] = field(default_factory=dict)  # setting -> the provider's own env variable
    vision: bool = True  # image input parts are accepted
    media: bool = True  # the Images and Audio APIs are served
    fine_tuning: bool = False  # the endpoint offers OpenAI's /v1/fine_tuning/jobs
    hosted_tools: bool = False  # web_search / file_search / vector stores, priced by data/tools.toml

    @property
    def free(self) -> bool:
        return self.local

    @property
    def in_process(self) -> bool:
        """The model runs in this process (its tokenizer is at hand: counting is cheap)."""
        return self.local

    def price(self, model: Any) -> Any:
        """The Price of `model` (a catalogue ModelInfo) here; None when unknown."""
        if self.local:
            from unyo._types._prices import FREE

            return FREE
        return model.price

    def counter(self, model: Any, local_model: str | None, local_ctx: int) -> Any:
        """The tokenizer that counts input for `model` here (the local model's own, else BPE)."""
        if self.local:
            from unyo._providers._local._model import get_model

            return get_model(local_model, local_ctx)
        from unyo._providers._tokens import bpe_counter

        return bpe_counter(model.tokenizer if model.tokenizer and model.tokenizer != "local" else "o200k_base")

    def context_window(self, model: Any, local_model: str | None, local_ctx: int) -> int | None:
        if self.local:
            return int(self.counter(model, local_model, local_ctx).context_window)
        return model.context_window

    def http_client(self, local_model: str | None, local_ctx: int, is_async: bool) -> tuple[Any, str] | None:
        """(an httpx client, its base URL) for an in-process transport; None: the SDK's own."""
        if not self.local:
            return None
        import httpx2

        from unyo._providers._local._transport import LOCAL_BASE_URL, AsyncLocalTransport, LocalTransport

        transport = (AsyncLocalTransport if is_async else LocalTransport)(local_model, local_ctx)
        return (httpx2.AsyncClient if is_async else httpx2.Client)(transport=transport), LOCAL_BASE_URL

    def endpoint(self, base_url: str | None) -> str:
        return "local" if self.local else (base_url or "")

    def host(self, base_url: str | None) -> str:
        if self.local:
            return "local"
        from urllib.parse import urlsplit

        return urlsplit(base_url or "").hostname or "?"

    def resolve_model(self, name: str) -> tuple[str, str | None]:
        """(model id, role) for a role name or a literal model id."""
        if name in self.models:
            return self.models[name], name
        return name, None

    def amended(self, table: dict[str, Any]) -> Profile:
        known = {f for f in self.__dataclass_fields__ if f != "name"}
        unknown = set(table) - known
        if "api_key" in table or "key" in table:
            raise ConfigError(
                Message(
                    "config.key_in_toml", name=self.name, key_env=self.key_env or Message("config.key_env_variable")
                )
            )
        if unknown:
            raise ConfigError(
                Message("config.profile_unknown_keys", name=self.name, unknown=sorted(unknown), known=sorted(known))
            )
        models = {**self.models, **table.get("models", {})}
        return replace(self, **{**table, "models": models})


_REGISTRY: dict[str, Profile] = {}


def register_profile(profile: Profile) -> None:
    _REGISTRY[profile.name] = profile


def get_profile(name: str) -> Profile:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(Message("config.unknown_profile", name=name, known=", ".join(sorted(_REGISTRY)))) from None


def profile_names() -> list[str]:
    return sorted(_REGISTRY)


def profiles_with(capability: str) -> list[str]:
    """The registered profiles that declare `capability` (e.g. "vision"), for error messages."""
    return sorted(name for name, p in _REGISTRY.items() if getattr(p, capability, False))


def require(profile: Profile, capability: str, what: str) -> None:
    """Raise a ConfigError naming the profile when it lacks `capability` (e.g. "hosted_tools")."""
    if not getattr(profile, capability, False):
        others = ", ".join(profiles_with(capability)) or "-"
        raise ConfigError(
            Message("config.profile_lacks", what=what, capability=capability, name=profile.name, others=others)
        )


_LOCAL_ROLES = {"main": "smollm2-135m-instruct", "premium": "smollm2-135m-instruct", "bulk": "smollm2-135m-instruct"}

for _profile in (
    Profile(
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        models={"main": "gpt-5-mini", "premium": "gpt-5", "bulk": "gpt-5-nano"},
        chat_cap_param="max_completion_tokens",
        batch_price="0.5",  # OpenAI's Batch API: 50 % of the standard tier's list prices
        logprobs=True,  # compatible endpoints differ; llama.cpp needs logits_all, which slows every call
        env_aliases={"base_url": "OPENAI_BASE_URL", "model": "OPENAI_MODEL"},
        fine_tuning=True,
        hosted_tools=True,
    ),
    Profile(
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta/openai/",
        "GEMINI_API_KEY",
        api="chat",
        models={"main": "gemini-2.5-flash", "premium": "gemini-2.5-pro", "bulk": "gemini-2.5-flash-lite"},
    ),
    Profile(
        "xai",
        "https://api.x.ai/v1",
        "XAI_API_KEY",
        models={"main": "grok-4-fast", "premium": "grok-4", "bulk": "grok-3-mini"},
    ),
    Profile(
        "plamo",
        "https://api.platform.preferredai.jp/v1",
        "PLAMO_API_KEY",
        api="chat",
        models={"main": "plamo-2.0-prime", "premium": "plamo-2.0-prime", "bulk": "plamo-2.0-prime"},
    ),
    Profile("lmstudio", "http://127.0.0.1:1234/v1", "LMSTUDIO_API_KEY", key_required=False, api="chat"),
    Profile("llama-server", "http://127.0.0.1:8080/v1", "LLAMA_API_KEY", key_required=False, api="chat"),
    Profile("ollama", "http://127.0.0.1:11434/v1", "OLLAMA_API_KEY", key_required=False, api="chat"),
    Profile("vllm", "http://127.0.0.1:8000/v1", "VLLM_API_KEY", key_required=False, api="chat"),
    Profile(
        "local",
        None,
        None,
        key_required=False,
        models=dict(_LOCAL_ROLES),
        local=True,
        server_state=False,
        vision=False,
        media=False,
        classify_via="embeddings",
    ),
):
    register_profile(_profile)

BUILTIN = frozenset(_REGISTRY)  # profiles unyo ships; a project file may amend them but not redirect their keys
