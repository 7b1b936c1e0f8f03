# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Name the Northbound ACL behind a logical flow that dropped or rejected a traced packet.

The way ovn-detrace does it: the trace shows the logical flow's UUID prefix; the Southbound Logical_Flow
row carries ``external_ids:stage-hint``, the first 8 hex digits of the Northbound row the flow came from;
for an ACL stage that row is the ACL. When the trace has no UUID (summary/minimal formats, or a flow
without a hint) the ACL name from ``log(name=...)`` is looked up instead. The ACL's ``external_ids`` is where
OVN-Kubernetes records the NetworkPolicy and Neutron the security group rule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.cli_runner import CliError, CliRunner, run_argv

UUID_PREFIX_RE = re.compile(r"^[0-9a-f]{4,8}(-[0-9a-f-]*)?$")
LOG_NAME_RE = re.compile(r'log\([^)]*?name\s*=\s*"?([^",)]+)"?')
LOG_LINE_RE = re.compile(r"LOG: ACL name=([^,]+),")
# ACL verdicts as the ACL stages write them: a drop, a reject, and (with conntrack) the "blocked" commit
ACL_VERDICT_RE = re.compile(r"\bdrop;|\breject\b|verdict=(drop|reject)|ct_mark\.blocked = 1|ct_label\.blocked = 1|"
                            r"reg8\[17\] = 1|reg8\[18\] = 1")
ACL_COLUMNS = ("name", "priority", "direction", "match", "action", "label", "severity", "log", "tier", "meter",
               "external_ids", "options")


class AclLookupError(TracekitError):
    pass


def ovsdb_value(value):
    """Turn an OVSDB JSON cell (``["uuid", x]``, ``["set", [...]]``, ``["map", [[k, v]...]]``) into Python."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, data = value
        if kind in ("uuid", "named-uuid"):
            return data
        if kind == "set":
            items = [ovsdb_value(item) for item in data]
            return items
        if kind == "map":
            return dict((ovsdb_value(k), ovsdb_value(v)) for k, v in data)
    return value


def ovsdb_rows(text):
    """Rows of ``ovn-nbctl --format=json`` output as dicts; optional columns (empty set) become None."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AclLookupError("unexpected output from the database client (not JSON: %s): %s" % (exc, text[:200]))
    headings = doc.get("headings", [])
    rows = []
    for data in doc.get("data", []):
        row = {}
        for name, cell in zip(headings, data):
            value = ovsdb_value(cell)
            if isinstance(cell, list) and cell and cell[0] == "set" and len(value) <= 1 and name != "acls":
                value = value[0] if value else None
            row[name] = value
        rows.append(row)
    return rows


def hop_actions(hop):
    actions = hop.get("actions") or []
    if isinstance(actions, str):
        return actions
    return "\n".join(str(a) for a in actions)


def acl_name_in(text):
    for regex in (LOG_NAME_RE, LOG_LINE_RE):
        match = regex.search(text or "")
        if match:
            return match.group(1).strip()
    return None


def is_acl_stage(stage):
    # ls_in_acl, ls_out_acl (<= 23.03), ls_in_acl_eval/ls_in_acl_action (>= 23.06), and the tiered variants
    return bool(stage) and "_acl" in stage and "hint" not in stage and not stage.endswith("pre_acl")


def verdict_hop(parsed):
    """The hop of an ACL stage that dropped/rejected the packet, or None (not an ACL, or no hops)."""
    drop = parsed.get("drop") or None
    if drop and (is_acl_stage(drop.get("stage")) or drop.get("acl")):
        return drop
    if parsed.get("verdict") not in ("dropped", "rejected"):
        return None
    for hop in reversed(parsed.get("hops") or []):
        if is_acl_stage(hop.get("stage")) and ACL_VERDICT_RE.search(hop_actions(hop)):
            return hop
    return None


class AclLookup(object):
    """Query the SB and NB databases with ovn-sbctl/ovn-nbctl --format=json (argv, never a shell)."""

    def __init__(self, sb_db=None, nb_db=None, ssl=None, timeout=10, sbctl="ovn-sbctl", nbctl="ovn-nbctl",
                 module=None):
        self.sb_db = sb_db
        self.nb_db = nb_db
        self.ssl = list(ssl or [])
        self.timeout = timeout
        self.sbctl = sbctl
        self.nbctl = nbctl
        self.module = module
        self.commands = []

    def _ctl(self, program, remote, args):
        base = ["--format=json", "--no-leader-only", "--timeout=%d" % max(1, int(self.timeout))]
        if remote:
            base.insert(0, "--db=%s" % remote)
        runner = CliRunner(program, module=self.module, timeout=self.timeout + 5)
        cmd = runner.argv([], tail=self.ssl + base + list(args))
        self.commands.append(cmd)
        try:
            _rc, out, _err = run_argv(cmd, timeout=self.timeout + 5)
        except CliError as exc:
            raise AclLookupError(str(exc))
        return ovsdb_rows(out)

    def sb(self, *args):
        return self._ctl(self.sbctl, self.sb_db, args)

    def nb(self, *args):
        return self._ctl(self.nbctl, self.nb_db, args)

    def logical_flow(self, uuid_prefix):
        if not UUID_PREFIX_RE.match(uuid_prefix or ""):
            raise AclLookupError("%r is not a logical flow UUID prefix" % uuid_prefix)
        rows = self.sb("--columns=_uuid,external_ids", "list", "Logical_Flow", uuid_prefix)
        return rows[0] if rows else None

    def acl_by_uuid(self, uuid_prefix):
        # every column: which exist depends on the OVN version (label 20.12+, options 22.03+, tier 23.06+)
        rows = self.nb("list", "ACL", uuid_prefix)
        return rows[0] if rows else None

    def acls_by_name(self, name):
        return self.nb("find", "ACL", "name=%s" % json.dumps(name))

    def applied_to(self, acl_uuid):
        """Port groups and switches that hold the ACL (OVN-Kubernetes encodes the policy in the group name)."""
        out = {}
        for table, key in (("Port_Group", "port_groups"), ("Logical_Switch", "switches")):
            rows = self.nb("--columns=name", "find", table, "acls{>=}%s" % acl_uuid)
            out[key] = sorted(row["name"] for row in rows if row.get("name"))
        return out


