"""compliance_trace.yml on the namespace lab, with real probes, real eBPF captures and a real headless Chromium.

One lab with its own prefix is built for this module (playbooks/lab.yml) and removed at the end. One
compliance trace of a matrix plus two inline flows runs once; its reports are checked as a user reads them:
compliance.json, the JUnit XML parsed with xml.etree, the failed play, and the HTML truth table opened in
Chromium through selenium. Its verdicts are compared with single diagnose_drop.yml runs of the same flows.
Then the same playbook runs through ansible-runner, as AWX runs a job (AWX itself cannot run here). Every
probe stays inside the lab's namespaces.

The expected verdicts come from the lab's faults (docs/lab.md), checked by hand with single runs:
TCP/8080 is open everywhere; node2's policy drops TCP/5432 to n2-pod1 and answers TCP/5433 to it with a
forged RST (for every source, n2-pod2 on the same node too); UDP/5353 to n2-pod2 is dropped; node1 has no
route to n2-pod3 (ICMP net unreachable from node1).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from conftest import COLLECTIONS, REPO, need_root, run_playbook

PREFIX = "tkcp%d" % (os.getpid() % 10000)

MATRIX = {
    "sources": ["n1-pod1", "n2-pod2"],
    "destinations": ["n2-pod1"],
    "ports": ["tcp/8080", "tcp/5432", "tcp/5433"],
    "expect": "delivered",
    "exceptions": [{"dst_port": 5432, "expect": "dropped"},
                   {"src": "n1-pod1", "dst_port": 5433, "expect": "rejected"}],   # n2-pod2's 5433: wrong on purpose
}
FLOWS = [
    {"src": "n1-pod1", "dst": "n2-pod3", "protocol": "tcp", "dst_port": 8080, "expect": "not delivered"},
    {"src": "n1-pod1", "dst": "n2-pod2", "protocol": "udp", "dst_port": 5353, "expect": "delivered"},  # wrong on purpose
]
# What the lab does to each flow, by name (docs/lab.md, and single runs by hand).
TRUTH = {
    "n1-pod1 -> n2-pod3 tcp/8080": ("rejected", True),
    "n1-pod1 -> n2-pod2 udp/5353": ("dropped", False),
    "n1-pod1 -> n2-pod1 tcp/8080": ("delivered", True),
    "n1-pod1 -> n2-pod1 tcp/5432": ("dropped", True),
    "n1-pod1 -> n2-pod1 tcp/5433": ("rejected", True),
    "n2-pod2 -> n2-pod1 tcp/8080": ("delivered", True),
    "n2-pod2 -> n2-pod1 tcp/5432": ("dropped", True),
    "n2-pod2 -> n2-pod1 tcp/5433": ("rejected", False),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need_root()
    work = tmp_path_factory.mktemp("compliance")
    inv = str(work / "inventory.yml")
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_inventory_file": inv})
    assert rc == 0, out + err
    yield {"inventory": inv, "dir": work}
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_state": "absent"})
    assert rc == 0, out + err
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert PREFIX + "-" not in left


@pytest.fixture(scope="module")
def trace(lab):
    report = str(lab["dir"] / "trace")
    rc, out, err = run_playbook("playbooks/compliance_trace.yml",
                                {"matrix": MATRIX, "flows": FLOWS, "report_dir": report}, inventory=lab["inventory"])
    doc = None
    if os.path.exists(os.path.join(report, "compliance.json")):
        with open(os.path.join(report, "compliance.json")) as handle:
            doc = json.load(handle)
    return {"rc": rc, "out": out + err, "dir": report, "doc": doc}


def test_compliance_json_has_every_flow_its_verdict_and_whether_it_passed(trace):
    doc = trace["doc"]
    assert doc is not None, trace["out"]
    got = dict((f["name"], (f["verdict"], f["passed"])) for f in doc["flows"])
    assert got == TRUTH, trace["out"]
    assert doc["passed"] is False
    assert doc["totals"]["flows"] == 8 and doc["totals"]["failed"] == 2 and doc["totals"]["errors"] == 0
    by_name = dict((f["name"], f) for f in doc["flows"])
    drop = by_name["n1-pod1 -> n2-pod1 tcp/5432"]
    assert drop["drop_point"]["node"] == "node2" and drop["drop_point"]["endpoint"] == "n2-pod1"
    assert drop["drop_point"]["reason"].startswith("NETFILTER_DROP")
    assert set(drop["diagnosis"]["captures"]) == {"nettrace@node1", "nettrace@node2", "nft-trace@node1",
                                                  "nft-trace@node2"}
    # The nftables trace followed every probe of the batch: the drop names the lab's rule and its policy.
    assert (drop["drop_point"]["rule"]["table"], drop["drop_point"]["rule"]["chain"]) == ("tracekit_lab", "pod_policy")
    assert (drop["drop_point"]["policy"]["namespace"], drop["drop_point"]["policy"]["name"]) == ("default",
                                                                                                 "deny-postgres")
    route = by_name["n1-pod1 -> n2-pod3 tcp/8080"]
    assert route["drop_point"]["node"] == "node1"
    # Every flow's probe had a tag of its own: one capture window served all of them.
    tags = [f["diagnosis"]["probe"]["tag"]["ip_id"] for f in doc["flows"]]
    assert len(set(tags)) == 8


def test_the_play_fails_after_writing_every_report(trace):
    assert trace["rc"] != 0
    assert "2 of 8 flows differ from their expectation" in trace["out"]
    assert "expected delivered, got rejected: TCP/5433 from n2-pod2 (10.244.2.12) to n2-pod1" in trace["out"]
    assert "Traceback" not in trace["out"]
    for name in ("compliance.json", "junit.xml", "compliance.html"):
        assert os.path.getsize(os.path.join(trace["dir"], name)) > 0


def test_junit_has_one_testcase_per_flow_and_the_failures_name_the_drop_point(trace):
    root = ET.parse(os.path.join(trace["dir"], "junit.xml")).getroot()
    suite = root.find("testsuite")
    assert suite.get("tests") == "8" and suite.get("failures") == "2" and suite.get("errors") == "0"
    cases = dict((c.get("name"), c) for c in suite.findall("testcase"))
    assert set(cases) == set(TRUTH)
    failed = dict((name, case.find("failure")) for name, case in cases.items() if case.find("failure") is not None)
    assert set(failed) == {"n1-pod1 -> n2-pod2 udp/5353", "n2-pod2 -> n2-pod1 tcp/5433"}
    message = failed["n1-pod1 -> n2-pod2 udp/5353"].get("message")
    assert message.startswith("expected delivered, got dropped: UDP/5353 from n1-pod1 (10.244.1.11) to n2-pod2")
    assert "dropped at node2 for n2-pod2 by nftables rule `inet tracekit_lab pod_policy handle %d` " \
        "(NetworkPolicy default/deny-dns-udp)" % _handle_of("tracekit_lab", "pod_policy", "default/deny-dns-udp") \
        in message, message
    assert failed["n2-pod2 -> n2-pod1 tcp/5433"].get("type") == "expected_delivered_got_rejected"
    # The policy-rejected flow's message names the nftables rule and the NetworkPolicy it enforces (the lab's
    # reject rule for TCP/5433 to n2-pod1 carries the comment default/reject-5433: docs/lab.md). Its handle is
    # read from the lab's node2 ruleset with nft -a, not from our code.
    handle = _handle_of("tracekit_lab", "pod_policy", "default/reject-5433")
    reject = failed["n2-pod2 -> n2-pod1 tcp/5433"].get("message")
    assert reject.startswith("expected delivered, got rejected: TCP/5433 from n2-pod2 (10.244.2.12) to n2-pod1")
    assert ("by nftables rule `inet tracekit_lab pod_policy handle %d` (NetworkPolicy default/reject-5433)"
            % handle) in reject, reject
    assert cases["n1-pod1 -> n2-pod1 tcp/8080"].find("system-out").text.startswith("DELIVERED: ")


def _handle_of(table, chain, comment):
    """The handle nft -a lists for node2's IPv4 rule with that comment (the probes here are IPv4)."""
    out = subprocess.run(["ip", "netns", "exec", PREFIX + "-node2", "nft", "-a", "list", "chain", "inet", table,
                          chain], capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines() if 'comment "%s"' % comment in line and line.split()[0] == "ip"]
    assert len(lines) == 1, out
    return int(lines[0].rsplit("# handle ", 1)[1])


