# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The network namespace a module works in: one option, documented once.
    DOCUMENTATION = r"""
options:
  netns:
    description:
      - The network namespace to work in, for example a pod's.
      - An C(ip netns) name (V(cni-1234), a file under C(/var/run/netns)), a path such as
        V(/var/run/netns/cni-1234) or V(/proc/4242/ns/net), or the PID of a process in the namespace
        (for a container, the PID that C(crictl inspect) or C(docker inspect) reports).
      - Omitted, the module works in its own namespace (the node's).
    type: str
"""
