"""Provider profiles: who hosts the model, where, and which env var holds the key.

A profile is data. Built-in ones are registered below; `unyo.toml` adds or amends profiles
under `[profiles.NAME]`; code can call `register_profile`. Nothing dispatches on a profile's
name: a profile with `local = true` gets the in-process transport, all others the openai SDK's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from unyo._types._errors import ConfigError

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
                f"[profiles.{self.name}] holds a key: keys never go in unyo.toml; "
                f"set {self.key_env or 'the key_env variable'} in the environment or .env instead"
            )
        if unknown:
            raise ConfigError(f"[profiles.{self.name}]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        models = {**self.models, **table.get("models", {})}
        return replace(self, **{**table, "models": models})


_REGISTRY: dict[str, Profile] = {}


def register_profile(profile: Profile) -> None:
    _REGISTRY[profile.name] = profile


def get_profile(name: str) -> Profile:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def profile_names() -> list[str]:
    return sorted(_REGISTRY)


_LOCAL_ROLES = {"main": "smollm2-135m-instruct", "premium": "smollm2-135m-instruct", "bulk": "smollm2-135m-instruct"}

for _profile in (
    Profile(
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        models={"main": "gpt-5-mini", "premium": "gpt-5", "bulk": "gpt-5-nano"},
        chat_cap_param="max_completion_tokens",
        batch_price="0.5",  # OpenAI's Batch API: 50 % of the standard tier's list prices
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
    Profile("local", None, None, key_required=False, models=dict(_LOCAL_ROLES), local=True),
):
    register_profile(_profile)

BUILTIN = frozenset(_REGISTRY)  # profiles unyo ships; a project file may amend them but not redirect their keys


def builtin_key_envs() -> frozenset[str]:
    return frozenset(_REGISTRY[name].key_env for name in BUILTIN if _REGISTRY[name].key_env)
