"""AI providers through litellm against a stand-in OpenAI-compatible server on loopback (real HTTP)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from pystrument.ai import AISettings, builtin_providers, default_analysers, run_analysers
from pystrument.core.analysis import AIUnavailable, AnalysisContext
from pystrument.core.record import ErrorInfo
from pystrument_testing.ports import free_port

PROVIDERS = {p.name: p for p in builtin_providers()}
API_KEY = "sk-test-0123456789abcdefghijklmnop"


SECRETS = [
    "sk_live_51HxAbCdEfGhIjKlMnOpQrStUv", "Hunter2Pass", "eyJhbGciOiJIUzI1NiJ9", "alice.buyer@example.com", "4321",
    "AKIAIOSFODNN7EXAMPLE", "tagSecret123", "bob@example.org", "abc123def456ghi789jkl", "/home/alice", "carol@corp.example",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
]


@pytest.fixture
def record_with_secrets(profile):
    conn = sqlite3.connect(":memory:")
    conn.execute("create table cart (email text, price real, pin int)")
    conn.executemany("insert into cart values (?, ?, ?)", [(f"u{i}@x.io", i, i) for i in range(50)])
    record = profile(checkout_total, conn, "carol@corp.example", capture_source=True, tags={
        "db_url": "postgres://svc:tagSecret123@db/prod", "user": "bob@example.org",
        "authorization": "Bearer abc123def456ghi789jkl", "aws": "AKIAIOSFODNN7EXAMPLE",
        "last_query": "SELECT * FROM accounts WHERE email='carol@corp.example' AND pin=4321",
        "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    })
    # a driver error that quotes its DSN and the user (as the record of a failed unit carries it)
    record.error = ErrorInfo(type="OperationalError", message="could not connect to postgresql://shop:Hunter2Pass@db "
                             "as alice.buyer@example.com with token eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2lnbmF0dXJl")
    # the app deployed from a home directory: its paths carry the user's name
    home = "/home/alice/shop/app.py"
    for key in list(record.source):
        file, _, line = key.rpartition(":")
        if file == checkout_total.__code__.co_filename:
            record.source[f"{home}:{line}"] = record.source.pop(key)
    stack = [record.call_tree]
    while stack:
        node = stack.pop()
        if node.file == checkout_total.__code__.co_filename:
            node.file = home
        stack.extend(node.children)
    return record


def answer(function="checkout_total", gain=40.0, confidence=0.8) -> str:
    return json.dumps({
        "summary": "One query per loop iteration dominates.",
        "findings": [{"title": "Query in a loop", "function": function, "file": "app.py", "line": 1,
                      "evidence": "Connection.execute takes 70% of the time", "suggestion": "Run the query once.",
                      "expected_gain_ms": gain, "confidence": confidence}],
    })


def settings_for(name: str, server, **extra) -> AISettings:
    options = {"api_key": API_KEY, "base_url": server.base_url}
    if name == "custom":
        options["model"] = "local-coder-7b"
    return AISettings(**{name: options}, retries=extra.pop("retries", 0), retry_backoff=0, **extra)


def analyse(name, record, settings, **kw):
    context = AnalysisContext(record=record, language=kw.pop("language", "en"))
    findings = run_analysers(context, {a.name: a for a in default_analysers()})
    return PROVIDERS[name].analyse(context, findings, settings, **kw), findings


@pytest.mark.parametrize("name,model", [("openai", "gpt-4o-mini"), ("qwen", "qwen-plus"), ("deepseek", "deepseek-chat"),
                                        ("custom", "local-coder-7b")])
def test_each_provider_reaches_the_service_with_its_model_and_key(name, model, provider_stand_in, record_with_secrets):
    provider_stand_in.reply(answer())
    result, _ = analyse(name, record_with_secrets, settings_for(name, provider_stand_in))
    (request,) = provider_stand_in.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["json"]["model"] == model
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert request["json"]["response_format"] == {"type": "json_object"}
    assert result.raw is None and result.summary.startswith("One query per loop")
    (finding,) = result.findings
    assert finding.analyser == f"ai:{name}" and finding.function == "checkout_total"
    assert finding.evidence["grounded"] is True and finding.file == "/home/alice/shop/app.py"
    assert finding.expected_saving_ms == 40.0 and finding.confidence == 0.8


def test_prompt_holds_the_hot_function_and_none_of_the_planted_secrets(provider_stand_in, record_with_secrets):
    provider_stand_in.reply(answer())
    _, findings = analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in))
    raw = provider_stand_in.requests[0]["raw"]
    messages = provider_stand_in.requests[0]["json"]["messages"]
    user = messages[1]["content"]
    assert "checkout_total" in user and "Connection.execute" in user
    assert "[thread] holds work that ran in a worker thread" in messages[0]["content"]  # not on the event loop
    assert "total += row[0] or 0" in user  # the captured source of the hot function went along
    assert findings and "Rule-based findings" in user and findings[0].title in user  # the rule findings too
    assert "~/shop/app.py" in user
    assert "Raised: OperationalError: could not connect to postgresql://shop:[REDACTED:basic-auth-credentials]@db as [REDACTED:email]" in user
    leaked = [s for s in SECRETS if s in raw or s in json.dumps(messages, ensure_ascii=False)]
    assert not leaked, f"leaked: {leaked}"
    assert "[REDACTED:" in user and "[REDACTED:email]" in user and "email = '?'" in user


def test_prompt_stays_within_the_token_budget(provider_stand_in, record_with_secrets):
    provider_stand_in.reply(answer())
    analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in, prompt_token_budget=500))
    messages = provider_stand_in.requests[0]["json"]["messages"]
    assert sum(len(m["content"]) for m in messages) <= 500 * 4 * 1.05
    assert "checkout_total" in messages[1]["content"]


def test_answer_language_follows_the_request_or_the_setting(provider_stand_in, record_with_secrets):
    provider_stand_in.reply(answer())
    provider_stand_in.reply(answer())
    analyse("deepseek", record_with_secrets, settings_for("deepseek", provider_stand_in), language="zh")
    analyse("deepseek", record_with_secrets, settings_for("deepseek", provider_stand_in, language="en"), language="zh")
    first, second = (r["json"]["messages"][0]["content"] for r in provider_stand_in.requests)
    assert "简体中文" in first and "English" not in first.splitlines()[1]
    assert "简体中文" not in second and "in English" in second


def test_malformed_answer_is_retried_once_then_accepted(provider_stand_in, record_with_secrets):
    provider_stand_in.reply("Sure! Here is my analysis: the loop is slow.")
    provider_stand_in.reply("```json\n" + answer() + "\n```")
    result, _ = analyse("qwen", record_with_secrets, settings_for("qwen", provider_stand_in))
    assert len(provider_stand_in.requests) == 2
    retry = provider_stand_in.requests[1]["json"]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Sure! Here is my analysis: the loop is slow."}
    assert "not valid" in retry[-1]["content"]
    assert result.raw is None and result.findings[0].function == "checkout_total"


def test_malformed_twice_gives_a_failed_result_with_the_raw_text(provider_stand_in, record_with_secrets):
    provider_stand_in.reply('{"summary": "x"}')
    bad = json.dumps({"summary": "s", "findings": [{"function": "f", "suggestion": "s", "confidence": 7}]})
    provider_stand_in.reply(bad)
    result, _ = analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in))
    assert len(provider_stand_in.requests) == 2
    assert result.raw == bad and result.findings == []
    assert "not valid" in result.summary and "confidence" in result.summary


def test_an_ungrounded_function_is_kept_but_marked(provider_stand_in, record_with_secrets):
    provider_stand_in.reply(answer(function="made_up_function", confidence=0.8))
    result, _ = analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in))
    (finding,) = result.findings
    assert finding.evidence["grounded"] is False and finding.confidence == 0.4


def test_timeout_says_which_and_what_to_check(provider_stand_in, record_with_secrets):
    provider_stand_in.hang(3)
    provider_stand_in.hang(3)
    with pytest.raises(AIUnavailable) as info:
        analyse("deepseek", record_with_secrets, settings_for("deepseek", provider_stand_in, timeout=0.5, retries=1))
    assert info.value.reason == "timeout"
    assert "deepseek did not answer within 0.5 s" in str(info.value) and "PYSTRUMENT_AI_DEEPSEEK_TIMEOUT" in str(info.value)
    assert len(provider_stand_in.requests) == 2  # our retry policy: one retry after a timeout


@pytest.mark.parametrize("status,message", [(401, "Incorrect API key provided"), (400, "Invalid API key")])
def test_bad_key_is_auth_and_not_retried(status, message, provider_stand_in, record_with_secrets):
    provider_stand_in.fail(status, message, code="invalid_api_key")
    with pytest.raises(AIUnavailable) as info:
        analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in, retries=2))
    assert info.value.reason == "auth"
    assert "refused the API key" in str(info.value) and "PYSTRUMENT_AI_OPENAI_API_KEY" in str(info.value)
    assert API_KEY not in str(info.value)
    assert len(provider_stand_in.requests) == 1


def test_refused_connection_is_unreachable(record_with_secrets):
    port = free_port()
    settings = AISettings(qwen={"api_key": API_KEY, "base_url": f"http://127.0.0.1:{port}/v1"}, retries=0)
    with pytest.raises(AIUnavailable) as info:
        analyse("qwen", record_with_secrets, settings)
    assert info.value.reason == "unreachable"
    assert f"127.0.0.1:{port}" in str(info.value) and "PYSTRUMENT_AI_QWEN_BASE_URL" in str(info.value)


def test_server_error_is_retried_then_succeeds(provider_stand_in, record_with_secrets):
    provider_stand_in.fail(503, "overloaded")
    provider_stand_in.reply(answer())
    result, _ = analyse("custom", record_with_secrets, settings_for("custom", provider_stand_in, retries=1))
    assert len(provider_stand_in.requests) == 2 and result.findings


def test_rate_limit_after_retries(provider_stand_in, record_with_secrets):
    for _ in range(2):
        provider_stand_in.fail(429, "Rate limit reached")
    with pytest.raises(AIUnavailable) as info:
        analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in, retries=1))
    assert info.value.reason == "rate_limited" and "after 2 attempts" in str(info.value)


def test_missing_key_or_url_fails_before_any_request(provider_stand_in, record_with_secrets, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AIUnavailable) as info:
        analyse("openai", record_with_secrets, AISettings(openai={"base_url": provider_stand_in.base_url}))
    assert info.value.reason == "auth" and "PYSTRUMENT_AI_OPENAI_API_KEY" in str(info.value)
    with pytest.raises(AIUnavailable, match="PYSTRUMENT_AI_CUSTOM_BASE_URL"):
        analyse("custom", record_with_secrets, AISettings())
    assert not PROVIDERS["openai"].configured(AISettings())
    assert PROVIDERS["custom"].configured(AISettings(custom={"base_url": provider_stand_in.base_url, "model": "m"}))
    assert provider_stand_in.requests == []


def test_model_override_per_request(provider_stand_in, record_with_secrets):
    provider_stand_in.reply(answer())
    analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in), model="gpt-4.1")
    assert provider_stand_in.requests[0]["json"]["model"] == "gpt-4.1"


def test_custom_service_without_a_key(provider_stand_in, record_with_secrets):
    provider_stand_in.reply(answer())
    settings = AISettings(custom={"base_url": provider_stand_in.base_url, "model": "llama3"}, json_mode=False)
    result, _ = analyse("custom", record_with_secrets, settings)
    request = provider_stand_in.requests[0]
    assert request["json"]["model"] == "llama3" and "response_format" not in request["json"] and result.findings


def test_unknown_model_is_not_found_and_not_retried(provider_stand_in, record_with_secrets):
    provider_stand_in.fail(404, "The model `gpt-9` does not exist", code="model_not_found")
    with pytest.raises(AIUnavailable) as info:
        analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in, retries=2), model="gpt-9")
    assert info.value.reason == "unavailable" and "PYSTRUMENT_AI_OPENAI_MODEL" in str(info.value)
    assert len(provider_stand_in.requests) == 1


def test_third_party_provider_on_a_litellm_route_reads_its_own_options(provider_stand_in, record_with_secrets):
    from pystrument.ai import LiteLLMProvider

    mine = LiteLLMProvider("mine", "openai", "house-model")
    provider_stand_in.reply(answer())
    settings = AISettings(providers={"mine": {"api_key": API_KEY, "base_url": provider_stand_in.base_url}})
    result = mine.analyse(AnalysisContext(record=record_with_secrets), [], settings)
    assert provider_stand_in.requests[0]["json"]["model"] == "house-model" and result.summary
    with pytest.raises(AIUnavailable, match=r'PYSTRUMENT_AI_PROVIDERS\["mine"\].api_key'):
        mine.analyse(AnalysisContext(record=record_with_secrets), [], AISettings())


def test_failure_during_the_retry_keeps_the_first_answer(provider_stand_in, record_with_secrets):
    provider_stand_in.reply("not json at all")
    provider_stand_in.fail(401, "Incorrect API key provided")
    with pytest.raises(AIUnavailable) as info:
        analyse("openai", record_with_secrets, settings_for("openai", provider_stand_in))
    assert info.value.reason == "auth" and info.value.raw == "not json at all"


# last in the file: the SDK captures 30 lines from the def, and nothing after it should be a planted secret
def checkout_total(conn, user_email):
    # planted secrets, in the source the SDK captures
    stripe_key = "sk_live_51HxAbCdEfGhIjKlMnOpQrStUv"
    dsn = "postgresql://shop:Hunter2Pass@db.internal:5432/shop"
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA"
    total = 0
    for _ in range(1500):
        row = conn.execute("select sum(price) from cart where email = 'alice.buyer@example.com' and pin = 4321").fetchone()
        total += row[0] or 0
    return total, stripe_key, dsn, token, user_email


def test_the_prompt_never_exceeds_its_budget_even_with_long_hot_paths():
    """The first hot paths are always sent, but cut to the budget, and the "(N more omitted)" line is counted."""
    import datetime as dt

    from pystrument.ai.prompt import CHARS_PER_TOKEN, build_messages
    from pystrument.core.analysis import AnalysisContext
    from pystrument.core.record import CallNode, Record

    def chain(branch: int, depth: int) -> CallNode:
        node = CallNode(function=f"module_{branch}.{'very_long_function_name_' * 4}{depth}", file=f"/app/m{branch}.py",
                        line=depth, time_ms=10.0, self_ms=10.0 if depth == 11 else 0.0, is_app=True)
        return node if depth == 11 else CallNode(**{**{f: getattr(node, f) for f in node.__struct_fields__}, "children": [chain(branch, depth + 1)]})

    tree = CallNode(function="[root]", time_ms=60.0, children=[chain(b, 0) for b in range(6)])
    record = Record(record_id="r", name="GET /long", started_at=dt.datetime.now(dt.timezone.utc), duration_ms=60.0, call_tree=tree)
    for budget in (500, 800, 1500):  # 500: the smallest the settings allow
        messages = build_messages(AnalysisContext(record=record), [], budget, "en")
        assert sum(len(m["content"]) for m in messages) <= budget * CHARS_PER_TOKEN, budget
        assert "module_0" in messages[1]["content"]  # the heaviest path is still there, cut
