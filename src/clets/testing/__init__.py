"""Tools for testers: capture live traffic, replay it against a build, diff the answers field by
field in the canonical model, and scrub captures so they can be shared.

* :mod:`clets.testing.capture` -- the versioned capture file format (JSON Lines), reader, writer
* :mod:`clets.testing.diff` -- canonical field-by-field diff with masks
* :mod:`clets.testing.scrub` -- format-preserving, consistent scrubbing of captures
* :mod:`clets.testing.replay` -- the replay driver over a link, pairing answers by control
* :mod:`clets.testing.proxy` -- the capturing transparent proxy
* :mod:`clets.testing.junit` -- JUnit XML reports for CI
"""

from clets.testing.capture import (
    CAPTURE_VERSION,
    Capture,
    CaptureEvent,
    CaptureFormatError,
    CaptureHeader,
    CaptureWriter,
    read_capture,
)

__all__ = [
    "CAPTURE_VERSION",
    "Capture",
    "CaptureEvent",
    "CaptureFormatError",
    "CaptureHeader",
    "CaptureWriter",
    "read_capture",
]
