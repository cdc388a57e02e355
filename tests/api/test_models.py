"""GET /v1/models and /v1/models/<id>."""

import pytest

from lingma_flask.lingma.errors import LingmaNotLoggedInError


@pytest.fixture
def config():
    return {"MODEL_ALIASES": '{"gpt-4o": "Kimi-K2", "broken": "no-such-model"}'}


@pytest.mark.parametrize("path", ["/v1/models", "/models"])
def test_list_has_keys_then_aliases(client, path):
    data = client.get(path).get_json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["qwen3-coder", "auto", "kmodel", "vl", "gpt-4o"]
    for model in data["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model" and model["owned_by"] == "lingma"
        assert isinstance(model["created"], int)


@pytest.mark.parametrize("model_id", ["qwen3-coder", "QWEN3-CODER", "Kimi-K2", "kimi-k2", "gpt-4o", "auto"])
def test_retrieve_by_key_display_name_or_alias(client, model_id):
    for prefix in ("/v1", ""):
        resp = client.get(f"{prefix}/models/{model_id}")
        assert resp.status_code == 200
        assert resp.get_json() == {"id": model_id, "object": "model",
                                   "created": resp.get_json()["created"], "owned_by": "lingma"}


@pytest.mark.parametrize("model_id", ["gpt-5", "broken", "org/model"])
def test_retrieve_unknown_is_404(client, model_id):
    resp = client.get(f"/v1/models/{model_id}")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "model_not_found"


def test_models_when_not_logged_in_is_503(client, pool):
    pool.models_error = LingmaNotLoggedInError("Lingma is not logged in")
    resp = client.get("/v1/models")
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "lingma_not_logged_in"


def test_bad_alias_json_fails_at_startup(make_app):
    with pytest.raises(ValueError, match="LINGMA_MODEL_ALIASES"):
        make_app(MODEL_ALIASES="[1, 2]")
