"""The /metrics route label: matched URL rules only; unrouted requests share one fixed label."""

from prometheus_client.parser import text_string_to_metric_families

from lingma_flask.ops import metrics
from lingma_flask.ops.labels import UNMATCHED
from lingma_flask.ops.labels import route_label

JUNK = 60  # more than any first-come cap of distinct route values would admit


def routes_in(client) -> set[str]:
    """Return every route label value in GET /metrics."""
    text = client.get("/metrics").get_data(as_text=True)
    return {s.labels["route"] for family in text_string_to_metric_families(text)
            for s in family.samples if "route" in s.labels}


def requests(**labels) -> float:
    return metrics.REGISTRY.get_sample_value("lingma_requests_total", {"key": "local", **labels}) or 0.0


def test_junk_paths_share_one_label_and_real_routes_keep_theirs(client):
    unmatched = requests(route=UNMATCHED, status="404", model="")
    for n in range(JUNK):
        assert client.get(f"/x/secret-token-{n}").status_code == 404
    assert client.post("/v1/responses", json={}).status_code == 400  # real routes, after the junk
    assert client.get("/v1/models").status_code == 200
    routes = routes_in(client)
    assert {"/v1/responses", "/v1/models", UNMATCHED} <= routes
    assert not any("secret" in route or route.startswith("/x/") for route in routes)
    assert "other" not in routes
    assert requests(route=UNMATCHED, status="404", model="") == unmatched + JUNK


def test_an_encoded_path_is_not_exported_either(client):
    client.get("/v1/chat/completions%0Aforged-path")
    client.post("/v1/../admin/x")
    text = client.get("/metrics").get_data(as_text=True)
    assert "forged-path" not in text and "/admin/x" not in text


def test_route_label_is_the_rule_or_unmatched():
    assert route_label("/v1/chat/completions") == "/v1/chat/completions"
    assert route_label(None) == route_label("") == UNMATCHED
