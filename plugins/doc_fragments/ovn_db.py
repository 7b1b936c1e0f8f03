# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How to reach the OVN Northbound and Southbound databases (shared by the OVN modules).
    DOCUMENTATION = r"""
options:
  db:
    description:
      - The OVN Southbound database remote, as C(unix:/var/run/ovn/ovnsb_db.sock), C(tcp:HOST:6642) or
        C(ssl:HOST:6642); a comma-separated list for a clustered database.
      - When omitted, the OVN tools use their own default (the E(OVN_SB_DB) environment variable, else the
        local C(unix:/var/run/ovn/ovnsb_db.sock)).
    type: str
  nb_db:
    description:
      - The OVN Northbound database remote (same forms as O(db)), read to name the ACL behind a drop.
      - When omitted, C(ovn-nbctl) uses its default (E(OVN_NB_DB), else the local C(unix:/var/run/ovn/ovnnb_db.sock)).
    type: str
  private_key:
    description:
      - Private key file for C(ssl:) remotes. Required, with O(certificate) and O(ca_cert), when O(db) or
        O(nb_db) is an C(ssl:) remote.
    type: path
  certificate:
    description:
      - Certificate file for O(private_key), for C(ssl:) remotes.
    type: path
  ca_cert:
    description:
      - CA certificate file that signed the database server's certificate, for C(ssl:) remotes.
    type: path
"""
