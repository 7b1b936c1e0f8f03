# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command-line tool (ovn-trace, vppctl, nft, conntrack, ip) as an argument list, never a shell.

A ``CliRunner`` knows the program, how each parameter becomes arguments, and runs with a fixed C locale
and a time limit, so module code only says which parameters to pass.

Every command runs through ``subprocess.run`` (``run_argv``), in modules too: an AnsibleModule's
``run_command`` has no time limit, and a tool that hangs (an unreachable OVN database, a stuck vppctl) must
not hang the task. A module given to ``CliRunner`` is only asked where the program is (``get_bin_path``, which
also searches the sbin folders).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError


class CliError(TracekitError):
    """A tool could not be run, timed out, or failed; ``str()`` says which and what it printed."""

    def __init__(self, msg, cmd=None, rc=None, stdout="", stderr=""):
        super(CliError, self).__init__(msg)
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


def as_flag(flag):
    """``True`` -> ``[flag]``; false or None -> nothing."""
    return lambda value: [flag] if value else []


def as_opt_eq(opt):
    """``value`` -> ``['--opt=value']``; None -> nothing."""
    return lambda value: [] if value is None else ["%s=%s" % (opt, value)]


def as_opt_val(opt):
    """``value`` -> ``['--opt', 'value']``; None -> nothing."""
    return lambda value: [] if value is None else [opt, str(value)]


def as_list(opt=None):
    """A list -> each item (after ``opt`` when given); None -> nothing."""
    def fmt(values):
        out = []
        for value in values or []:
            out.extend([opt, str(value)] if opt else [str(value)])
        return out
    return fmt


def as_positional(value):
    return [] if value is None else [str(value)]


class CliRunner(object):
    """Build argv from named parameters and run it.

    ``runner = CliRunner('ovn-trace', {'db': as_opt_eq('--db'), 'minimal': as_flag('--minimal')})``
    ``rc, out, err = runner.run(['db', 'minimal'], db='unix:/x', minimal=True, tail=['sw0', 'inport==...'])``
    """

    def __init__(self, program, formats=None, prefix=None, module=None, timeout=30):
        self.program = program
        self.formats = formats or {}
        self.prefix = list(prefix or [])
        self.module = module
        self.timeout = timeout

    def resolve_program(self):
        if self.prefix:
            # The program runs elsewhere (a container, a pod): only the prefix's own program is local.
            return self.program
        if os.path.sep in self.program:
            if not os.access(self.program, os.X_OK):
                raise CliError("%s is not an executable file" % self.program)
            return self.program
        found = shutil.which(self.program)
        if self.module is not None:
            found = self.module.get_bin_path(self.program) or found
        if not found:
            raise CliError("%s was not found on this host's PATH; install it or give its path" % self.program)
        return found

    def argv(self, order, tail=None, **params):
        args = []
        for name in order:
            if name not in self.formats:
                raise CliError("internal error: no argument format for parameter %r" % name)
            args.extend(self.formats[name](params.get(name)))
        args.extend(str(item) for item in (tail or []))
        return self.prefix + [self.resolve_program()] + args

    def run(self, order=(), tail=None, check_rc=True, data=None, timeout=None, **params):
        """Run the command; return (rc, stdout, stderr). Raise CliError on time-out or, with check_rc, rc != 0."""
        cmd = self.argv(order, tail=tail, **params)
        return run_argv(cmd, check_rc=check_rc, data=data, timeout=timeout or self.timeout)


def run_argv(cmd, check_rc=True, data=None, timeout=30):
    """Run an argument list with ``subprocess.run``, LC_ALL=C and a time limit; return (rc, stdout, stderr)."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CliError("%s did not answer within %ss" % (" ".join(cmd), timeout), cmd=cmd,
                       stdout=_text(exc.stdout), stderr=_text(exc.stderr))
    except OSError as exc:
        raise CliError("cannot run %s: %s" % (cmd[0], exc), cmd=cmd)
    if check_rc and proc.returncode != 0:
        raise CliError("%s exited with %d: %s" % (" ".join(cmd), proc.returncode,
                                                  (proc.stderr or proc.stdout).strip()[:2000]),
                       cmd=cmd, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
    return proc.returncode, proc.stdout, proc.stderr


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
