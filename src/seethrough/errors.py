"""A small exception hierarchy whose messages a user can act on.

Every error raised on purpose by seethrough derives from :class:`SeethroughError`;
``code`` is a short stable identifier used in JSON output, CSV reports and the API.
"""

from __future__ import annotations


class SeethroughError(Exception):
    """Base class; ``str(err)`` is a complete sentence meant for the user."""

    code = "error"


class MediaError(SeethroughError):
    """The file cannot be used as media."""

    code = "media_error"


class UnsupportedMediaError(MediaError):
    """Not a format we read (wrong extension and no decodable stream)."""

    code = "unsupported"


class CorruptMediaError(MediaError):
    """The container or stream is damaged, truncated or empty."""

    code = "corrupt"


class EmptyMediaError(MediaError):
    """Zero-length file."""

    code = "empty"


class NoVideoStreamError(MediaError):
    """A container without a video stream (e.g. audio only)."""

    code = "no_video"


class MediaTooLargeError(MediaError):
    """The file exceeds the configured size limit."""

    code = "too_large"


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
