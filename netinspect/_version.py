"""The package version, in a module that imports nothing, so any module may use it without
importing the package's public API (and what that pulls in)."""

__version__ = "0.1.0"
