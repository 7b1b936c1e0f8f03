# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a capture that runs for a while needs, whatever it captures (nettrace, nft_trace).

``Stoppable`` stops it on SIGTERM, SIGINT or SIGHUP, saying which (``stopped_by``, ``signal_name``), and closes
it on leaving a ``with`` block whatever happened. ``watchdog`` ends the module if the whole run overruns: it
cleans up, reports the failure, then ends the process (which also detaches what the kernel tied to it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import sys
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Stoppable(object):
    """Mixin for a capture with a ``close()`` that is safe to call more than once."""

    stopped_by = None
    signal_name = None
    _old_handlers = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        raise NotImplementedError

    def _on_signal(self, signum, _frame):
        self.signal_name = signal.Signals(signum).name
        self.stopped_by = "signal %s" % self.signal_name

    def install_signal_handlers(self):
        """Stop on a stop signal from now on (only possible from the main thread: elsewhere the caller's own
        handling stays)."""
        if self._old_handlers is None:
            self._old_handlers = {}
        for sig in STOP_SIGNALS:
            try:
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except (ValueError, OSError):  # not the main thread
                pass

    def restore_signal_handlers(self):
        for sig, handler in (self._old_handlers or {}).items():
            signal.signal(sig, handler)
        self._old_handlers = {}


def watchdog(module, limit, message, cleanup=None):
    """Start a timer that, after ``limit`` seconds, runs ``cleanup``, fails the task with ``message`` and ends
    the process; cancel it when the run ends in time."""
    def fire():
        try:
            if cleanup is not None:
                cleanup()
            module.fail_json(msg=message)
        except SystemExit:
            pass
        finally:
            sys.stdout.flush()
            os._exit(1)  # pylint: disable=protected-access
    timer = threading.Timer(limit, fire)
    timer.daemon = True
    timer.start()
    return timer
