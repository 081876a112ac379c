"""The project's own error types: every failure a user can cause is one of these, with a clear message."""


class CiteqaError(Exception):
    """Base of every error citeqa raises on purpose."""


class QuestionError(CiteqaError, ValueError):
    """The question cannot be asked (empty, too long, not text)."""


class IngestError(CiteqaError, ValueError):
    """A document cannot be read (binary, undecodable, too large, unsupported type)."""


class IndexError_(CiteqaError):
    """Base for index-directory problems (named with a trailing _ so it never shadows the builtin)."""


class IndexMismatchError(IndexError_):
    """The index on disk was built with another embedder or format version."""


class IndexCorruptError(IndexError_):
    """A file of the index is missing, truncated or altered (checksum mismatch)."""


class IndexLockedError(IndexError_):
    """Another process is writing to the same index directory."""


class IndexWriteError(IndexError_, OSError):
    """The index could not be saved (disk full, read-only, no permission); the previous one is kept.

    Also an OSError, so code that already handled the raw OS error keeps working.
    """


class UnknownDocumentError(CiteqaError, KeyError):
    """A document id that is not in the corpus."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown document"


class IndexUnavailableError(IndexError_):
    """The index engine (a Milvus server) cannot be reached or did not answer in time."""


class IndexChangedError(IndexError_):
    """A document this process was reading was replaced or removed by another process meanwhile."""


class RayUnavailableError(CiteqaError):
    """``--ray`` was asked for but Ray Data is not installed, or the Ray cluster cannot be reached in time."""
