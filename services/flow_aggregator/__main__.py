"""``python -m ansible_collections.netdiag.tracekit.services.flow_aggregator --config FILE``."""

import argparse
import asyncio
import logging
import os
import sys

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.services.flow_aggregator.config import load_config
from ansible_collections.netdiag.tracekit.services.flow_aggregator.service import Service


def _write_pid(path):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write("%d\n" % os.getpid())
        os.rename(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="netdiag-flow-aggregator",
                                     description="IPFIX collector joining both nodes' records into complete flows")
    parser.add_argument("--config", required=True, help="YAML configuration (see docs/flow_aggregator.md)")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--pid-file", help="write the process id here once listening (foreground mode)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except TracekitError as exc:
        sys.stderr.write("flow_aggregator: %s\n" % exc)
        return 2
    if args.check:
        sys.stdout.write("configuration %s is valid\n" % args.config)
        return 0
    logging.basicConfig(level=getattr(logging, config["log_level"], logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        service = Service(config)
        asyncio.run(service.run(ready=lambda: _write_pid(args.pid_file)))
    except (TracekitError, OSError) as exc:
        sys.stderr.write("flow_aggregator: %s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
