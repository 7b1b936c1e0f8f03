"""The page at / in a real headless Chromium (Debian's chromium + chromium-driver through selenium): it loads
with no asset from the internet, shows the flows the test sent, its filters work, and it shows the pod-to-pod
and node-to-node totals."""

import shutil
import tempfile

import pytest

from flow_aggregator_proc import TOKEN, Aggregator, Exporter, flow_record


@pytest.fixture(scope="module")
def agg(tmp_path_factory):
    aggregator = Aggregator(tmp_path_factory.mktemp("page"), collect=("udp",), token=TOKEN).start()
    exporter = Exporter(aggregator.ports["udp"])
    exporter.send([
        flow_record("10.5.0.1", "10.5.0.2", 41000, 8080, sourcePodName="alpha", sourceNodeName="node-a",
                    destinationPodName="beta", destinationNodeName="node-b", flowType=2,
                    octetTotalCount=5000, packetTotalCount=50),
        flow_record("10.5.0.3", "10.5.0.2", 41001, 53, 17, sourcePodName="gamma", sourceNodeName="node-c",
                    octetTotalCount=100, packetTotalCount=1),
    ])
    aggregator.wait_for(lambda: len(aggregator.flows()) == 2, what="two flows")
    exporter.close()
    yield aggregator
    aggregator.stop()


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.skip("Debian's chromium and chromium-driver are not installed (bindep.txt)")
    profile = tempfile.mkdtemp(prefix="tracekit-agg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--user-data-dir=" + profile):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _rows(driver, table):
    # read the whole table in one script call: the page re-renders while the test reads
    return driver.execute_script(
        "return [...document.querySelectorAll('#' + arguments[0] + ' tbody tr')]"
        ".map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent));", table)


def _wait(driver, predicate, what):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, 10).until(lambda d: predicate())
    except Exception as exc:  # selenium's TimeoutException
        raise AssertionError("page: timed out waiting for %s; status %r" % (
            what, driver.find_element("id", "status").text)) from exc


def test_page_shows_flows_filters_and_totals(agg, browser):
    from selenium.webdriver.common.by import By
    browser.get("http://127.0.0.1:%d/#token=%s" % (agg.api_port, TOKEN))
    _wait(browser, lambda: len(_rows(browser, "flows")) == 2, "two flows")
    flows = _rows(browser, "flows")
    assert any(row[0] == "10.5.0.1:41000" and row[1] == "10.5.0.2:8080" and row[2] == "tcp" for row in flows)
    assert any(row[0] == "10.5.0.3:41001" and row[2] == "udp" for row in flows)
    assert _rows(browser, "talkers")[0][:2] == ["10.5.0.1", "5000"]
    assert ["alpha", "beta", "5000", "1"] in _rows(browser, "pods")
    assert ["node-a", "node-b", "5000", "1"] in _rows(browser, "nodes")
    # filter: only the DNS flow
    browser.find_element(By.NAME, "dst_port").send_keys("53")
    browser.find_element(By.ID, "apply").click()
    _wait(browser, lambda: len(_rows(browser, "flows")) == 1, "one flow after the filter")
    assert _rows(browser, "flows")[0][0] == "10.5.0.3:41001"
    # a wrong filter value shows the API's message, not a blank page
    browser.find_element(By.NAME, "src_ip").send_keys("not-an-ip")
    browser.find_element(By.ID, "apply").click()
    _wait(browser, lambda: "src_ip" in browser.find_element(By.ID, "status").text, "the error message")
    browser.find_element(By.ID, "clear").click()
    _wait(browser, lambda: len(_rows(browser, "flows")) == 2, "both flows after clear")
    # nothing but the page itself and the API were requested
    for entry in browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"):
        assert entry.startswith("http://127.0.0.1:%d/" % agg.api_port), entry
