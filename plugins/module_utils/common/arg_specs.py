# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of options that several modules share, each beside the doc fragment that documents it
(as kubernetes.core keeps ``args_common.AUTH_ARG_SPEC`` beside ``doc_fragments/k8s_auth_options.py``).

A module that extends a fragment in its DOCUMENTATION builds its argument spec with ``with_spec()`` from
the matching constant, so the option is declared once and documented once. A unit test checks that every
constant matches its fragment (names, types, defaults).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# Documented by the netdiag.tracekit.netns doc fragment (plugins/doc_fragments/netns.py).
NETNS_ARG_SPEC = {
    "netns": {"type": "str"},
}

# Documented by the netdiag.tracekit.ovn_db doc fragment (plugins/doc_fragments/ovn_db.py).
OVN_DB_ARG_SPEC = {
    "db": {"type": "str"},
    "nb_db": {"type": "str"},
    "private_key": {"type": "path"},
    "certificate": {"type": "path"},
    "ca_cert": {"type": "path"},
}

# Doc fragment name -> the spec it documents (used by the test that keeps them in step).
FRAGMENT_SPECS = {
    "netns": NETNS_ARG_SPEC,
    "ovn_db": OVN_DB_ARG_SPEC,
}


def with_spec(*shared, **own):
    """A module's argument spec: copies of the shared specs, then the module's own options."""
    spec = {}
    for part in shared:
        spec.update(copy.deepcopy(part))
    spec.update(own)
    return spec
