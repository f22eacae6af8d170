"""Shared test helpers.

``require_peer(name)`` skips a test whose real peer (sshd, socat, xmllint) is missing, with a
clear reason -- unless CLETS_REQUIRE_PEERS=1 (set by .ci/run), where the skip is a failure, so
CI always exercises the real peers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150
)
settings.load_profile("default")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def require_peer(executable: str) -> str:
    """Path of a real peer program, or skip (fail under CLETS_REQUIRE_PEERS=1)."""
    path = shutil.which(executable) or (
        executable if os.path.isabs(executable) and os.access(executable, os.X_OK) else None
    )
    if path is None:
        reason = f"{executable} not installed (make test installs it as root)"
        if os.environ.get("CLETS_REQUIRE_PEERS") == "1":
            pytest.fail(f"CLETS_REQUIRE_PEERS=1 but {reason}")
        pytest.skip(reason)
    return path
