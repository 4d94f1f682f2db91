"""AI settings (pydantic-settings, environment prefix ``PYSTRUMENT_AI_``).

One block per provider, read from ``PYSTRUMENT_AI_<PROVIDER>_<OPTION>``::

    PYSTRUMENT_AI_OPENAI_API_KEY=sk-...        PYSTRUMENT_AI_OPENAI_MODEL=gpt-4o-mini
    PYSTRUMENT_AI_QWEN_API_KEY=...             PYSTRUMENT_AI_QWEN_BASE_URL=https://dashscope-intl.aliyuncs.com/compatible-mode/v1
    PYSTRUMENT_AI_DEEPSEEK_API_KEY=...         PYSTRUMENT_AI_DEEPSEEK_TIMEOUT=120
    PYSTRUMENT_AI_CUSTOM_BASE_URL=http://gpu-box:8000/v1   PYSTRUMENT_AI_CUSTOM_MODEL=qwen2.5-coder
    PYSTRUMENT_AI_TIMEOUT=60  PYSTRUMENT_AI_RETRIES=1  PYSTRUMENT_AI_LANGUAGE=zh

The server passes its settings object through untouched; :func:`resolve` finds ours in it (the object
itself, its ``ai`` attribute or key, a mapping of our fields, or nothing: then the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProviderOptions(BaseModel):
    """Options of one provider; unset ones fall back to the provider's default or the global setting."""

    api_key: SecretStr | None = Field(default=None, description="API key (else the provider's usual variable: OPENAI_API_KEY, DASHSCOPE_API_KEY, DEEPSEEK_API_KEY).")
    base_url: str | None = Field(default=None, description="Base URL of the OpenAI-compatible API, used as given (include /v1 when the service serves /v1/chat/completions).")
    model: str | None = Field(default=None, description="Model name, without the litellm route prefix (e.g. gpt-4o-mini).")
    timeout: float | None = Field(default=None, gt=0, description="Seconds to wait for one answer (default: PYSTRUMENT_AI_TIMEOUT).")
    retries: int | None = Field(default=None, ge=0, le=10, description="Retries after a timeout, a refused connection, 429 or 5xx (default: PYSTRUMENT_AI_RETRIES).")


class AISettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PYSTRUMENT_AI_", env_nested_delimiter="_", env_nested_max_split=1, extra="ignore",
    )

    timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for one answer.")
    retries: int = Field(default=1, ge=0, le=10, description="Retries after a timeout, a refused connection, 429 or 5xx; never after 401/403.")
    retry_backoff: float = Field(default=1.0, ge=0, description="Seconds before the first retry; doubles each time.")
    language: Literal["en", "zh"] | None = Field(default=None, description="Answer language; unset: the analysis request's (the UI's) language.")
    prompt_token_budget: int = Field(default=6000, ge=500, description="Upper bound on the prompt's size in tokens (estimated at 4 characters a token).")
    max_output_tokens: int = Field(default=2000, ge=100, description="Upper bound on the answer's size in tokens.")
    json_mode: bool = Field(default=True, description="Ask for response_format json_object (turn off for servers that reject it).")
    temperature: float = Field(default=0.2, ge=0, le=2)
    openai: ProviderOptions = ProviderOptions()
    qwen: ProviderOptions = ProviderOptions()
    deepseek: ProviderOptions = ProviderOptions()
    custom: ProviderOptions = ProviderOptions()
    # third-party providers built on LiteLLMProvider: PYSTRUMENT_AI_PROVIDERS='{"mine": {"model": "..."}}'
    providers: dict[str, ProviderOptions] = {}

    def options(self, name: str) -> ProviderOptions:
        value = getattr(self, name, None) if name in BUILTIN else self.providers.get(name)
        return value if isinstance(value, ProviderOptions) else ProviderOptions()


BUILTIN = ("openai", "qwen", "deepseek", "custom")


def setting_name(provider: str, option: str) -> str:
    """Where a provider's option is set, for messages: ``PYSTRUMENT_AI_OPENAI_API_KEY`` or, for a
    third-party provider, ``PYSTRUMENT_AI_PROVIDERS["mine"].api_key``."""
    if provider in BUILTIN:
        return f"PYSTRUMENT_AI_{provider.upper()}_{option.upper()}"
    return f'PYSTRUMENT_AI_PROVIDERS["{provider}"].{option}'


def resolve(settings: Any = None) -> AISettings:
    """Our settings inside whatever the server passes: AISettings, an object or mapping with ``ai``,
    a mapping of our fields, or None (read from the environment)."""
    if isinstance(settings, AISettings):
        return settings
    if settings is None:
        return AISettings()
    inner = settings.get("ai") if isinstance(settings, Mapping) else getattr(settings, "ai", None)
    if inner is not None:
        return resolve(inner)
    if isinstance(settings, Mapping):
        return AISettings(**dict(settings))
    return AISettings()
