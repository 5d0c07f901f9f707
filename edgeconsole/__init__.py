"""EdgeConsole: an offline field console for edge AI devices."""

__version__ = "0.1.0"
