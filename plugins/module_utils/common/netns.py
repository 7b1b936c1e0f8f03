# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network namespaces named the ways operators name them: an ``ip netns`` name, a path, or a PID.

``resolve(spec)`` gives the namespace file and its inode (the number eBPF sees as ``net->ns.inum``);
``entered(path)`` runs a block of code inside it and always returns to where it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import os
import re
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

NETNS_RUN_DIR = "/var/run/netns"
CLONE_NEWNET = 0x40000000
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@:+-]{1,255}$")


class NetnsError(TracekitError):
    pass


def resolve(spec):
    """Return ``{'spec', 'path', 'name', 'inode'}`` for a name, a path or a PID; raise NetnsError if absent.

    ``None``, ``''`` and ``'host'`` mean this process's own namespace.
    """
    if spec in (None, "", "host"):
        path = "/proc/self/ns/net"
        name = None
    else:
        spec = str(spec)
        if spec.isdigit():
            path = "/proc/%s/ns/net" % spec
            name = None
            if not os.path.exists("/proc/%s" % spec):
                raise NetnsError("no process with PID %s, so no network namespace to enter" % spec)
        elif spec.startswith("/"):
            path = spec
            name = os.path.basename(spec) if spec.startswith(NETNS_RUN_DIR + "/") else None
        elif _NAME_RE.match(spec) and spec not in (".", ".."):
            path = os.path.join(NETNS_RUN_DIR, spec)
            name = spec
        else:
            raise NetnsError("%r is not a namespace name, a path or a PID" % spec)
    try:
        inode = os.stat(path).st_ino
    except OSError as exc:
        raise NetnsError("network namespace %r does not exist (%s: %s)" % (spec, path, exc.strerror))
    return {"spec": spec, "path": path, "name": name, "inode": inode}


def named_inodes():
    """Map inode -> name for every namespace under /var/run/netns (how events get a readable netns)."""
    out = {}
    try:
        names = os.listdir(NETNS_RUN_DIR)
    except OSError:
        return out
    for name in names:
        try:
            out[os.stat(os.path.join(NETNS_RUN_DIR, name)).st_ino] = name
        except OSError:
            continue
    return out


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError("setns failed: %s" % os.strerror(err))


@contextlib.contextmanager
def entered(path):
    """Run the block in the namespace at ``path`` (this thread), then return to the original one.

    Sockets opened inside stay in that namespace after the block ends.
    """
    if path in (None, "/proc/self/ns/net"):
        yield
        return
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise NetnsError("cannot open network namespace %s: %s" % (path, exc.strerror))
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)
