"""The package version, read by the build backend and by the User-Agent header."""

__version__ = "0.1.0.dev0"
