"""Entry point of the frozen app (PyInstaller runs this file as __main__)."""

if __name__ == "__main__":
    import sys

    if sys.argv[1:] in (["--version"], ["-V"]):
        # Answer before importing anything else: the frozen app should be as quick as
        # the source install here.
        from edgeconsole import __version__

        print(f"edgeconsole {__version__}")
        raise SystemExit(0)
    import multiprocessing

    # The gateway agent runs health checks in a spawned child; in a frozen app
    # that child re-runs this executable, and freeze_support() turns it into the
    # worker instead of a second app.
    multiprocessing.freeze_support()
    from edgeconsole.launcher import main

    raise SystemExit(main())
