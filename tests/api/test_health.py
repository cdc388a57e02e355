"""GET /health."""


def test_ready_is_200_with_the_simulator_flag(client, pool):
    pool.using_simulator = True
    resp = client.get("/health")
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["ready"] is True and data["simulator"] is True
    assert data["instances"]


def test_not_ready_is_503_json(client, pool):
    pool.ready = False
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.mimetype == "application/json"
    assert resp.get_json()["ready"] is False and resp.get_json()["simulator"] is False
    assert resp.headers["x-request-id"]
