"""AI providers through litellm: ``openai``, ``qwen`` (DashScope), ``deepseek`` and ``custom``.

litellm is imported on the first call, never at import time (it takes seconds and pulls ~300 MB), with
``LITELLM_LOCAL_MODEL_COST_MAP=True`` so that importing it does not wait on a download. The retry policy
is ours: litellm's own retries are switched off (``max_retries=0``, ``num_retries=0``; they differ per
route) and transient failures (timeout, refused connection, 429, 5xx) are retried ``retries`` times
with exponential backoff; 401/403/404/400 are not retried. A malformed answer is asked for once more,
then returned as a failed result (``raw`` set to the model's text).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from pystrument.core.analysis import AIUnavailable, AnalysisContext, AnalysisResult, Finding

from .answer import parse_answer, to_findings
from .errors import TRANSIENT, classify, unavailable
from .prompt import build_messages
from .settings import resolve, setting_name
from .tree import TreeView

_litellm: Any = None
_import_lock = threading.Lock()


def load_litellm() -> Any:
    """Import litellm once, offline-safe."""
    global _litellm
    if _litellm is None:
        with _import_lock:
            if _litellm is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                import litellm

                litellm.suppress_debug_info = True
                _litellm = litellm
    return _litellm


class LiteLLMProvider:
    """One provider reached through a litellm route (``route/model``). Third parties can subclass it or
    make an instance with their own route and register it through ``register_ai_providers``."""

    def __init__(self, name: str, route: str, default_model: str, *, key_env: str | None = None,
                 default_base_url: str | None = None, requires_key: bool = True, requires_base_url: bool = False) -> None:
        self.name = name
        self.route = route
        self.default_model = default_model
        self.key_env = key_env
        self.default_base_url = default_base_url
        self.requires_key = requires_key
        self.requires_base_url = requires_base_url

    # -- settings ---------------------------------------------------------------------------------
    def _config(self, settings: Any, model: str | None) -> dict[str, Any]:
        s = resolve(settings)
        opts = s.options(self.name)
        api_key = opts.api_key.get_secret_value() if opts.api_key is not None else (os.environ.get(self.key_env) if self.key_env else None)
        base_url = opts.base_url or self.default_base_url
        model_name = model or opts.model or self.default_model
        if self.requires_base_url and not base_url:
            raise AIUnavailable(f"AI provider {self.name} has no base URL: set {setting_name(self.name, 'base_url')} (e.g. http://host:8000/v1).", reason="unavailable")
        if not model_name:
            raise AIUnavailable(f"AI provider {self.name} has no model: set {setting_name(self.name, 'model')}.", reason="unavailable")
        if not api_key:
            if self.requires_key:
                also = f" (or {self.key_env})" if self.key_env else ""
                raise AIUnavailable(f"AI provider {self.name} has no API key: set {setting_name(self.name, 'api_key')}{also}.", reason="auth")
            api_key = "none"  # OpenAI-compatible servers without auth still expect the header
        return {
            "settings": s, "api_key": api_key, "base_url": base_url, "model": model_name,
            "timeout": opts.timeout or s.timeout, "retries": s.retries if opts.retries is None else opts.retries,
        }

    def configured(self, settings: Any = None) -> bool:
        """Whether an analysis could be attempted (a key, model and URL are known); no network."""
        try:
            self._config(settings, None)
        except AIUnavailable:
            return False
        return True

    # -- the call ---------------------------------------------------------------------------------
    def complete(self, messages: list[dict[str, Any]], config: dict[str, Any]) -> str:
        """One chat completion with our retry policy; raises ``AIUnavailable``."""
        litellm = load_litellm()
        s = config["settings"]
        kwargs: dict[str, Any] = {
            "model": f"{self.route}/{config['model']}", "messages": messages, "api_key": config["api_key"],
            "timeout": config["timeout"], "max_retries": 0, "num_retries": 0,
            "temperature": s.temperature, "max_tokens": s.max_output_tokens,
        }
        if config["base_url"]:
            kwargs["api_base"] = config["base_url"]
        if s.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        attempts = 0
        while True:
            attempts += 1
            try:
                response = litellm.completion(**kwargs)
                return response.choices[0].message.content or ""
            except Exception as exc:
                kind, _status = classify(exc)
                if kind in TRANSIENT and attempts <= config["retries"]:
                    time.sleep(s.retry_backoff * 2 ** (attempts - 1))
                    continue
                raise unavailable(exc, provider=self.name, model=config["model"], base_url=config["base_url"],
                                  timeout=config["timeout"], attempts=attempts) from exc

    def analyse(self, context: AnalysisContext, findings: list[Finding], settings: Any = None, *, model: str | None = None) -> AnalysisResult:
        config = self._config(settings, model)
        s = config["settings"]
        language = s.language or context.language
        messages = build_messages(context, findings, s.prompt_token_budget, language)
        text = self.complete(messages, config)
        answer, error = parse_answer(text)
        if answer is None:
            retry = messages + [
                {"role": "assistant", "content": text[:4000]},
                {"role": "user", "content": f"That answer is not valid: {error}. Reply again with only the JSON object, in the shape given."},
            ]
            first = text
            try:
                text = self.complete(retry, config)
            except AIUnavailable as exc:
                exc.raw = first  # type: ignore[attr-defined]  # the malformed first answer is not lost
                raise
            answer, error = parse_answer(text)
            if answer is None:
                return AnalysisResult(summary=f"The model's answer was not valid analysis JSON after 2 attempts: {error}", findings=[], raw=text)
        view = TreeView(context.record)
        return AnalysisResult(summary=answer.summary, findings=to_findings(answer, view, f"ai:{self.name}"))


def builtin_providers() -> list[LiteLLMProvider]:
    return [
        LiteLLMProvider("openai", "openai", "gpt-4o-mini", key_env="OPENAI_API_KEY"),
        LiteLLMProvider("qwen", "dashscope", "qwen-plus", key_env="DASHSCOPE_API_KEY"),
        LiteLLMProvider("deepseek", "deepseek", "deepseek-chat", key_env="DEEPSEEK_API_KEY"),
        # any OpenAI-compatible service (vLLM, Ollama, LM Studio, a gateway): litellm's openai route with a base URL
        LiteLLMProvider("custom", "openai", "", requires_key=False, requires_base_url=True),
    ]
