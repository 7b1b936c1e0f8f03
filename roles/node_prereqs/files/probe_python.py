# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Describe the Python interpreter that runs this script, and a few node paths, as one JSON object on stdout.

Run by the node_prereqs role with the interpreter Ansible uses on the node: where its packages go
(purelib), whether it is a virtual environment, and which of the modules the collection needs it can
import. It tells BCC's bindings (they have ``bcc.BPF``) apart from PyPI's unrelated ``bcc`` package.
``--path P`` (repeatable) reports whether P exists, is readable and where it resolves; ``--mount M``
(repeatable) lists the file system types mounted on M. One run replaces a handful of stat tasks.

Usage: probe_python.py [--path PATH]... [--mount MOUNTPOINT]...
"""

from __future__ import absolute_import, division, print_function

import importlib
import json
import os
import sys
import sysconfig

MODULES = ("bcc", "scapy", "pyroute2", "netaddr")


def describe(name):
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # pylint: disable=broad-except
        # ImportError, but also OSError when libbcc itself is missing behind a present bcc folder
        return {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
    path = getattr(module, "__file__", None) or ""
    info = {
        "ok": True,
        "path": os.path.dirname(path),
        "version": str(getattr(module, "__version__", "") or getattr(module, "VERSION", "") or ""),
    }
    if name == "bcc" and not hasattr(module, "BPF"):
        info["ok"] = False
        info["error"] = "%s is not BCC (no bcc.BPF): probably the unrelated PyPI package named bcc" % info["path"]
        info["foreign"] = True
    return info


def describe_path(path):
    return {
        "exists": os.path.exists(path),
        "readable": os.access(path, os.R_OK),
        "isdir": os.path.isdir(path),
        "realpath": os.path.realpath(path),
    }


def mounted_types(mountpoint):
    """File system types mounted on mountpoint, from /proc/self/mountinfo (field 5 mount point, then fstype)."""
    types = []
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) < 7 or fields[4] != mountpoint:
                    continue
                types.append(fields[fields.index("-", 6) + 1])
    except (IOError, OSError, ValueError):
        pass
    return types


def parse_args(argv):
    paths, mounts = [], []
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag not in ("--path", "--mount") or not args:
            raise SystemExit("usage: probe_python.py [--path PATH]... [--mount MOUNTPOINT]...")
        (paths if flag == "--path" else mounts).append(args.pop(0))
    return paths, mounts


def main():
    paths, mounts = parse_args(sys.argv[1:])
    base_prefix = getattr(sys, "base_prefix", getattr(sys, "real_prefix", sys.prefix))
    result = {
        "euid": os.geteuid(),
        "executable": sys.executable,
        "realpath": os.path.realpath(sys.executable),
        "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "prefix": sys.prefix,
        "base_prefix": base_prefix,
        "venv": sys.prefix != base_prefix,
        "purelib": sysconfig.get_paths()["purelib"],
        "modules": dict((name, describe(name)) for name in MODULES),
        "paths": dict((path, describe_path(path)) for path in paths),
        "mounts": dict((mount, mounted_types(mount)) for mount in mounts),
    }
    result["purelib_exists"] = os.path.isdir(result["purelib"])
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
