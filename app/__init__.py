"""Ponder's domain layer: sessions, reasoning split, templates, storage, settings, CLI.

Nothing in this package imports Qt (checked by an import-linter contract in CI).
"""

__version__ = "0.1.0"
