"""A small exception hierarchy whose messages a user can act on.

Every error raised on purpose by seethrough derives from :class:`SeethroughError`;
``code`` is a short stable identifier used in JSON output, CSV reports and the API, and
``http_status`` what the REST API answers when an upload raises it. :func:`error_class`
finds the class behind a code (a code is what crosses process boundaries and databases).
"""

from __future__ import annotations


class SeethroughError(Exception):
    """Base class; ``str(err)`` is a complete sentence meant for the user."""

    code = "error"
    http_status = 422


class MediaError(SeethroughError):
    """The file cannot be used as media."""

    code = "media_error"


class UnsupportedMediaError(MediaError):
    """Not a format we read (wrong extension and no decodable stream)."""

    code = "unsupported"
    http_status = 415


class CorruptMediaError(MediaError):
    """The container or stream is damaged, truncated or empty."""

    code = "corrupt"


class TruncatedMediaError(CorruptMediaError):
    """The file ends before its container says it should (an incomplete copy or download)."""

    code = "truncated"


class EmptyMediaError(MediaError):
    """Zero-length file."""

    code = "empty"
    http_status = 400


class NoVideoStreamError(MediaError):
    """A container without a video stream (e.g. audio only)."""

    code = "no_video"
    http_status = 415


class MediaTooLargeError(MediaError):
    """The file exceeds the configured size limit."""

    code = "too_large"
    http_status = 413


class NoFaceError(SeethroughError):
    """No usable face was found."""

    code = "no_face"


class FaceTooSmallError(NoFaceError):
    """Faces were found but all are below the configured minimum size."""

    code = "face_too_small"


class DatasetLayoutError(SeethroughError):
    """A dataset folder does not match the layout asked for."""

    code = "dataset_layout"


class ModelError(SeethroughError):
    """A checkpoint or backbone cannot be built or loaded."""

    code = "model_error"


class ConfigError(SeethroughError):
    """A configuration file is invalid."""

    code = "config_error"


def _subclasses(cls: type[SeethroughError]) -> list[type[SeethroughError]]:
    return [cls] + [d for sub in cls.__subclasses__() for d in _subclasses(sub)]


def error_class(code: str | None) -> type[SeethroughError] | None:
    """The error class whose ``code`` this is (``None`` for codes no class has, such as
    ``out_of_memory`` or ``probe_killed``, which are outcomes of a process, not errors raised)."""
    for cls in _subclasses(SeethroughError):
        if cls.code == code and "code" in cls.__dict__:
            return cls
    return None