def _chromium(profile):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.skip("chromium and chromium-driver are not installed (make bootstrap installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--user-data-dir=%s" % profile):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")),
                            options=options)


def test_html_truth_table_in_chromium_colours_by_verdict_and_links_to_each_diagnosis(trace, tmp_path):
    from selenium.webdriver.common.by import By
    driver = _chromium(str(tmp_path / "profile"))
    try:
        driver.get("file://" + os.path.join(trace["dir"], "compliance.html"))
        assert driver.find_element(By.ID, "totals").get_attribute("data-passed") == "false"
        rows = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#truth tbody th[scope=row]")]
        cols = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#truth thead th[scope=col]")]
        assert rows == ["n1-pod1", "n2-pod2"] and cols == ["n2-pod3", "n2-pod2", "n2-pod1"]   # order of first appearance
        cell = driver.find_element(By.CSS_SELECTOR, 'td[data-src="n1-pod1"][data-dst="n2-pod1"]')
        links = cell.find_elements(By.CSS_SELECTOR, "a.flow")
        assert [a.text.split()[:2] for a in links] == [["tcp/8080", "delivered"], ["tcp/5432", "dropped"],
                                                       ["tcp/5433", "rejected"]]
        colours = [a.value_of_css_property("background-color") for a in links]
        assert colours == ["rgba(46, 125, 50, 1)", "rgba(198, 40, 40, 1)", "rgba(239, 108, 0, 1)"]
        assert driver.find_element(By.CSS_SELECTOR, 'td[data-src="n2-pod2"][data-dst="n2-pod3"]').text == ""
        failing = driver.find_element(By.CSS_SELECTOR, 'td[data-src="n2-pod2"][data-dst="n2-pod1"] a.flow.fail')
        assert "expected delivered" in failing.text
        target = failing.get_attribute("href").split("#")[1]
        failing.click()
        assert driver.current_url.endswith("#" + target)
        section = driver.find_element(By.ID, target)
        assert section.get_attribute("data-verdict") == "rejected"
        assert "NOT as expected" in section.text and "TCP/5433 from n2-pod2 (10.244.2.12)" in section.text
        assert "NetworkPolicy default/reject-5433" in section.text
        # No resource outside the page was loaded (self-contained).
        resources = driver.execute_script("return performance.getEntriesByType('resource').length")
        assert resources == 0
    finally:
        driver.quit()


