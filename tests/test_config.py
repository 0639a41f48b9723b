"""Configuration precedence, key sources, profiles, and the local fallback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import unyo
from unyo import load_settings

KEY = "sk-test-config0123456789abcdef"


def test_precedence_explicit_env_dotenv_toml_default(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "unyo.toml").write_text(
        '[unyo]\nprofile = "openai"\nmax_attempts = 7\ndeadline_s = 9\nmax_output_tokens = 300\n'
    )
    (clean_env / ".env").write_text(f"OPENAI_API_KEY={KEY}\nUNYO_MAX_ATTEMPTS=5\nUNYO_DEADLINE_S=8\n")
    monkeypatch.setenv("UNYO_MAX_ATTEMPTS", "4")
    s = load_settings()
    assert s.max_attempts == 4  # env beats .env and toml
    assert s.deadline_s == 8  # .env beats toml
    assert s.max_output_tokens == 300  # toml beats default
    assert s.read_timeout_s == 60  # default
    assert load_settings(max_attempts=2).max_attempts == 2  # explicit beats all
    assert s.key_source == ".env OPENAI_API_KEY" and len(s.api_key) == len(KEY)


def test_dotenv_never_overrides_the_real_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv-0000000000\n")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    s = load_settings()
    assert s.api_key.reveal() == KEY and s.key_source == "env OPENAI_API_KEY"
    assert os.environ["OPENAI_API_KEY"] == KEY


def test_key_file_and_openai_variables(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = clean_env / "key.txt"
    secret.write_text(KEY + "\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(secret))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234/v1")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4.1-mini")
    s = load_settings()
    assert s.profile.name == "openai" and s.api_key.reveal() == KEY and s.key_source == "file via OPENAI_API_KEY_FILE"
    assert s.base_url == "http://127.0.0.1:1234/v1" and s.model == "gpt-4.1-mini"
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(clean_env / "missing"))
    with pytest.raises(unyo.ConfigError, match="cannot read the key file"):
        load_settings()


def test_secret_repr_never_shows_the_key() -> None:
    s = load_settings(profile="openai", api_key=KEY)
    assert KEY not in repr(s) and KEY not in str(s.api_key)


def test_no_key_no_endpoint_uses_local_with_a_notice() -> None:
    s = load_settings()
    assert s.profile.name == "local" and s.profile.local
    assert any("local model" in n for n in s.notices)


def test_profile_needing_a_key_says_which_variable() -> None:
    with pytest.raises(unyo.ConfigError, match="GEMINI_API_KEY"):
        load_settings(profile="gemini")


def test_keyless_local_servers_and_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(profile="ollama")
    assert s.api_key is None and s.base_url == "http://127.0.0.1:11434/v1" and s.profile.api == "chat"
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-key-123456")
    g = load_settings(profile="gemini")
    assert g.profile.resolve_model("bulk") == ("gemini-2.5-flash-lite", "bulk")
    assert g.profile.resolve_model("gemini-2.5-pro") == ("gemini-2.5-pro", None)


def test_custom_profile_and_role_overrides_from_toml(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "unyo.toml").write_text(
        '[profiles.myproxy]\nbase_url = "http://127.0.0.1:9999/v1"\nkey_env = "MYPROXY_KEY"\napi = "chat"\n'
        'models = { main = "my-model" }\n'
        '[profiles.openai.models]\nmain = "gpt-4.1-mini"\n'
        '[models."my-model"]\ncontext_window = 32768\n'
    )
    monkeypatch.setenv("MYPROXY_KEY", "proxy-key-1234567890")
    from unyo._core._config_files import trust

    trust("http://127.0.0.1:9999/v1", os.environ)  # a project's own endpoint gets the key once trusted
    s = load_settings(profile="myproxy")
    assert s.base_url == "http://127.0.0.1:9999/v1" and s.profile.resolve_model("main") == ("my-model", "main")
    assert s.models["my-model"]["context_window"] == 32768
    assert load_settings(profile="openai", api_key=KEY).profile.resolve_model("main")[0] == "gpt-4.1-mini"


def test_keys_in_toml_are_refused(clean_env: Path) -> None:
    (clean_env / "unyo.toml").write_text('[profiles.openai]\napi_key = "sk-nope-0000000000"\n')
    with pytest.raises(unyo.ConfigError, match="keys never go in unyo.toml"):
        load_settings(profile="openai", api_key=KEY)


def test_bad_values_get_clear_errors(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNYO_MAX_ATTEMPTS", "many")
    with pytest.raises(unyo.ConfigError, match="UNYO_MAX_ATTEMPTS: expected int"):
        load_settings()
    monkeypatch.delenv("UNYO_MAX_ATTEMPTS")
    (clean_env / "unyo.toml").write_text("[unyo\n")
    with pytest.raises(unyo.ConfigError, match="not valid TOML"):
        load_settings()
    (clean_env / "unyo.toml").unlink()
    with pytest.raises(unyo.ConfigError, match="unknown profile"):
        load_settings(profile="nope")


def test_openai_env_variables_outrank_unyo_toml(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "unyo.toml").write_text('[unyo]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "gpt-4o"\n')
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:2/v1")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4.1-mini")
    s = load_settings()
    assert (s.base_url, s.model) == ("http://127.0.0.1:2/v1", "gpt-4.1-mini")  # environment > unyo.toml
    monkeypatch.setenv("UNYO_MODEL", "premium")
    assert load_settings().model == "premium"  # UNYO_MODEL > OPENAI_MODEL
