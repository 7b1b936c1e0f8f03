# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance traces: many expected flows probed in one capture window, each checked against its expectation.

``expand_flows`` turns the user's input (a list of flows, or a matrix of sources x destinations x ports with
a default expectation and exceptions) into flows. ``plan`` resolves every flow's endpoints with
``probe_plan.plan_probe``, as ``diagnose_drop.yml`` does, and gives each probe a tag of its own, so one
capture per node serves all flows and the evidence can be split by tag afterwards. ``report`` compares each flow's diagnosis (made by the
``diagnose`` filter, as for a single run) with its expectation; ``junit_xml`` and ``html_table`` render it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import html
import json
import random
import xml.etree.ElementTree as ET

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError, policy_text, rule_ref
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.probe_plan import netns_endpoints, plan_probe, unique

EXPECTATIONS = ("delivered", "rejected", "dropped", "no_reply", "not delivered")
NOT_DELIVERED = ("rejected", "dropped", "no_reply")
PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6")
FLOW_KEYS = ("src", "dst", "protocol", "dst_port", "expect", "family", "name")
MAX_FLOWS = 1000
# Verdict colours of the truth table (also used for the legend); "error" is a flow that could not be probed.
COLOURS = {"delivered": "#2e7d32", "rejected": "#ef6c00", "dropped": "#c62828", "no_reply": "#616161",
           "error": "#6a1b9a"}


class ComplianceError(TracekitError):
    """Bad compliance input; the message names the flow and what was wrong."""


# ------------------------------------------------------------------ input


def _port(value, where):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ComplianceError("%s: dst_port %r is not a number" % (where, value))
    if not 0 < port < 65536:
        raise ComplianceError("%s: dst_port %d is out of range (1-65535)" % (where, port))
    return port


