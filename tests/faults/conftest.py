"""The fault suite: faults injected on purpose, and what they did to acknowledged work.

Every test here counts what it injected, and checks (and counts) commands lost and applied
twice; the run ends with one line made of those counts: `faults: N injected, L lost, D
duplicated`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

# The whole service on loopback (both apps and the projectors), as the e2e tests run it.
from tests.e2e.conftest import deepgram_fake, google, openai_fake, service

__all__ = ["FaultLedger", "deepgram_fake", "faults", "google", "openai_fake", "service"]


@dataclass
class FaultLedger:
    injected: int = 0
    lost: int = 0
    duplicated: int = 0


LEDGER = FaultLedger()


@pytest.fixture
def faults() -> FaultLedger:
    return LEDGER


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEDGER.injected:
        terminalreporter.write_line(
            f"faults: {LEDGER.injected} injected, {LEDGER.lost} lost,"
            f" {LEDGER.duplicated} duplicated"
        )
