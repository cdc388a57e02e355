"""Parsing Lingma's model registry in the shapes different builds send."""

import pytest

from lingma_flask.lingma.models import parse_models

ENTRY = {"key": "dashscope_qwen3_coder", "displayName": "Qwen3-Coder", "isReasoning": False}
AUTO = {"key": "auto", "displayName": "Auto", "isDefault": True}


@pytest.mark.parametrize("result", [
    {"chat": [AUTO, ENTRY], "developer": [ENTRY]},
    {"chat": {"models": [AUTO, ENTRY]}, "developer": {"models": [ENTRY]}},
    {"data": {"chat": [AUTO, ENTRY], "developer": [ENTRY]}},
])
def test_scene_keyed_registries_in_any_nesting(result):
    models = parse_models(result)
    assert [m.key for m in models] == ["auto", "dashscope_qwen3_coder"]
    assert models[0].is_default and models[0].scenes == ("chat",)
    assert models[1].display_name == "Qwen3-Coder" and models[1].scenes == ("chat", "developer")


def test_plain_list_and_logged_out_forms():
    assert [m.key for m in parse_models([ENTRY])] == ["dashscope_qwen3_coder"]
    assert parse_models({}) == [] and parse_models(None) == []


def test_entries_without_a_key_are_skipped():
    assert parse_models({"chat": [{"displayName": "nameless"}, ENTRY]})[0].key == "dashscope_qwen3_coder"