def acl_record(row, found_by, lflow=None, applied=None):
    acl = {"uuid": row.get("_uuid"), "found_by": found_by, "lflow_uuid": lflow}
    for column in ACL_COLUMNS:
        acl[column] = row.get(column)
    acl["external_ids"] = acl.get("external_ids") or {}
    acl["options"] = acl.get("options") or {}
    acl.update(applied or {"port_groups": [], "switches": []})
    return acl


def policy_of(acl):
    """What the ACL stands for, from external_ids: an OVN-Kubernetes NetworkPolicy or a Neutron rule, or None."""
    ext = (acl or {}).get("external_ids") or {}
    name = ext.get("k8s.ovn.org/name") or ext.get("k8s.ovn.org/id")
    if name:
        kind = ext.get("k8s.ovn.org/owner-type") or "NetworkPolicy"
        namespace = ext.get("k8s.ovn.org/namespace")
        return "%s %s%s" % (kind, "%s/" % namespace if namespace else "", name)
    for key in ("neutron:security_group_rule_id", "neutron:security_group_id"):
        if ext.get(key):
            return "Neutron %s %s" % (key.split(":", 1)[1].replace("_", " "), ext[key])
    return None


def describe_acl(acl):
    """One line for reports: ACL name, direction, priority, action and the policy it stands for."""
    text = "ACL %s (%s, priority %s, %s)" % (
        acl.get("name") or acl.get("uuid"), acl.get("direction"), acl.get("priority"), acl.get("action"))
    policy = policy_of(acl)
    return text + (" from %s" % policy if policy else "")


def _hints(parsed, acl_hints):
    """lflow uuid prefix, ACL name and match of the deciding ACL flow: the parser's, else found here."""
    hints = acl_hints(parsed) if acl_hints is not None else None
    if hints:
        return hints
    hop = verdict_hop(parsed)
    if hop is None:
        return None
    return {"lflow_uuid_prefix": hop.get("uuid"), "name": acl_name_in(hop_actions(hop)), "match": hop.get("match")}


def find_acl(parsed, lookup, stdout="", acl_hints=None):
    """Return (acl or None, notes): the NB ACL that dropped/rejected the traced packet, and why not if none.

    ``acl_hints`` is the parser's function giving the deciding flow's uuid prefix and ACL name.
    """
    notes = []
    hints = _hints(parsed, acl_hints)
    if hints is None:
        if parsed.get("verdict") in ("dropped", "rejected"):
            notes.append("the packet was %s outside an ACL stage: no ACL to look up" % parsed["verdict"])
        return None, notes
    name = hints.get("name")
    if not name and parsed.get("format") != "detailed":
        name = acl_name_in(stdout)
    uuid = hints.get("lflow_uuid_prefix")
    if uuid:
        try:
            lflow = lookup.logical_flow(uuid)
            hint = (lflow or {}).get("external_ids", {}).get("stage-hint")
            if lflow is None:
                notes.append("logical flow %s is not in the Southbound database (changed since the trace?)" % uuid)
            elif not hint:
                notes.append("logical flow %s has no stage-hint: it was not generated from an ACL" % uuid)
            else:
                row = lookup.acl_by_uuid(hint)
                if row is None:
                    notes.append("stage-hint %s of logical flow %s is not an ACL in the Northbound database"
                                 % (hint, uuid))
                else:
                    return acl_record(row, "stage-hint", lflow["_uuid"], lookup.applied_to(row["_uuid"])), notes
        except AclLookupError as exc:
            notes.append("lookup through the logical flow failed: %s" % exc)
    if name:
        try:
            rows = lookup.acls_by_name(name)
        except AclLookupError as exc:
            notes.append("lookup of ACL name %r failed: %s" % (name, exc))
            return None, notes
        if not rows:
            notes.append("no ACL named %r in the Northbound database" % name)
            return None, notes
        if len(rows) > 1:
            match = hints.get("match") or ""
            narrowed = [row for row in rows if row.get("match") and row["match"] in match]
            notes.append("%d ACLs are named %r; %s" % (len(rows), name, "picked the one whose match is in the "
                                                       "flow" if len(narrowed) == 1 else "picked the first"))
            rows = narrowed if len(narrowed) == 1 else rows
        return acl_record(rows[0], "log-name", None, lookup.applied_to(rows[0]["_uuid"])), notes
    if not uuid:
        notes.append("the trace shows neither a logical flow UUID nor an ACL name (use format detailed)")
    return None, notes
