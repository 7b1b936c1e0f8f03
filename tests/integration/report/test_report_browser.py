"""diagnosis.html in a real headless Chromium (Debian's, through selenium): it renders, the drop point and the
policy are visible, screenshots are not blank, in light, dark (prefers-color-scheme) and print media.

The diagnosis is the diagnose filter's output for a policy drop seen by the kernel capture and the nftables
trace (observations as nettrace and nft_trace give them); the runbook test opens a report the lab produced.
"""

import base64
import os

import pytest

from report_browser import browser, close, png_colors, save

from ansible_collections.netdiag.tracekit.plugins.plugin_utils import diagnosis as dg
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.nftrace_observations import nftrace_observations
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.report_html import render

ENDPOINTS = {"n1-pod1": {"node": "node1", "netns": "lab-n1-pod1", "ip": "10.244.1.11", "ips": ["10.244.1.11"]},
             "n2-pod1": {"node": "node2", "netns": "lab-n2-pod1", "ip": "10.244.2.11", "ips": ["10.244.2.11"]}}
NODES = {"node1": {"netns": "lab-node1", "ips": ["192.168.77.1"]}, "node2": {"netns": "lab-node2", "ips": ["192.168.77.2"]}}


def _diagnosis():
    src = dg.resolve_endpoint("n1-pod1", ENDPOINTS, NODES)
    dst = dg.resolve_endpoint("n2-pod1", ENDPOINTS, NODES)
    rule = {"family": "inet", "table": "filter", "chain": "forward", "handle": 7, "text": "tcp dport 5432 drop",
            "comment": "default/deny-postgres", "verdict": "drop"}
    traces = [{"netns": "lab-node1", "id": "1", "time": 100.0004, "packet": {}, "verdict": "accept", "rule": None,
               "policy": None, "steps": [{"family": "inet", "table": "filter", "chain": "forward", "type": "policy",
                                          "verdict": "accept", "handle": None}]},
              {"netns": "lab-node2", "id": "2", "time": 100.0012, "packet": {}, "verdict": "drop", "rule": rule,
               "policy": {"namespace": "default", "name": "deny-postgres", "kind": "NetworkPolicy"},
               "steps": [dict(rule, type="rule")]}]
    caps = [dg.observation("Dropped", "kernel", "nettrace", node="node2", netns="lab-node2", endpoint="n2-pod1",
                           reason="NETFILTER_DROP in nft_do_chain+0x3e8", time=100.001)]
    caps += nftrace_observations(traces[:1], "node1", src, dst, node_netns="lab-node1")
    caps += nftrace_observations(traces[1:], "node2", src, dst, node_netns="lab-node2")
    injection = {"outcome": "timeout", "sent": 1, "sent_at": 100.0, "replies": [],
                 "probe": {"protocol": "tcp", "dst_port": 5432, "summary": "TCP 10.244.1.11 > 10.244.2.11:5432 [S]",
                           "timeout": 2.0}}
    return dg.diagnose(injection, src, dst, caps, ENDPOINTS, NODES)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    work = tmp_path_factory.mktemp("report")
    path = str(work / "diagnosis.html")
    with open(path, "w") as handle:
        handle.write(render(_diagnosis()))
    driver = browser()
    try:
        driver.get("file://" + path)
        yield driver, work
    finally:
        close(driver)


def check_page(driver, work, name):
    drop = driver.find_element("id", "drop-point")
    assert drop.is_displayed()
    assert "rule `inet filter forward handle 7`" in drop.text
    assert driver.find_element("id", "drop-policy").text == "NetworkPolicy default/deny-postgres"
    assert driver.find_element("id", "drop-hop").is_displayed()
    assert "by nftables rule `inet filter forward handle 7` (NetworkPolicy default/deny-postgres)" in \
        driver.find_element("id", "summary").text
    shot = driver.get_screenshot_as_png()
    save(os.path.join(str(work), name), shot)
    assert len(png_colors(shot)) > 8, "the screenshot is (nearly) blank"


def test_renders_with_the_drop_point_and_policy(page):
    driver, work = page
    assert driver.title.startswith("tracekit diagnosis")
    check_page(driver, work, "light.png")
    # Self-contained: the page loaded nothing else.
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_dark_mode(page):
    driver, work = page
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        rgb = [int(x) for x in background[background.index("(") + 1:background.index(")")].split(",")[:3]]
        assert sum(rgb) < 150, background
        check_page(driver, work, "dark.png")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_print(page):
    driver, work = page
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert driver.find_element("id", "drop-point").is_displayed()
        background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = base64.b64decode(driver.execute_cdp_cmd("Page.printToPDF", {})["data"])
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