def normalize_flow(raw, where):
    """One flow checked and with defaults: ``{src, dst, protocol, dst_port, expect, family, name}``."""
    if not isinstance(raw, dict):
        raise ComplianceError("%s must be a mapping with src, dst, protocol, dst_port and expect, got %r"
                              % (where, raw))
    unknown = sorted(set(raw) - set(FLOW_KEYS))
    if unknown:
        raise ComplianceError("%s has unknown keys %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(FLOW_KEYS)))
    for key in ("src", "dst"):
        if raw.get(key) is None or str(raw[key]).strip() == "":
            raise ComplianceError("%s has no %s (an endpoint name or IP address)" % (where, key))
    protocol = str(raw.get("protocol") or "tcp").lower()
    if protocol not in PROTOCOLS:
        raise ComplianceError("%s: protocol %r is not one of %s" % (where, raw.get("protocol"), ", ".join(PROTOCOLS)))
    if protocol in ("tcp", "udp"):
        if raw.get("dst_port") in (None, ""):
            raise ComplianceError("%s: protocol %s needs dst_port" % (where, protocol))
        port = _port(raw["dst_port"], where)
    else:
        if raw.get("dst_port") not in (None, ""):
            raise ComplianceError("%s: dst_port makes no sense with protocol %s" % (where, protocol))
        port = None
    expect = raw.get("expect")
    if expect not in EXPECTATIONS:
        raise ComplianceError("%s: expect %r is not one of %s" % (where, expect, ", ".join(EXPECTATIONS)))
    family = raw.get("family")
    if family not in (None, "", 4, 6, "4", "6"):
        raise ComplianceError("%s: family %r is not 4 or 6" % (where, family))
    flow = {"src": str(raw["src"]).strip(), "dst": str(raw["dst"]).strip(), "protocol": protocol, "dst_port": port,
            "expect": expect, "family": int(family) if family not in (None, "") else None}
    flow["name"] = str(raw.get("name") or flow_name(flow))
    return flow


def flow_name(flow):
    what = flow["protocol"] if flow.get("dst_port") is None else "%s/%s" % (flow["protocol"], flow["dst_port"])
    return "%s -> %s %s" % (flow["src"], flow["dst"], what)


def parse_port(value, where):
    """A matrix port: ``tcp/8080``, ``udp/53``, ``icmp``, ``8080`` (tcp) or ``{protocol, dst_port}``."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"protocol", "dst_port"})
        if unknown:
            raise ComplianceError("%s has unknown keys %s (use protocol and dst_port)" % (where, ", ".join(unknown)))
        return {"protocol": str(value.get("protocol") or "tcp").lower(), "dst_port": value.get("dst_port")}
    text = str(value).strip().lower()
    if "/" in text:
        protocol, _sep, port = text.partition("/")
        return {"protocol": protocol, "dst_port": port}
    if text in ("icmp", "icmpv6"):
        return {"protocol": text, "dst_port": None}
    if text.isdigit():
        return {"protocol": "tcp", "dst_port": text}
    raise ComplianceError("%s: %r is not a port (write tcp/8080, udp/53, icmp or a number)" % (where, value))


def _matches(exception, flow):
    """Does a matrix exception apply to this flow? An absent key matches any value."""
    if exception.get("src") is not None and str(exception["src"]) != flow["src"]:
        return False
    if exception.get("dst") is not None and str(exception["dst"]) != flow["dst"]:
        return False
    if exception.get("protocol") is not None and str(exception["protocol"]).lower() != flow["protocol"]:
        return False
    if exception.get("dst_port") is not None and (flow["dst_port"] is None
                                                  or int(exception["dst_port"]) != flow["dst_port"]):
        return False
    return True


def expand_matrix(matrix):
    """Flows of ``{sources, destinations, ports, expect, exceptions}``; a source never probes itself.

    Each exception names some of ``src``, ``dst``, ``protocol``, ``dst_port`` (an absent key matches any)
    and the ``expect`` for the flows it matches; the first matching exception wins.
    """
    if not isinstance(matrix, dict):
        raise ComplianceError("matrix must be a mapping with sources, destinations, ports and expect")
    unknown = sorted(set(matrix) - {"sources", "destinations", "ports", "expect", "exceptions"})
    if unknown:
        raise ComplianceError("matrix has unknown keys %s (allowed: sources, destinations, ports, expect, exceptions)"
                              % ", ".join(unknown))
    for key in ("sources", "destinations", "ports"):
        if not isinstance(matrix.get(key), list) or not matrix[key]:
            raise ComplianceError("matrix.%s must be a non-empty list" % key)
    default = matrix.get("expect")
    if default not in EXPECTATIONS:
        raise ComplianceError("matrix.expect %r is not one of %s" % (default, ", ".join(EXPECTATIONS)))
    exceptions = matrix.get("exceptions") or []
    if not isinstance(exceptions, list):
        raise ComplianceError("matrix.exceptions must be a list")
    for index, exc in enumerate(exceptions):
        where = "matrix.exceptions[%d]" % index
        if not isinstance(exc, dict):
            raise ComplianceError("%s must be a mapping" % where)
        unknown = sorted(set(exc) - {"src", "dst", "protocol", "dst_port", "expect"})
        if unknown:
            raise ComplianceError("%s has unknown keys %s" % (where, ", ".join(unknown)))
        if exc.get("expect") not in EXPECTATIONS:
            raise ComplianceError("%s: expect %r is not one of %s" % (where, exc.get("expect"), ", ".join(EXPECTATIONS)))
        if exc.get("dst_port") is not None:
            _port(exc["dst_port"], where)
    ports = [parse_port(p, "matrix.ports[%d]" % i) for i, p in enumerate(matrix["ports"])]
    flows = []
    for src in matrix["sources"]:
        for dst in matrix["destinations"]:
            if str(src) == str(dst):
                continue
            for port in ports:
                flow = normalize_flow({"src": src, "dst": dst, "protocol": port["protocol"],
                                       "dst_port": port["dst_port"], "expect": default},
                                      "matrix flow %s -> %s %s" % (src, dst, port["protocol"]))
                for exc in exceptions:
                    if _matches(exc, flow):
                        flow["expect"] = exc["expect"]
                        break
                flows.append(flow)
    return flows


def expand_flows(flows=None, matrix=None):
    """The flows to check, each with an ``id`` (``f001``...), from a list, a matrix, or both (list first)."""
    if flows is None:
        flows = []
    if not isinstance(flows, list):
        raise ComplianceError("flows must be a list of {src, dst, protocol, dst_port, expect}, got %s"
                              % type(flows).__name__)
    out = [normalize_flow(raw, "flows[%d]" % i) for i, raw in enumerate(flows)]
    if matrix:
        out += expand_matrix(matrix)
    if not out:
        raise ComplianceError("no flows to check: give flows (a list, or flows_file) or a matrix")
    if len(out) > MAX_FLOWS:
        raise ComplianceError("%d flows is more than one run checks (at most %d): split the matrix"
                              % (len(out), MAX_FLOWS))
    width = max(3, len(str(len(out))))
    names = {}
    for index, flow in enumerate(out):
        flow["id"] = "f%0*d" % (width, index + 1)
        if flow["name"] in names:
            raise ComplianceError("flow %r is given twice (%s and %s)" % (flow["name"], names[flow["name"]], flow["id"]))
        names[flow["name"]] = flow["id"]
    return out


# ------------------------------------------------------------------ plan


def tag_bases(seed):
    """Bases for the per-run tags (IPv4 ID, IPv6 flow label, ICMP id, DSCP), derived from the run's seed."""
    digest = hashlib.sha256(str(seed).encode("utf-8")).digest()
    return {"ip_id": int.from_bytes(digest[0:2], "big"), "flow_label": int.from_bytes(digest[2:5], "big") & 0xFFFFF,
            "icmp_id": int.from_bytes(digest[5:7], "big"), "dscp": digest[7] % 63}


def probe_tag(index, bases):
    """Flow number ``index``'s tag: IPv4 ID, flow label and ICMP id are unique in the run; DSCP cycles 1-63."""
    return {"dscp": 1 + (bases["dscp"] + index) % 63, "ip_id": (bases["ip_id"] + index) & 0xFFFF,
            "flow_label": (bases["flow_label"] + index) & 0xFFFFF, "icmp_id": (bases["icmp_id"] + index) & 0xFFFF}


def _plan_flow(flow, endpoints, nodes, services):
    try:
        planned = plan_probe(flow["src"], flow["dst"], flow["protocol"], endpoints, nodes, services, flow["family"])
    except DiagnosisError as exc:
        raise ComplianceError("flow %s (%s): %s" % (flow["id"], flow["name"], exc))
    return dict(flow, src_endpoint=planned["src"], dst_endpoint=planned["dst"], aliases=planned["aliases"],
                capture_nodes=planned["capture_nodes"], filter_ips=planned["filter_ips"],
                probe_protocol=planned["protocol"])


def plan(flows, endpoints=None, nodes=None, services=None, seed=None, ttl=64):
    """Resolve every flow and give its probe a tag of its own.

    Returns ``{flows, probes_by_node, capture_nodes, filter_ips, netns_endpoints, nft_tags}``: ``probes_by_node`` maps
    a source node to the probes it sends (the options of ``packet_inject_batch``), ``capture_nodes`` and
    ``filter_ips`` are the union over all flows (one capture per node serves them all).
    """
    endpoints = endpoints or {}
    nodes = nodes or {}
    services = services or {}
    if not nodes:
        raise ComplianceError("the inventory has no tracekit_nodes (docs/inventory.md)")
    bases = tag_bases(seed if seed is not None else random.SystemRandom().getrandbits(64))
    planned = []
    probes_by_node = {}
    for index, flow in enumerate(flows):
        item = _plan_flow(flow, endpoints, nodes, services)
        tag = probe_tag(index, bases)
        src = item["src_endpoint"]
        request = {"id": item["id"], "netns": src.get("netns"), "src": src["ip"], "dst": item["dst_endpoint"]["ip"],
                   "protocol": item["probe_protocol"], "ttl": int(ttl), "tag": tag["dscp"]}
        if item["probe_protocol"] in ("tcp", "udp"):
            request["dst_port"] = item["dst_port"]
        else:
            request["icmp_id"] = tag["icmp_id"]
        if ":" in request["dst"]:
            request["flow_label"] = tag["flow_label"]
        else:
            request["ip_id"] = tag["ip_id"]
        item["request"] = request
        # What the nftables trace matches, and splits its traces by: the probe packet's DSCP and IP ID / label.
        item["nft_tag"] = dict((k, request[k]) for k in ("flow_label", "ip_id") if k in request)
        item["nft_tag"]["dscp"] = tag["dscp"]
        item["source_node"] = src["node"]
        planned.append(item)
        probes_by_node.setdefault(src["node"], []).append(request)
    return {"flows": planned, "probes_by_node": probes_by_node,
            "capture_nodes": sorted(set(n for f in planned for n in f["capture_nodes"])),
            "filter_ips": unique([ip for f in planned for ip in f["filter_ips"]]),
            "netns_endpoints": netns_endpoints(endpoints), "nft_tags": [f["nft_tag"] for f in planned]}


# ------------------------------------------------------------------ checking


def expectation_met(expect, verdict):
    if verdict is None:
        return False
    if expect == "not delivered":
        return verdict in NOT_DELIVERED
    return verdict == expect


def _policy_details(diagnosis):
    """The rule and policy behind a drop, where a capture named them (OVN ACL, nftables rule)."""
    point = diagnosis.get("drop_point") or {}
    out = {}
    # An nftables rule and policy (from the trace) as the summary writes them: "rule `inet t c handle 7`",
    # "NetworkPolicy default/deny-postgres"; the structured ones stay in drop_point.
    for key, text in (("rule", rule_ref), ("policy", policy_text)):
        value = point.get(key)
        if value:
            out[key] = ("nftables " + text(value) if key == "rule" else text(value)) if isinstance(value, dict) \
                else value
    acl = ((diagnosis.get("ovn") or {}).get("acl") or {})
    ids = acl.get("external_ids") or {}
    if ids and "policy" not in out:
        name = ids.get("k8s.ovn.org/name")
        namespace = ids.get("k8s.ovn.org/namespace") or ids.get("namespace")
        if name:
            out["policy"] = "%s/%s" % (namespace, name) if namespace else name
    if acl.get("match") and "rule" not in out:
        out["rule"] = "OVN ACL %s %s" % (acl.get("action") or "", acl.get("match"))
    return out


def failure_message(entry):
    """``expected X, got Y: <diagnosis summary>`` with the rule and policy when known."""
    if entry.get("error"):
        return "expected %s, but the flow could not be probed: %s" % (entry["expect"], entry["error"])
    text = "expected %s, got %s: %s" % (entry["expect"], entry["verdict"], entry["summary"])
    summary = entry["summary"] or ""
    # What the summary already names (the nftables rule and policy of a kernel drop) is not said twice.
    extra = ["%s: %s" % (k, v) for k, v in sorted((entry.get("policy_details") or {}).items())
             if str(v) not in summary and str(v).replace("nftables ", "", 1) not in summary]
    if extra:
        text += " (%s)" % "; ".join(extra)
    return text


def report(planned_flows, diagnoses, run_id=None, started_at=None):
    """Compare each flow's diagnosis with its expectation.

    ``diagnoses`` maps a flow id to the ``diagnose`` filter's result, or to ``{"error": message}`` when the
    flow's probe could not be sent. Returns the ``compliance.json`` document.
    """
    if not isinstance(diagnoses, dict):
        raise ComplianceError("diagnoses must map flow ids to diagnoses")
    entries = []
    for flow in planned_flows:
        diagnosis = diagnoses.get(flow["id"])
        if not isinstance(diagnosis, dict):
            diagnosis = {"error": "no diagnosis was made for this flow"}
        error = diagnosis.get("error") if "verdict" not in diagnosis else None
        verdict = None if error else diagnosis.get("verdict")
        entry = {"id": flow["id"], "name": flow["name"], "src": flow["src"], "dst": flow["dst"],
                 "protocol": flow["protocol"], "dst_port": flow["dst_port"], "expect": flow["expect"],
                 "verdict": verdict if not error else "error", "passed": expectation_met(flow["expect"], verdict),
                 "summary": diagnosis.get("summary") if not error else "could not be probed: %s" % error,
                 "drop_point": diagnosis.get("drop_point"), "error": error,
                 "policy_details": {} if error else _policy_details(diagnosis),
                 "diagnosis": None if error else diagnosis}
        entry["message"] = None if entry["passed"] else failure_message(entry)
        entries.append(entry)
    counts = {}
    for entry in entries:
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    failed = [e for e in entries if not e["passed"]]
    return {"run_id": run_id, "started_at": started_at, "passed": not failed,
            "totals": {"flows": len(entries), "passed": len(entries) - len(failed), "failed": len(failed),
                       "errors": sum(1 for e in entries if e["error"]), "verdicts": counts},
            "flows": entries}


def stats(document):
    """What ``set_stats`` hands to AWX: totals and one line per flow, not the whole diagnoses."""
    return {"passed": document["passed"], "totals": document["totals"], "run_id": document.get("run_id"),
            "failures": [{"id": e["id"], "name": e["name"], "message": e["message"]}
                         for e in document["flows"] if not e["passed"]],
            "flows": [{"id": e["id"], "name": e["name"], "expect": e["expect"], "verdict": e["verdict"],
                       "passed": e["passed"]} for e in document["flows"]]}


# ------------------------------------------------------------------ rendering


def junit_xml(document, suite="compliance_trace"):
    """JUnit XML: one testcase per flow; a failed expectation is a ``failure`` whose message is the diagnosis."""
    totals = document["totals"]
    errors = [e for e in document["flows"] if e["error"]]
    root = ET.Element("testsuites", name=suite, tests=str(totals["flows"]), failures=str(totals["failed"] - len(errors)),
                      errors=str(len(errors)))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(totals["flows"]),
                       failures=str(totals["failed"] - len(errors)), errors=str(len(errors)), skipped="0")
    if document.get("started_at"):
        ts.set("timestamp", str(document["started_at"]))
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="run_id", value=str(document.get("run_id") or ""))
    for entry in document["flows"]:
        case = ET.SubElement(ts, "testcase", name=entry["name"], classname="%s.%s" % (suite, entry["src"]))
        case.set("id", entry["id"])
        if entry["error"]:
            node = ET.SubElement(case, "error", message=entry["message"], type="probe_error")
            node.text = entry["error"]
        elif not entry["passed"]:
            node = ET.SubElement(case, "failure", message=entry["message"],
                                 type="expected_%s_got_%s" % (entry["expect"].replace(" ", "_"), entry["verdict"]))
            node.text = json.dumps({"drop_point": entry["drop_point"], "policy": entry["policy_details"]},
                                   indent=2, sort_keys=True)
        out = ET.SubElement(case, "system-out")
        out.text = "%s: %s" % ((entry["verdict"] or "error").upper(), entry["summary"])
    return ET.tostring(root, encoding="unicode")


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#212121}
table.truth{border-collapse:collapse;margin:1em 0}
table.truth th,table.truth td{border:1px solid #bdbdbd;padding:.35em .5em;vertical-align:top}
table.truth th{background:#eeeeee}
a.flow{display:block;margin:.15em 0;padding:.2em .4em;border-radius:3px;color:#fff;text-decoration:none;
 font-size:.9em;white-space:nowrap}
a.flow.fail{outline:3px solid #000;outline-offset:-3px;font-weight:bold}
td.none{background:#fafafa}
.legend span{display:inline-block;margin-right:1em;padding:.1em .5em;color:#fff;border-radius:3px}
section.flow{border-top:1px solid #bdbdbd;padding:.5em 0}
section.flow h3{margin:.2em 0}
.pass{color:#2e7d32}.failtxt{color:#c62828}
pre{background:#f5f5f5;padding:.5em;overflow:auto;max-height:30em}
table.obs td,table.obs th{border:1px solid #e0e0e0;padding:.2em .4em;font-size:.85em}
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def html_table(document, title="Compliance trace"):
    """A self-contained HTML page: sources by destinations, a coloured link per flow to its diagnosis below."""
    flows = document["flows"]
    sources = unique([f["src"] for f in flows])
    destinations = unique([f["dst"] for f in flows])
    totals = document["totals"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>%s</title><style>%s</style></head><body>" % (_e(title), _CSS),
             "<h1>%s</h1>" % _e(title),
             '<p id="totals" data-passed="%s">%s: %d flows, %d as expected, %d not (run %s)</p>'
             % ("true" if document["passed"] else "false", "PASSED" if document["passed"] else "FAILED",
                totals["flows"], totals["passed"], totals["failed"], _e(document.get("run_id")))]
    parts.append('<p class="legend">' + "".join(
        '<span style="background:%s">%s</span>' % (colour, _e(v)) for v, colour in COLOURS.items())
        + " A cell outlined in black and marked &#10007; is a flow whose verdict differs from its expectation.</p>")
    parts.append('<table class="truth" id="truth"><thead><tr><th>source \\ destination</th>')
    parts += ['<th scope="col">%s</th>' % _e(d) for d in destinations]
    parts.append("</tr></thead><tbody>")
    for src in sources:
        parts.append('<tr><th scope="row">%s</th>' % _e(src))
        for dst in destinations:
            cell = [f for f in flows if f["src"] == src and f["dst"] == dst]
            parts.append('<td%s data-src="%s" data-dst="%s">' % ("" if cell else ' class="none"', _e(src), _e(dst)))
            for f in cell:
                what = f["protocol"] if f["dst_port"] is None else "%s/%s" % (f["protocol"], f["dst_port"])
                parts.append(
                    '<a class="flow %s" id="cell-%s" href="#%s" style="background:%s" data-verdict="%s" '
                    'data-expect="%s" data-passed="%s" title="%s">%s %s %s</a>'
                    % ("pass" if f["passed"] else "fail", _e(f["id"]), _e(f["id"]),
                       COLOURS.get(f["verdict"], COLOURS["error"]), _e(f["verdict"]), _e(f["expect"]),
                       "true" if f["passed"] else "false", _e(f["summary"]), _e(what), _e(f["verdict"]),
                       "&#10003;" if f["passed"] else "&#10007; expected " + _e(f["expect"])))
            parts.append("</td>")
        parts.append("</tr>")
    parts.append("</tbody></table><h2>Diagnoses</h2>")
    for f in flows:
        parts.append('<section class="flow" id="%s" data-verdict="%s"><h3>%s</h3>'
                     % (_e(f["id"]), _e(f["verdict"]), _e(f["name"])))
        parts.append('<p><b>%s</b>, expected %s: <span class="%s">%s</span></p>'
                     % (_e((f["verdict"] or "").upper()), _e(f["expect"]), "pass" if f["passed"] else "failtxt",
                        "as expected" if f["passed"] else "NOT as expected"))
        parts.append('<p class="summary">%s</p>' % _e(f["summary"]))
        if f["drop_point"]:
            point = f["drop_point"]
            parts.append("<p>Drop point: node %s, netns %s, endpoint %s, %s: %s</p>"
                         % (_e(point.get("node")), _e(point.get("netns")), _e(point.get("endpoint")),
                            _e(point.get("component")), _e(point.get("reason"))))
        for key, value in sorted((f.get("policy_details") or {}).items()):
            parts.append("<p>%s: %s</p>" % (_e(key.capitalize()), _e(value)))
        observations = (f.get("diagnosis") or {}).get("observations") or []
        if observations:
            parts.append('<table class="obs"><tr><th>action</th><th>component</th><th>node</th><th>netns</th>'
                         "<th>endpoint</th><th>reason</th></tr>")
            keys = ("action", "component", "node", "netns", "endpoint", "reason")
            for obs in observations:
                parts.append("<tr>%s</tr>" % "".join("<td>%s</td>" % _e(obs.get(k)) for k in keys))
            parts.append("</table>")
        parts.append("<details><summary>diagnosis.json</summary><pre>%s</pre></details>"
                     % _e(json.dumps(f.get("diagnosis") or {"error": f["error"]}, indent=2, sort_keys=True)))
        parts.append('<p><a href="#cell-%s">back to the table</a></p></section>' % _e(f["id"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
