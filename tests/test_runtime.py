"""Process tuning, checked in a child process so the test run's own collector is untouched."""

from __future__ import annotations

import subprocess
import sys

from mesiji.runtime import YOUNG_THRESHOLD


def test_tuning_freezes_the_start_up_heap_and_spaces_young_collections() -> None:
    code = (
        "import gc\n"
        "from mesiji.runtime import tune_garbage_collector\n"
        "kept = [[i] for i in range(1000)]\n"
        "tune_garbage_collector()\n"
        "print(gc.get_threshold()[0], gc.get_freeze_count() >= 1000)\n"
    )
    out = subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == [str(YOUNG_THRESHOLD), "True"]
