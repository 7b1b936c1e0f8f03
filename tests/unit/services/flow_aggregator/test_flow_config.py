"""Configuration loading: the documented keys, defaults, and a clear error naming a wrong key."""

import pytest

from ansible_collections.netdiag.tracekit.services.flow_aggregator.config import ConfigError, load_config, validate


def _write(tmp_path, text):
    path = tmp_path / "config.yml"
    path.write_text(text)
    return str(path)


def test_issue_example_loads_with_defaults(tmp_path):
    for name in ("ca.pem", "srv.pem", "srv.key"):
        (tmp_path / name).write_text("x")
    config = load_config(_write(tmp_path, """
collect:
  - {transport: udp, address: "127.0.0.1:4739"}
  - {transport: tcp, address: "127.0.0.1:4739"}
  - {transport: tls, address: "127.0.0.1:4740", ca: ca.pem, certificate: srv.pem, key: srv.key, client_auth: required}
store: {path: /var/lib/netdiag-tracekit/flows.db}
api: {address: "127.0.0.1:8739"}
active_timeout: 60s
idle_timeout: 15s
max_flows: 1000000
export:
  - {type: ipfix, address: "collector:4739", transport: udp}
  - {type: jsonl, path: /var/log/flows.jsonl}
  - {type: elasticsearch, url: "http://es:9200", index: flows}
"""))
    assert [(c["transport"], c["port"]) for c in config["collect"]] == [("udp", 4739), ("tcp", 4739), ("tls", 4740)]
    assert config["collect"][2]["ca"] == str(tmp_path / "ca.pem")
    assert config["active_timeout"] == 60 and config["idle_timeout"] == 15
    assert config["max_flows"] == 1000000
    assert [s["type"] for s in config["export"]] == ["ipfix", "jsonl", "elasticsearch"]
    assert config["export"][0]["address"] == "collector:4739"
    assert config["export"][2]["spool"] == "/var/lib/netdiag-tracekit/spool/elasticsearch2"
    assert config["store"]["retention"] == 7 * 86400


def test_defaults_when_empty():
    config = validate({})
    assert (config["collect"][0]["host"], config["collect"][0]["port"]) == ("127.0.0.1", 4739)
    assert (config["api"]["host"], config["api"]["port"]) == ("127.0.0.1", 8739)


@pytest.mark.parametrize("raw, words", [
    ({"colect": []}, "colect"),
    ({"collect": [{"transport": "sctp"}]}, "collect[0].transport"),
    ({"collect": [{"address": "1.2.3.4:99999"}]}, "port"),
    ({"collect": [{"transport": "tls", "address": ":1"}]}, "host"),
    ({"collect": [{"transport": "tls", "address": "127.0.0.1:1"}]}, "certificate"),
    ({"collect": [{"transport": "udp", "ca": "x"}]}, "only a tls listener"),
    ({"active_timeout": "soon"}, "active_timeout"),
    ({"idle_timeout": 0}, "idle_timeout"),
    ({"max_flows": 0}, "max_flows"),
    ({"api": {"address": "0.0.0.0:8739"}}, "api.token"),
    ({"api": {"address": "127.0.0.1:8739", "token": "short"}}, "api.token"),
    ({"export": [{"type": "kafka"}]}, "export[0].type"),
    ({"export": [{"type": "jsonl"}]}, "export[0].path"),
    ({"export": [{"type": "elasticsearch", "url": "es:9200"}]}, "export[0].url"),
    ({"export": [{"type": "jsonl", "path": "/a", "name": "x"}, {"type": "jsonl", "path": "/b", "name": "x"}]},
     "same name"),
    ({"collect": [{"transport": "tcp", "address": "127.0.0.1:1"}, {"transport": "tcp", "address": "127.0.0.1:1"}]},
     "two tcp listeners"),
])
def test_wrong_values_name_the_key(raw, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        validate(raw)


def test_non_loopback_api_with_token_is_accepted():
    config = validate({"api": {"address": "0.0.0.0:8739", "token": "0123456789abcdef"}})
    assert config["api"]["token"] == "0123456789abcdef"


def test_unreadable_or_invalid_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.yml"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "collect: [\n"))


def test_without_pyyaml_reads_json_and_says_so_for_yaml(tmp_path, monkeypatch):
    """A stock Python image has no PyYAML: the file is read as JSON, and YAML that is not JSON gets a clear error."""
    from ansible_collections.netdiag.tracekit.services.flow_aggregator import config as config_module
    monkeypatch.setattr(config_module, "yaml", None)
    path = tmp_path / "config.json"
    path.write_text('{"collect": [{"transport": "udp", "address": "127.0.0.1:4800"}], "idle_timeout": "20s",'
                    ' "max_flows": 7}')
    config = config_module.load_config(str(path))
    assert (config["collect"][0]["port"], config["idle_timeout"], config["max_flows"]) == (4800, 20.0, 7)
    path.write_text("collect:\n  - {transport: udp}\n")
    with pytest.raises(ConfigError, match="not valid JSON.*PyYAML is not installed"):
        config_module.load_config(str(path))
