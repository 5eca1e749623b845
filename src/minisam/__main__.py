"""``python -m minisam``: print :func:`minisam.show_config` (for bug reports); with a command,
run the ``minisam`` command line (:mod:`minisam.cli`: train, predict, drift, plot, info)."""

import sys

from minisam import show_config

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from minisam.cli import main

        sys.exit(main(sys.argv[1:]))
    show_config()
