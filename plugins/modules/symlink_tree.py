# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: symlink_tree
short_description: Merge several folders into one tree of symbolic links
version_added: 0.1.0
author:
  - netdiag.tracekit developers (@netdiag)
description:
  - Builds O(dest) as the union of the folders in O(src), made of symbolic links; a real directory wherever
    two or more sources have a directory of the same name, a link to the entry of the first source that has
    the name everywhere else.
  - Made for kernel headers split in two packages (Debian's C(linux-headers-X-amd64) and
    C(linux-headers-X-common)), which BCC needs as one folder (E(BCC_KERNEL_SOURCE)), without writing under
    C(/lib/modules).
  - Idempotent; re-run after a package upgrade, it points the links at the new folders and, with O(prune),
    removes links that no longer belong.
  - Only symbolic links and directories are ever removed; a regular file in O(dest) is reported as an error.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  src:
    description:
      - Absolute paths of the folders to merge, in order of precedence (the first source wins when two hold a
        file of the same name).
      - Required when O(state=present).
    type: list
    elements: path
  dest:
    description:
      - The folder to build. Created (with its parents) when missing; it must not be a symbolic link.
    type: path
    required: true
  state:
    description:
      - V(present) builds or updates the tree; V(absent) removes O(dest) (only if it holds nothing but
        directories and symbolic links).
    type: str
    choices: [present, absent]
    default: present
  prune:
    description:
      - Remove links and directories in O(dest) that the sources no longer provide.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff lists the actions (mkdir, link, relink, remove) that were or would be taken.
  platform:
    platforms: posix
seealso:
  - name: BCC reference guide (kernel source lookup)
    description: How BCC finds kernel headers, including the E(BCC_KERNEL_SOURCE) variable.
    link: https://github.com/iovisor/bcc/blob/master/docs/reference_guide.md
"""

EXAMPLES = r"""
- name: Merge Debian's split kernel headers into one folder for BCC
  netdiag.tracekit.symlink_tree:
    src:
      - /usr/src/linux-headers-6.1.0-56-amd64
      - /usr/src/linux-headers-6.1.0-56-common
    dest: /var/lib/netdiag_tracekit/kernel-src

- name: Remove the merged tree
  netdiag.tracekit.symlink_tree:
    dest: /var/lib/netdiag_tracekit/kernel-src
    state: absent
"""

RETURN = r"""
dest:
  description: The folder that was built or removed.
  returned: always
  type: str
  sample: /var/lib/netdiag_tracekit/kernel-src
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: One of mkdir, link, relink, remove.
      type: str
      sample: link
    path:
      description: The path acted on.
      type: str
      sample: /var/lib/netdiag_tracekit/kernel-src/include/linux
    target:
      description: The target of the link, for link and relink; null otherwise.
      type: str
      sample: /usr/src/linux-headers-6.1.0-56-common/include/linux
links:
  description: Number of symbolic links in the tree after the run (0 in check mode when the tree did not exist yet).
  returned: when O(state=present)
  type: int
  sample: 96
dirs:
  description: Number of real directories below O(dest) after the run.
  returned: when O(state=present)
  type: int
  sample: 4
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.headers_tree import (
    TreeError, apply, plan, plan_absent, summary,
)


def _diff(dest, actions):
    lines = ["%s %s%s" % (a["action"], a["path"], " -> %s" % a["target"] if a["target"] else "") for a in actions]
    return {"before_header": dest, "after_header": dest, "before": "", "after": "\n".join(lines) + ("\n" if lines else "")}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="list", elements="path"),
            dest=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            prune=dict(type="bool", default=True),
        ),
        required_if=[("state", "present", ("src",))],
        supports_check_mode=True,
    )
    dest = module.params["dest"]
    try:
        if module.params["state"] == "absent":
            actions = plan_absent(dest)
        else:
            actions = plan(module.params["src"], dest, prune=module.params["prune"])
        if actions and not module.check_mode:
            apply(actions)
    except TreeError as exc:
        module.fail_json(msg="symlink_tree: %s" % exc, dest=dest)
    result = dict(changed=bool(actions), dest=dest, actions=actions)
    if module.params["state"] == "present":
        result.update(summary(dest) if os.path.isdir(dest) else {"links": 0, "dirs": 0})
    if module._diff:
        result["diff"] = _diff(dest, actions)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
