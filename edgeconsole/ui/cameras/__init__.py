"""Camera setup panel (industrial cameras)."""
