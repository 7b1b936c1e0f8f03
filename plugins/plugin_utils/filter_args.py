# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A filter checks its arguments against its own DOCUMENTATION, as ansible.utils' filters do.

One place turns a filter's documented options into an argument spec (types, choices, required, defaults)
and checks the input and keyword arguments against it, so the documentation and the checks cannot drift.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.ansible.utils.plugins.module_utils.common.argspec_validate import (
    AnsibleArgSpecValidator,
)


def validate_filter_args(name, documentation, value, kwargs):
    """Return the filter's arguments as a dict (``_input`` plus every option), checked and converted.

    Raises AnsibleFilterError naming the filter and what was wrong when an argument does not fit the
    options its DOCUMENTATION declares.
    """
    data = {"_input": value}
    data.update(kwargs)
    valid, errors, updated = AnsibleArgSpecValidator(data=data, schema=documentation, name=name).validate()
    if not valid:
        raise AnsibleFilterError("%s: %s" % (name, errors))
    return updated
