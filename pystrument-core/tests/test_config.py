from __future__ import annotations

import json
import logging

import pytest
from pystrument.core import Client, Config, ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith(("PYSTRUMENT_", "PERFORMANCE_MONITOR_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults():
    config = Config()
    assert config.enabled and config.sampling_rate == 1.0 and config.sinks == []
    assert config.origin("sampling_rate") == "default"


def test_code_beats_env_beats_seed_env_beats_file(monkeypatch, tmp_path):
    (tmp_path / "pystrument.yaml").write_text("pystrument:\n  sampling_rate: 0.1\n  batch_size: 7\n  app_name: from-file\n  environment: file-env\n")
    monkeypatch.setenv("PERFORMANCE_MONITOR_SAMPLING_RATE", "0.2")
    monkeypatch.setenv("PERFORMANCE_MONITOR_BATCH_SIZE", "8")
    monkeypatch.setenv("PYSTRUMENT_SAMPLING_RATE", "0.3")
    config = Config(app_name="from-code")
    assert config.app_name == "from-code" and config.origin("app_name") == "code"
    assert config.sampling_rate == 0.3 and config.origin("sampling_rate") == "environment variable PYSTRUMENT_SAMPLING_RATE"
    assert config.batch_size == 8 and config.origin("batch_size") == "environment variable PERFORMANCE_MONITOR_BATCH_SIZE"
    assert config.environment == "file-env" and "pystrument.yaml" in config.origin("environment")


@pytest.mark.parametrize("name,content", [
    ("pystrument.yml", "performance_monitor:\n  project_key: seed-key\n  async_send: false\n"),
    ("pystrument.json", json.dumps({"performance_monitor": {"project_key": "seed-key", "async_send": False}})),
])
def test_seed_file_key(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    config = Config()
    assert config.project_key == "seed-key" and config.async_send is False


def test_explicit_config_file(monkeypatch, tmp_path):
    path = tmp_path / "elsewhere.json"
    path.write_text(json.dumps({"pystrument": {"sinks": ["memory://x"], "exclude_paths": ["/metrics"]}}))
    monkeypatch.setenv("PYSTRUMENT_CONFIG", str(path))
    config = Config()
    assert config.sinks == ["memory://x"] and config.exclude_paths == ["/metrics"]


def test_seed_env_names(monkeypatch):
    monkeypatch.setenv("PERFORMANCE_MONITOR_PROJECT_KEY", "k1")
    monkeypatch.setenv("PERFORMANCE_MONITOR_API_ENDPOINT", "http://localhost:8000/api/v1/performance/collect")
    monkeypatch.setenv("PERFORMANCE_MONITOR_SAMPLING_RATE", "0.5")
    monkeypatch.setenv("PYSTRUMENT_SINKS", "memory://a, file:///tmp/x.jsonl")
    config = Config()
    assert config.project_key == "k1" and config.sampling_rate == 0.5
    assert config.sink_urls() == ["http://localhost:8000/api/v1/performance/collect", "memory://a", "file:///tmp/x.jsonl"]


def test_dict_and_config_accepted():
    assert Client({"sinks": ["memory://d"], "sampling_rate": 0.25}).config.sampling_rate == 0.25
    assert Client(Config(sampling_rate=0.5, sinks=["memory://d"])).config.sampling_rate == 0.5


def test_bad_env_value_logs_one_line_and_disables(monkeypatch, caplog):
    monkeypatch.setenv("PYSTRUMENT_SAMPLING_RATE", "lots")
    with caplog.at_level(logging.ERROR, logger="pystrument"):
        config = Config(project_key="k")
    assert config.enabled is False
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "sampling_rate='lots'" in lines[0] and "PYSTRUMENT_SAMPLING_RATE" in lines[0] and "monitoring is switched off" in lines[0]


def test_bad_file_value_names_the_file(tmp_path, caplog):
    (tmp_path / "pystrument.yaml").write_text("pystrument:\n  batch_size: -3\n")
    with caplog.at_level(logging.ERROR, logger="pystrument"):
        config = Config()
    assert not config.enabled
    assert "batch_size=-3" in caplog.text and "pystrument.yaml" in caplog.text


def test_unreadable_file_disables(tmp_path, caplog):
    (tmp_path / "pystrument.json").write_text("{not json")
    config = Config()
    assert not config.enabled and "pystrument.json" in caplog.text


def test_host_unaffected_by_bad_config(caplog):
    from pystrument.core import monitor_performance

    @monitor_performance(config={"sampling_rate": "x"})
    def host(a, b=2):
        return a + b

    assert host(1) == 3 and host(1, b=5) == 6
    assert "sampling_rate='x'" in caplog.text


def test_strict_raises(monkeypatch):
    with pytest.raises(ConfigError, match="sampling_rate"):
        Config(sampling_rate=7, strict=True)
    monkeypatch.setenv("PYSTRUMENT_BATCH_SIZE", "zero")
    with pytest.raises(ConfigError, match="PYSTRUMENT_BATCH_SIZE"):
        Client(strict=True)


def test_unknown_sink_scheme_is_skipped_with_hint(caplog):
    client = Client(sinks=["carrier-pigeon://x", "memory://ok"])
    assert client.enabled
    assert "carrier-pigeon" in caplog.text and "installed schemes" in caplog.text
    assert list(client.stats()["sinks"]) == ["memory://ok"]


def test_tags_merge_key_by_key_across_sources(monkeypatch, tmp_path):
    (tmp_path / "pystrument.yaml").write_text("pystrument:\n  tags: {team: file, region: eu}\n")
    monkeypatch.setenv("PYSTRUMENT_TAGS", '{"team": "env", "tier": "web"}')
    config = Config(tags={"tier": "code"})
    assert config.tags == {"team": "env", "region": "eu", "tier": "code"} and config.origin("tags") == "code"


def test_env_words_lists_and_names(monkeypatch):
    monkeypatch.setenv("PYSTRUMENT_ASYNC_SEND", "no")
    monkeypatch.setenv("PERFORMANCE_MONITOR_CAPTURE_SOURCE", "on")
    monkeypatch.setenv("PYSTRUMENT_EXCLUDE_PATHS", '["/metrics", "/ping"]')
    monkeypatch.setenv("pystrument_app_name", "lower-case-name")
    monkeypatch.setenv("PYSTRUMENT_MAX_OVERHEAD_PCT", "2.5")
    config = Config(sinks="memory://a, memory://b")
    assert config.async_send is False and config.capture_source is True
    assert config.exclude_paths == ["/metrics", "/ping"] and config.sinks == ["memory://a", "memory://b"]
    assert config.app_name == "lower-case-name" and config.max_overhead_pct == 2.5 and config.origin("sinks") == "code"


def test_every_bad_key_on_one_line(caplog):
    with caplog.at_level(logging.ERROR, logger="pystrument"):
        config = Config(batch_size=0, sampling_rate=2, max_overhead_pct=0)
    assert not config.enabled and config.batch_size == 50  # defaults, monitoring off
    (line,) = [r.getMessage() for r in caplog.records]
    for part in ("batch_size=0 from code", "sampling_rate=2 from code", "max_overhead_pct=0 from code"):
        assert part in line and part in config.config_error


def test_bad_json_in_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("PYSTRUMENT_TAGS", "{team: x}")
    config = Config()
    assert not config.enabled and "tags='{team: x}' from environment variable PYSTRUMENT_TAGS" in config.config_error
    monkeypatch.delenv("PYSTRUMENT_TAGS")
    monkeypatch.setenv("PYSTRUMENT_SINKS", "[memory://x")
    with pytest.raises(ConfigError, match="sinks='\\[memory://x' from environment variable PYSTRUMENT_SINKS"):
        Config(strict=True)


def test_load_config_overrides_a_config_without_touching_it():
    from pystrument.core.config import load_config

    base = Config(app_name="a", sampling_rate=0.5)
    copy = load_config(base, app_name="b")
    assert (copy.app_name, copy.sampling_rate, copy.origin("sampling_rate")) == ("b", 0.5, "code")
    assert base.app_name == "a" and copy != base and load_config(base) is base