def _single_run(lab, flow):
    report = tempfile.mkdtemp(prefix="single-", dir=str(lab["dir"]))
    args = {"src": flow["src"], "dst": flow["dst"], "protocol": flow["protocol"], "report_dir": report}
    if flow["dst_port"] is not None:
        args["dst_port"] = flow["dst_port"]
    rc, out, err = run_playbook("playbooks/diagnose_drop.yml", args, inventory=lab["inventory"])
    assert rc == 0, out + err
    with open(os.path.join(report, "diagnosis.json")) as handle:
        return json.load(handle)


def test_verdicts_and_drop_points_equal_single_diagnose_drop_runs(lab, trace):
    flows = trace["doc"]["flows"]
    # Four single runs at a time: each has its own run id, capture files and probe tag.
    with ThreadPoolExecutor(max_workers=4) as pool:
        singles = list(pool.map(lambda f: _single_run(lab, f), flows))
    for flow, single in zip(flows, singles):
        assert flow["verdict"] == single["verdict"], (flow["name"], flow["summary"], single["summary"])
        if single["drop_point"]:
            mine, theirs = flow["drop_point"], single["drop_point"]
            assert (mine["node"], mine["netns"], mine["component"]) == (theirs["node"], theirs["netns"],
                                                                        theirs["component"]), flow["name"]
            assert mine["reason"].split()[0] == theirs["reason"].split()[0], flow["name"]


