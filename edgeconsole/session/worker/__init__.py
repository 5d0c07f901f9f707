"""The live pipeline in a worker process (issue 15).

Capture and inference run in a spawned process, so the window's interpreter (its
GIL, its event loop) never waits for them. ``job`` holds what both sides share
(the job, the shared-memory link, the output codec), ``child`` the worker's own
main, ``runner`` the window side: a :class:`~edgeconsole.session.runner.Runner`
that supervises the worker (exit, heartbeat), restarts it and says why.
"""
