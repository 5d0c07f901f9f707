"""Window parts of the journal (issue 6): logs, site/technician, replay, fleet, export,
record button. Each is a self-contained widget built from core objects; the main
window mounts them (see each module's docstring for how)."""
