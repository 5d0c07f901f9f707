"""The ``edgeconsole`` executable: the window or the command line.

It sits above both ``ui`` and ``cli`` (which never import each other) and only
decides which of them to start. With no arguments, or ``demo`` without
``--headless``, the window opens; everything else is the command line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def wants_window(args: Sequence[str]) -> bool:
    if not args:
        return True
    if args[0] in ("app", "gui"):
        return True
    return args[0] == "demo" and "--headless" not in args and not {"-h", "--help"} & set(args)


def main(argv: Sequence[str] | None = None) -> int:
    import multiprocessing

    # A frozen app (PyInstaller) starts its inference worker by running itself: the
    # worker's command line must reach multiprocessing, not the window.
    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--self-test"]:
        # Checks this installation (bundle, pipeline, journal, window); Qt only if needed.
        from edgeconsole.selftest import main as selftest_main

        return selftest_main(args[1:])
    if wants_window(args):
        from edgeconsole.ui.app import main as ui_main

        return ui_main(args)
    from edgeconsole.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
