# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge several folders into one tree of symbolic links, idempotently.

Debian splits the headers of a kernel into an architecture folder (``linux-headers-X-amd64``: generated
headers, .config) and a ``-common`` folder (the sources). BCC wants one folder holding both
(``BCC_KERNEL_SOURCE``). The merged tree has a real directory wherever two or more sources have a real
directory of the same name, and a symbolic link to the first source's entry everywhere else, so it costs a
few hundred links instead of a copy, and follows package upgrades when rebuilt.

``plan()`` compares the wanted tree with what is on disk and returns the actions; ``apply()`` performs them.
Nothing but symbolic links and directories is ever removed: a regular file in the destination is an error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError


class TreeError(TracekitError):
    """The tree cannot be built or removed safely; ``str()`` says why."""


def _is_real_dir(path):
    return os.path.isdir(path) and not os.path.islink(path)


def wanted_tree(sources):
    """Return ``{relative path: ('dir', None) | ('link', absolute target)}`` for the merged tree."""
    if not sources:
        raise TreeError("no source folder given")
    for src in sources:
        if not os.path.isabs(src):
            raise TreeError("source folder %s is not an absolute path" % src)
        if not _is_real_dir(src):
            raise TreeError("source folder %s does not exist or is not a directory" % src)
    wanted = {}
    _merge([os.path.normpath(s) for s in sources], "", wanted)
    return wanted


def _merge(dirs, rel, wanted):
    names = {}
    order = []
    for folder in dirs:
        for name in sorted(os.listdir(folder)):
            if name not in names:
                names[name] = []
                order.append(name)
            names[name].append(os.path.join(folder, name))
    for name in order:
        paths = names[name]
        path = os.path.join(rel, name) if rel else name
        real_dirs = [p for p in paths if _is_real_dir(p)]
        if _is_real_dir(paths[0]) and len(real_dirs) > 1:
            wanted[path] = ("dir", None)
            _merge(real_dirs, path, wanted)
        else:
            wanted[path] = ("link", paths[0])


def current_tree(dest):
    """Return ``{relative path: ('dir', None) | ('link', target) | ('other', None)}`` found under dest."""
    found = {}
    if not os.path.lexists(dest):
        return found
    for root, dirnames, filenames in os.walk(dest):
        rel_root = os.path.relpath(root, dest)
        for name in dirnames + filenames:
            full = os.path.join(root, name)
            rel = name if rel_root == "." else os.path.join(rel_root, name)
            if os.path.islink(full):
                found[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                found[rel] = ("dir", None)
            else:
                found[rel] = ("other", None)
    return found


def _check_dest(dest, sources=()):
    if not os.path.isabs(dest):
        raise TreeError("dest %s is not an absolute path" % dest)
    dest = os.path.normpath(dest)
    if dest == "/" or dest.count("/") < 2:
        raise TreeError("refusing to manage %s: choose a dedicated folder such as /var/lib/netdiag_tracekit/kernel-src" % dest)
    if os.path.islink(dest):
        raise TreeError("dest %s is a symbolic link; remove it or choose another folder" % dest)
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise TreeError("dest %s exists and is not a directory" % dest)
    for src in sources:
        src = os.path.normpath(src)
        if src == dest or src.startswith(dest + "/") or dest.startswith(src + "/"):
            raise TreeError("dest %s and source %s overlap" % (dest, src))
    return dest


def plan(sources, dest, prune=True):
    """Return the list of actions that turn dest into the merged tree of sources.

    Each action is a dict ``{'action': mkdir|link|relink|remove, 'path': absolute path, 'target': ...}``.
    """
    dest = _check_dest(dest, sources)
    wanted = wanted_tree(sources)
    current = current_tree(dest)
    actions = []
    if not os.path.lexists(dest):
        actions.append({"action": "mkdir", "path": dest, "target": None})
    replaced = set()
    for rel in sorted(wanted):
        if any(rel.startswith(r + "/") for r in replaced):
            have = None
        else:
            have = current.get(rel)
        kind, target = wanted[rel]
        path = os.path.join(dest, rel)
        if have is None:
            actions.append({"action": "mkdir" if kind == "dir" else "link", "path": path, "target": target})
        elif have[0] == "other":
            raise TreeError("%s is a regular file that this tree did not create; remove it by hand" % path)
        elif kind == "dir" and have[0] == "link":
            actions.append({"action": "remove", "path": path, "target": None})
            actions.append({"action": "mkdir", "path": path, "target": None})
        elif kind == "link" and have[0] == "dir":
            _refuse_foreign(dest, rel, current)
            actions.append({"action": "remove", "path": path, "target": None})
            actions.append({"action": "link", "path": path, "target": target})
            replaced.add(rel)
        elif kind == "link" and have[1] != target:
            actions.append({"action": "relink", "path": path, "target": target})
    if prune:
        extra = [rel for rel in current if rel not in wanted and not _under(rel, wanted, replaced)]
        for rel in sorted(extra, key=lambda r: (-r.count("/"), r)):
            if current[rel][0] == "other":
                raise TreeError("%s is a regular file that this tree did not create; remove it by hand"
                                % os.path.join(dest, rel))
            if not any(rel.startswith(e + "/") for e in extra):
                actions.append({"action": "remove", "path": os.path.join(dest, rel), "target": None})
    return actions


def _under(rel, wanted, replaced):
    """True when rel lies below a wanted link or a replaced folder (handled with its parent)."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent in replaced or wanted.get(parent, ("dir",))[0] == "link":
            return True
    return False


def _refuse_foreign(dest, rel, current):
    for other, (kind, _target) in current.items():
        if other.startswith(rel + "/") and kind == "other":
            raise TreeError("%s is a regular file that this tree did not create; remove it by hand"
                            % os.path.join(dest, other))


def _remove(path):
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)


def apply(actions):
    """Perform the actions of ``plan()``; tolerate another run doing the same thing at the same time."""
    for act in actions:
        path = act["path"]
        try:
            if act["action"] == "mkdir":
                parent = os.path.dirname(path)
                if not os.path.isdir(parent):
                    os.makedirs(parent, 0o755)
                os.mkdir(path, 0o755)
            elif act["action"] == "link":
                os.symlink(act["target"], path)
            elif act["action"] == "relink":
                tmp = "%s.tracekit-%d" % (path, os.getpid())
                os.symlink(act["target"], tmp)
                os.rename(tmp, path)
            elif act["action"] == "remove":
                _remove(path)
        except OSError as exc:
            if exc.errno == errno.EEXIST and act["action"] == "mkdir" and _is_real_dir(path):
                continue
            if exc.errno == errno.EEXIST and act["action"] == "link" and os.path.islink(path) \
                    and os.readlink(path) == act["target"]:
                continue
            if exc.errno == errno.ENOENT and act["action"] == "remove":
                continue
            raise TreeError("cannot %s %s: %s" % (act["action"], path, exc))


def plan_absent(dest):
    """Actions that remove dest, which must hold only directories and symbolic links."""
    dest = _check_dest(dest)
    if not os.path.lexists(dest):
        return []
    for rel, (kind, _target) in current_tree(dest).items():
        if kind == "other":
            raise TreeError("%s is a regular file that this tree did not create; refusing to remove %s"
                            % (os.path.join(dest, rel), dest))
    return [{"action": "remove", "path": dest, "target": None}]


def summary(dest):
    """Count the links and directories under dest."""
    links = dirs = 0
    for kind, _target in current_tree(dest).values():
        if kind == "link":
            links += 1
        elif kind == "dir":
            dirs += 1
    return {"links": links, "dirs": dirs}
