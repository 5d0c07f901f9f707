"""The desktop window (PySide6 + pyqtgraph). The only package that imports Qt.

Widgets display what ``Session.poll()`` returns and send commands back; no
pipeline logic lives here.
"""
