"""The ready/stop files a runbook and a capture talk through, and how a capture stops on a signal."""

import json
import os
import signal

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.signal_files import (
    remove_leftover, report_failure, write_json)
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.stoppable import Stoppable


class CaptureError(TracekitError):
    pass


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_remove_leftover_names_the_file_and_raises_the_callers_error(tmp_path):
    old = tmp_path / "ready.json"
    old.write_text("{}")
    remove_leftover(str(old), CaptureError, "ready_file")
    assert not old.exists()
    remove_leftover(str(old), CaptureError, "ready_file")  # nothing there: fine
    with pytest.raises(CaptureError, match="ready_file .*/nowhere/ready.json: its directory .* does not exist"):
        remove_leftover(str(tmp_path / "nowhere" / "ready.json"), CaptureError, "ready_file")


def test_write_json_leaves_no_partial_file_and_report_failure_is_best_effort(tmp_path):
    path = str(tmp_path / "ready.json")
    write_json(path, {"pid": 1})
    assert _read(path) == {"pid": 1}
    assert os.listdir(str(tmp_path)) == ["ready.json"]  # the temporary file was renamed over it
    report_failure(path, "no BTF")
    assert _read(path) == {"error": "no BTF"}
    with pytest.raises(CaptureError, match="cannot write"):
        write_json(str(tmp_path / "missing" / "x.json"), {}, CaptureError)
    report_failure(str(tmp_path / "missing" / "x.json"), "ignored")  # never raises
    report_failure(None, "no file asked for")


class Capture(Stoppable):
    def __init__(self):
        self.closed = 0

    def close(self):
        self.closed += 1
        self.restore_signal_handlers()


def test_a_stop_signal_stops_the_capture_and_leaving_restores_the_handlers():
    before = signal.getsignal(signal.SIGHUP)
    with Capture() as capture:
        capture.install_signal_handlers()
        os.kill(os.getpid(), signal.SIGHUP)
        assert (capture.stopped_by, capture.signal_name) == ("signal SIGHUP", "SIGHUP")
    assert capture.closed == 1
    assert signal.getsignal(signal.SIGHUP) == before
