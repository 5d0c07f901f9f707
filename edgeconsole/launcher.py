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
        try:
            from edgeconsole.ui.app import main as ui_main
        except ModuleNotFoundError as exc:
            if exc.name not in ("PySide6", "shiboken6", "pyqtgraph"):
                raise
            # An agent-only install (pip install 'edgeconsole[agent]') has no window.
            print(
                f"edgeconsole: error: the window is not installed here ({exc.name} is missing); "
                "install it with pip install 'edgeconsole[console]', or run a command "
                "(edgeconsole --help)",
                file=sys.stderr,
            )
            return 2
        return ui_main(args)
    from edgeconsole.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
