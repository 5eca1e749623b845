"""``python -m minisam``: print :func:`minisam.show_config` (for bug reports)."""

from minisam import show_config

if __name__ == "__main__":
    show_config()
