"""Errors raised by the data layer.

Every error names what is wrong and where (dataset, split, file) so that a researcher pointing
the framework at an unfamiliar folder knows what to fix.
"""

from __future__ import annotations

__all__ = ["ChecksumError", "DataError", "DownloadError", "MissingDataError", "UnsafePickleError"]


class DataError(Exception):
    """Base class of every data-layer problem (bad content, missing file, failed download)."""


class MissingDataError(DataError, FileNotFoundError):
    """A dataset file could not be found; the message lists the paths tried and how to get it.

    ``dataset``, ``split`` and ``tried`` carry the same facts for programs.
    """

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        split: str | None = None,
        tried: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.split = split
        self.tried = tried

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ChecksumError(DataError):
    """A file's size or sha256 differs from the value recorded in the file table."""


class DownloadError(DataError):
    """A download failed (HTTP error, connection closed early, wrong size or checksum)."""


class UnsafePickleError(DataError):
    """A pickle asked for a Python global outside the small allowed set; nothing was run."""
