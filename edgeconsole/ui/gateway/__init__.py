"""Gateway parts of the window: the "Add gateway…" dialog."""
