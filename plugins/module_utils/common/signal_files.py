# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files a runbook and a long-running capture (nettrace, nft_trace) talk through.

The capture writes ``ready_file`` once it is attached (or with the error that stopped it, so the waiting
runbook stops waiting at once), and ends early when ``stop_file`` appears. Writes are atomic: a reader never
sees half a file. Errors are raised as the caller's own error type (``error``), naming the file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError


def remove_leftover(path, error=TracekitError, what="file"):
    """Remove what an earlier run left at ``path``; raise ``error`` if its folder is missing or it stays."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise error("%s %s: its directory %s does not exist" % (what, path, parent))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise error("cannot remove the old %s %s: %s" % (what, path, exc.strerror))


def write_json(path, data, error=TracekitError):
    """Write ``data`` as one line of JSON to ``path``, atomically."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "w") as handle:
            json.dump(data, handle)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise error("cannot write %s: %s" % (path, exc.strerror))


def report_failure(ready_file, msg):
    """Best effort: tell a runbook waiting on ``ready_file`` that the capture failed, and why."""
    if ready_file:
        try:
            write_json(ready_file, {"error": msg})
        except TracekitError:
            pass
