"""Industrial cameras: GenICam cameras through Aravis, Basler cameras through pypylon.

Both vendor libraries are optional and loaded on first use (``libs``), so the app
starts and runs without them; a source, discovery or setup command that needs one
says which library is missing and how to install it.

- ``libs``: loading Aravis (GObject introspection) and pypylon, with clear errors.
- ``features``: the usual GenICam features, their aliases, checking a value against
  the camera's own node map and saying in one sentence why a value is refused.
- ``device``: what a camera backend offers (features, acquisition, statistics).
- ``aravis_device`` / ``pylon_device``: the two backends.
- ``pixels``: camera pixel formats to BGR.
- ``clock``: the camera's timestamps on our monotonic clock.
- ``triggers``: software triggers and counting a frame per issued trigger.
- ``source``: the FrameSource (``aravis://``, ``pylon://``) with reconnect.
- ``discovery``: ``edgeconsole cameras``.
- ``setup_file``: saving and loading a camera setup.
- ``pylon_emu``: feeding pylon's camera emulator images from a folder.
"""