def test_the_same_playbook_through_ansible_runner_carries_the_result_in_its_artifacts(lab):
    """As AWX runs a job: ansible-runner with a private data dir; the set_stats data is the job's artifacts."""
    ansible_runner = pytest.importorskip("ansible_runner")
    private = lab["dir"] / "runner"
    (private / "env").mkdir(parents=True)
    (private / "inventory").mkdir()
    shutil.copy(lab["inventory"], str(private / "inventory" / "hosts.yml"))
    (private / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}))
    # The extra vars AWX would pass: the survey's defaults, the flows typed into its textarea, no flows file.
    with open(os.path.join(REPO, "awx", "surveys", "compliance_trace.json")) as handle:
        survey = json.load(handle)
    extravars = dict((q["variable"], q["default"]) for q in survey["spec"] if q["default"] != "")
    extravars.update(flows_file="", report_dir=str(private / "report"), flows=(
        "- {src: n1-pod1, dst: n2-pod1, protocol: tcp, dst_port: 8080, expect: delivered}\n"
        "- {src: n1-pod1, dst: n2-pod1, protocol: tcp, dst_port: 5432, expect: delivered}\n"))
    result = ansible_runner.run(private_data_dir=str(private), playbook=os.path.join(REPO, "playbooks",
                                                                                     "compliance_trace.yml"),
                                extravars=extravars, quiet=True, timeout=240)
    assert result.status == "failed" and result.rc != 0         # one flow is not as expected: the job fails
    stats_events = [e for e in result.events if e.get("event") == "playbook_on_stats"]
    artifacts = stats_events[-1]["event_data"]["artifact_data"]["tracekit_compliance"]
    assert artifacts["passed"] is False
    assert artifacts["totals"]["flows"] == 2 and artifacts["totals"]["failed"] == 1
    assert [(f["verdict"], f["passed"]) for f in artifacts["flows"]] == [("delivered", True), ("dropped", False)]
    assert artifacts["failures"][0]["message"].startswith("expected delivered, got dropped: TCP/5432 from n1-pod1")
    # ansible-runner keeps the job's events on disk, as AWX stores them.
    job_events = private / "artifacts" / result.config.ident / "job_events"
    assert any("artifact_data" in p.read_text() for p in job_events.iterdir())


def test_bad_flows_fail_before_any_probe_with_a_clear_message(lab, tmp_path):
    flows_file = tmp_path / "flows.yml"
    flows_file.write_text(yaml.safe_dump({"flows": [{"src": "n1-pod1", "dst": "n2-pod1", "protocol": "tcp",
                                                     "expect": "delivered"}]}))
    rc, out, err = run_playbook("playbooks/compliance_trace.yml", {"flows_file": str(flows_file)},
                                inventory=lab["inventory"])
    assert rc != 0
    assert "compliance_flows: flows[0]: protocol tcp needs dst_port" in out + err
    assert "Start a kernel capture" not in out
    rc, out, err = run_playbook("playbooks/compliance_trace.yml", {"flows": [
        {"src": "n1-pod9", "dst": "n2-pod1", "protocol": "tcp", "dst_port": 1, "expect": "dropped"}]},
        inventory=lab["inventory"])
    assert rc != 0 and "flow f001 (n1-pod9 -> n2-pod1 tcp/1): 'n1-pod9' is neither" in out + err
