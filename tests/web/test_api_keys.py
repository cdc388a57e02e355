"""Named API keys: LINGMA_API_KEYS and LINGMA_API_KEYS_FILE, the key's name on the request's
record, in its log line, its metrics and the admin's recent requests; never the key itself."""

from __future__ import annotations

import hashlib

import pytest

from lingma_flask.apikeys import ApiKey
from lingma_flask.apikeys import fingerprint_name
from lingma_flask.config import ApiSettings
from lingma_flask.config import check_settings
from lingma_flask.ops import metrics
from lingma_flask.settings_reader import SettingError
from lingma_flask.web.identity import current_key_name

URL = "/v1/chat/completions"
BODY = {"messages": [{"role": "user", "content": "hi"}]}
REMOTE = {"REMOTE_ADDR": "10.0.0.5"}
ALICE = "sk-alice-0123456789abcdef"
PLAIN = "sk-plain-fedcba9876543210"


def keys_of(**config) -> tuple[ApiKey, ...]:
    return ApiSettings.from_mapping(config).keys


def test_named_and_plain_keys_and_their_names():
    keys = keys_of(API_KEYS=f" alice:{ALICE} , {PLAIN}, ci-bot.2:a:b:c")
    assert [k.name for k in keys] == ["alice", fingerprint_name(PLAIN), "ci-bot.2"]
    assert [k.key for k in keys] == [ALICE, PLAIN, "a:b:c"]   # only the first ':' separates
    assert fingerprint_name(PLAIN) == "key-" + hashlib.sha256(PLAIN.encode()).hexdigest()[:8]
    assert ApiSettings.from_mapping({"API_KEYS": f"alice:{ALICE}"}).api_keys == (ALICE,)
    assert ALICE not in repr(keys) and ALICE not in repr(ApiSettings.from_mapping({"API_KEYS": f"a:{ALICE}"}))


def test_the_keys_file_is_read_with_comments_and_blank_lines(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# the team\n\nalice:{ALICE}\n   {PLAIN}   \n# bob left\n")
    keys = keys_of(API_KEYS_FILE=str(path), API_KEYS="ops:ops-key")
    assert [(k.name, k.key) for k in keys] == [("ops", "ops-key"), ("alice", ALICE),
                                               (fingerprint_name(PLAIN), PLAIN)]


@pytest.mark.parametrize("value, words", [
    ("alice:k1,alice:k2", "the name 'alice' is given to two keys"),
    ("a:same,b:same", "the key named 'b' is configured twice"),
    ("al ice:k1", "entry 1 has a name before ':' that is not 1-64 letters"),
    ("ok:k0," + "x" * 65 + ":k1", "entry 2 has a name before ':'"),
    (":k1", "entry 1 has a name before ':'"),
    ("alice:", "entry 1 names 'alice' but holds no key"),
    ("local:k1", "named 'local', a name the gateway keeps for itself"),
    ("other:k1", "named 'other'"),
    (",", "LINGMA_API_KEYS is set but holds no key"),
])
def test_bad_key_entries_stop_the_start_naming_the_setting(value, words):
    with pytest.raises(SettingError, match="^LINGMA_API_KEYS") as info:
        check_settings({"API_KEYS": value})
    assert words in str(info.value) and info.value.name == "LINGMA_API_KEYS"
    assert "k1" not in str(info.value) and "same" not in str(info.value)  # never a key


@pytest.mark.parametrize("text, words", [
    ("# nothing\n\n", "LINGMA_API_KEYS_FILE holds no key"),
    ("alice:k1\nbad name:k2\n", "LINGMA_API_KEYS_FILE: line 2 has a name"),
    ("alice:k1\n\nalice:k2\n", "the name 'alice' is given to two keys"),
])
def test_bad_key_files_stop_the_start_naming_the_setting(tmp_path, text, words):
    path = tmp_path / "keys"
    path.write_text(text)
    with pytest.raises(SettingError, match="^LINGMA_API_KEYS_FILE") as info:
        check_settings({"API_KEYS_FILE": str(path)})
    assert words in str(info.value) and "k2" not in str(info.value)


def test_a_missing_keys_file_is_named(tmp_path):
    with pytest.raises(SettingError, match="LINGMA_API_KEYS_FILE cannot be read"):
        check_settings({"API_KEYS_FILE": str(tmp_path / "absent")})


def test_a_named_key_is_served_and_named_on_its_record(make_app):
    app = make_app(API_KEYS=f"alice:{ALICE},{PLAIN}")
    seen = []

    @app.get("/v1/test/whoami")
    def whoami():
        from lingma_flask.web.auth import require_api_key
        require_api_key()
        seen.append(current_key_name())
        return {}

    client = app.test_client()
    for key in (ALICE, PLAIN):
        assert client.get("/v1/test/whoami", headers={"x-api-key": key}, environ_base=REMOTE).status_code == 200
    assert client.post(URL, json=BODY, headers={"Authorization": f"Bearer {ALICE}"},
                       environ_base=REMOTE).status_code == 200
    assert seen == ["alice", fingerprint_name(PLAIN)]
    with app.test_request_context("/v1/models"):
        assert current_key_name() is None   # no key matched (yet): keyless


def test_the_name_is_in_the_log_the_metrics_and_the_recent_requests_never_the_key(make_app, request_log):
    app = make_app(API_KEYS=f"alice:{ALICE},{PLAIN}")
    client = app.test_client()

    def count(key):
        return sum(sample.value for family in metrics.REGISTRY.collect() for sample in family.samples
                   if sample.name == "lingma_requests_total" and sample.labels["key"] == key
                   and sample.labels["route"] == URL)

    before = {name: count(name) for name in ("alice", fingerprint_name(PLAIN), "other", "local")}
    for key in (ALICE, ALICE, PLAIN):
        assert client.post(URL, json=BODY, headers={"x-api-key": key}, environ_base=REMOTE).status_code == 200
    assert client.post(URL, json=BODY, headers={"x-api-key": "wrong"}, environ_base=REMOTE).status_code == 401
    lines = request_log()
    assert [line.get("key") for line in lines] == ["alice", "alice", fingerprint_name(PLAIN), None]
    assert count("alice") == before["alice"] + 2
    assert count(fingerprint_name(PLAIN)) == before[fingerprint_name(PLAIN)] + 1
    assert count("other") == before["other"] + 1 and count("local") == before["local"]  # the wrong key
    listed = client.get("/admin/api/requests").get_json()["requests"]
    assert [r["key"] for r in listed[:4]] == [None, fingerprint_name(PLAIN), "alice", "alice"]
    exposition = client.get("/metrics").get_data(as_text=True)
    assert 'key="alice"' in exposition
    for secret in (ALICE, PLAIN):
        assert secret not in str(lines) and secret not in str(listed) and secret not in exposition


def test_the_key_label_is_bounded_by_the_configuration():
    names = frozenset({"alice"})
    assert [metrics.key_label(name, names) for name in ("alice", None, "mallory", "ALICE")] == [
        "alice", "other", "other", "other"]
    assert metrics.key_label(None, frozenset()) == "local"   # a gateway without keys: this machine's
