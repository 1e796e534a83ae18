"""Errors by type: each class its code and HTTP status, found again from the code alone."""

from __future__ import annotations

import pytest

from seethrough import errors
from seethrough.errors import SeethroughError, error_class
from seethrough.web.isolation import ProbeResult
from seethrough.web.uploads import probe_status


def _all(cls=SeethroughError):
    return [cls] + [d for sub in cls.__subclasses__() for d in _all(sub)]


def test_every_error_class_has_its_own_code_and_is_found_by_it():
    classes = [c for c in _all() if c.__module__ == "seethrough.errors"]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), codes
    for cls in classes:
        assert error_class(cls.code) is cls
        assert 400 <= cls.http_status < 600
    assert error_class("out_of_memory") is None and error_class(None) is None


@pytest.mark.parametrize("cls,status", [
    (errors.EmptyMediaError, 400), (errors.MediaTooLargeError, 413), (errors.UnsupportedMediaError, 415),
    (errors.NoVideoStreamError, 415), (errors.CorruptMediaError, 422), (errors.TruncatedMediaError, 422),
])
def test_an_upload_check_answers_the_status_of_the_error_it_raised(cls, status):
    assert probe_status(ProbeResult(False, error_code=cls.code, message="x")) == status


def test_process_outcomes_of_the_check_have_their_status_too():
    assert probe_status(ProbeResult(False, error_code="probe_killed")) == 503  # not the file's fault: send again
    assert probe_status(ProbeResult(False, error_code="out_of_memory")) == 422
    assert probe_status(ProbeResult(False, error_code="probe_timeout")) == 422


def test_truncated_is_a_corrupt_media_error_wherever_it_is_imported_from():
    from seethrough.media import TruncatedMediaError

    assert TruncatedMediaError is errors.TruncatedMediaError
    assert issubclass(TruncatedMediaError, errors.CorruptMediaError)
