# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention of flow indices: an Elasticsearch ILM policy, and the template settings that attach it.

The index template itself is flows/index_template.py (the flow aggregator's, one template for both paths);
this module only adds the lifecycle. Logstash writes one index per day (``flows-YYYY.MM.dd``), so the policy
deletes an index ``retention`` after its creation; no rollover is needed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.index_template import index_template

_DURATION = re.compile(r"^([1-9][0-9]*)(d|h|m)$")


class RetentionError(ValueError):
    pass


def check_retention(value):
    text = str(value).strip()
    if not _DURATION.match(text):
        raise RetentionError("retention: %r is not a duration such as 7d, 36h or 90m" % (value,))
    return text


def ilm_policy(retention="7d", warm_after=""):
    """Body of ``PUT _ilm/policy/<name>``: delete an index ``retention`` after it was created."""
    phases = {"hot": {"min_age": "0ms", "actions": {"set_priority": {"priority": 100}}},
              "delete": {"min_age": check_retention(retention), "actions": {"delete": {}}}}
    if warm_after:
        phases["warm"] = {"min_age": check_retention(warm_after), "actions": {"set_priority": {"priority": 50}}}
    return {"policy": {"phases": phases}}


def flow_index_template(index="flows", policy_name="", shards=1, replicas=0):
    """The aggregator's index template for ``index`` and ``index-*``, with the ILM policy attached if named.

    The patterns are the aggregator sink's own (its ``install_template``), so both install the same template
    under the same name (``<index>-flows``).
    """
    body = copy.deepcopy(index_template([index, index + "-*"], shards=shards, replicas=replicas))
    if policy_name:
        body["template"]["settings"]["index.lifecycle.name"] = policy_name
    return body


def template_name(index="flows"):
    return "%s-flows" % index
