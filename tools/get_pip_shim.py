#!/usr/bin/env python3
"""Stand-in for the get-pip script that ansible-test downloads from a host this machine cannot reach.

ansible-test runs it inside a fresh virtual environment with pip's install arguments; it does what
get-pip does: run pip from the wheel that lies beside it, so pip installs itself and the packages asked.
"""

import glob
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    wheels = sorted(glob.glob(os.path.join(here, "pip-*-py3-none-any.whl")))
    if not wheels:
        sys.exit("get_pip shim: no pip wheel beside %s; run 'make sanity' to fetch it" % here)
    sys.path.insert(0, wheels[-1])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    # get-pip's own options: pip install installs neither setuptools nor wheel unless asked.
    own = ("--no-setuptools", "--no-wheel")
    args = [arg for arg in sys.argv[1:] if arg not in own]
    sys.exit(pip_main(["install", "--find-links", here] + args))


if __name__ == "__main__":
    main()
