# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``diagnosis.html``: the diagnosis as a page a person can look at.

The probe's path is drawn with HTML and CSS (no script, no asset from elsewhere): the source, then each node
and namespace in the order the captures saw the probe there, each hop a card with what was seen (kernel,
nftables, OVN, VPP), its time since the probe left, and the drop point highlighted with its reason, rule and
policy. The raw evidence (observations, replies, the whole JSON) folds below in ``<details>``. The page has
a dark variant (``prefers-color-scheme``) and a print layout (``@media print``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import json

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError, policy_text, rule_ref

CSS = """
:root { --bg: #ffffff; --fg: #1d2330; --muted: #5b6475; --card: #f3f5f9; --line: #c5cbd6; --drop: #c62828;
  --drop-bg: #fdecea; --ok: #2e7d32; --accent: #1f5fbf; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #12151b; --fg: #e6e9ef; --muted: #a2abbb; --card: #1e232c; --line: #3a4252; --drop: #ff6b6b;
    --drop-bg: #3a1d1f; --ok: #7bd88f; --accent: #7fb0ff; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 17px; margin: 26px 0 10px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 700; text-transform: uppercase;
  border: 2px solid currentColor; }
.verdict.dropped, .verdict.rejected { color: var(--drop); } .verdict.delivered { color: var(--ok); }
.verdict.no_reply { color: var(--muted); }
.summary { font-size: 16px; margin: 10px 0 0; }
.path { display: flex; flex-wrap: wrap; align-items: stretch; gap: 8px; }
.place { border: 1px solid var(--line); border-radius: 10px; padding: 8px; background: var(--card); flex: 0 1 300px; }
.place.has-drop { border: 2px solid var(--drop); }
.role { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.place > .where { font-weight: 700; } .place > .ns { color: var(--muted); font-size: 13px; margin-bottom: 6px; }
.arrow { align-self: center; font-size: 22px; color: var(--muted); }
.hop { border-left: 4px solid var(--accent); background: var(--bg); border-radius: 6px; padding: 5px 8px; margin: 5px 0; }
.hop .what { font-weight: 600; } .hop .meta { color: var(--muted); font-size: 12px; }
.hop.drop { border-left-color: var(--drop); background: var(--drop-bg); outline: 2px solid var(--drop); }
.droppoint { border: 2px solid var(--drop); background: var(--drop-bg); border-radius: 10px; padding: 12px 16px; }
.droppoint dt { font-weight: 700; float: left; width: 7.5em; clear: left; }
.droppoint dd { margin: 0 0 4px 8em; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
pre { white-space: pre-wrap; word-break: break-all; background: var(--card); padding: 10px; border-radius: 8px; }
@media print {
  :root { --bg: #fff; --fg: #000; --muted: #444; --card: #fff; --line: #888; --drop: #b00000; --drop-bg: #fff; }
  body { padding: 0; font-size: 11pt; }
  .place, .droppoint, .hop { break-inside: avoid; }
  details > *:not(summary) { display: block; }
  pre { max-height: none; }
}
"""


def _e(value):
    return html.escape("" if value is None else str(value))


def _places(observations):
    """Consecutive observations at the same (node, netns) grouped, in time order."""
    groups = []
    for obs in observations:
        key = (obs.get("node"), obs.get("netns"), obs.get("endpoint"))
        if groups and groups[-1][0] == key:
            groups[-1][1].append(obs)
        else:
            groups.append((key, [obs]))
    return groups


def _is_drop(obs, point):
    if not point:
        return False
    return (obs.get("action") in ("Dropped", "Rejected") and obs.get("node") == point.get("node")
            and obs.get("netns") == point.get("netns") and obs.get("component") == point.get("component"))


def render(diagnosis):
    """The HTML page (a str) of a diagnosis dict (docs/diagnosis.md)."""
    if not isinstance(diagnosis, dict) or "verdict" not in diagnosis:
        raise DiagnosisError("diagnosis_html needs the diagnosis dict of the diagnose filter (with a verdict)")
    verdict = diagnosis.get("verdict")
    point = diagnosis.get("drop_point") or None
    probe = diagnosis.get("probe") or {}
    observations = diagnosis.get("observations") or []
    times = [o.get("time") for o in observations if isinstance(o.get("time"), (int, float))]
    t0 = min(times) if times else None
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<meta name="color-scheme" content="light dark">',
           "<title>tracekit diagnosis: %s</title><style>%s</style></head><body>" % (_e(verdict), CSS),
           '<h1>Probe diagnosis <span class="verdict %s" id="verdict">%s</span></h1>' % (_e(verdict), _e(verdict)),
           '<p class="summary" id="summary">%s</p>' % _e(diagnosis.get("summary")),
           "<h2>Path of the probe</h2>", '<div class="path" id="path" role="list">']
    first = True
    drawn_drop = False
    dst_name = probe.get("dst_endpoint")
    for (node, netns, endpoint), group in _places(observations):
        if not first:
            out.append('<div class="arrow" aria-hidden="true">&#8594;</div>')
        role = "source" if first else ("destination" if endpoint and endpoint == dst_name else "")
        first = False
        label = node or endpoint or "unknown place"
        parts = ("netns %s" % netns if netns else None,
                 ("for %s" % endpoint) if endpoint and endpoint != label else None)
        sub = " \u00b7 ".join(x for x in parts if x)
        has_drop = any(_is_drop(o, point) for o in group)
        out.append('<div class="place%s" role="listitem"><div class="role">%s</div><div class="where">%s</div>'
                   '<div class="ns">%s</div>' % (" has-drop" if has_drop else "", _e(role or "hop"), _e(label),
                                                 _e(sub or " ")))
        for obs in group:
            drop = not drawn_drop and _is_drop(obs, point)
            drawn_drop = drawn_drop or drop
            when = ""
            if t0 is not None and isinstance(obs.get("time"), (int, float)):
                when = "+%.1f ms" % ((obs["time"] - t0) * 1000.0)
                if obs.get("source") == "nft-trace":  # nftables traces carry no time: this is when it was read
                    when = "read " + when
            extra = ""
            if obs.get("rule"):
                extra = "<div class=\"meta\">%s</div>" % _e(rule_ref(obs["rule"]))
            out.append('<div class="hop%s"%s><div class="what">%s &middot; %s</div><div>%s</div>%s'
                       '<div class="meta">%s &middot; %s</div></div>'
                       % (" drop" if drop else "", ' id="drop-hop"' if drop else "", _e(obs.get("action")),
                          _e(obs.get("component")), _e(obs.get("reason")), extra, _e(obs.get("source")), _e(when)))
        out.append("</div>")
    out.append("</div>")
    if point:
        out.append('<h2>Drop point</h2><div class="droppoint" id="drop-point"><dl>')
        rows = [("Where", ", ".join(x for x in (point.get("node"), point.get("endpoint"), point.get("netns")) if x)),
                ("Seen by", point.get("component")), ("Reason", point.get("reason"))]
        rule = point.get("rule")
        if rule:
            rows.append(("Rule", rule_ref(rule)))
            if rule.get("text"):
                rows.append(("Rule text", rule.get("text")))
            if rule.get("comment"):
                rows.append(("Comment", rule.get("comment")))
        if point.get("policy"):
            rows.append(("Policy", policy_text(point["policy"])))
        rows.append(("Detail", point.get("detail")))
        for key, value in rows:
            ident = ' id="drop-policy"' if key == "Policy" else ""
            shown = "<code>%s</code>" % _e(value) if key == "Rule text" else _e(value)
            out.append("<dt>%s</dt><dd%s>%s</dd>" % (_e(key), ident, shown))
        out.append("</dl></div>")
    out.append("<h2>Evidence</h2>")
    out.append("<details><summary>Observations (%d)</summary><table><tr><th>time</th><th>node</th><th>netns</th>"
               "<th>component</th><th>action</th><th>reason</th></tr>" % len(observations))
    for obs in observations:
        when = "+%.1f ms" % ((obs["time"] - t0) * 1000.0) if t0 is not None and isinstance(
            obs.get("time"), (int, float)) else ""
        out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
                   % tuple(_e(x) for x in (when, obs.get("node"), obs.get("netns"), obs.get("component"),
                                           obs.get("action"), obs.get("reason"))))
    out.append("</table></details>")
    out.append("<details><summary>Probe</summary><pre>%s</pre></details>" % _e(json.dumps(probe, indent=2, sort_keys=True, default=str)))
    out.append("<details><summary>diagnosis.json</summary><pre>%s</pre></details>"
               % _e(json.dumps(diagnosis, indent=2, sort_keys=True, default=str)))
    out.append("</body></html>\n")
    return "\n".join(out)
