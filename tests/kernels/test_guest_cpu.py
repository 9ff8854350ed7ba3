"""The VM tier's emulated CPU runs the probe's userspace as real hardware does.

Under Debian's QEMU 7.2 (TCG), `-cpu max` offers AVX2 whose masked gathers load
the lanes the mask leaves out: numpy's AVX2 sort then faults on an array that
ends at an unmapped page, and the probe died in its drain (SIGSEGV in
np.unique). scripts/test-kernels.sh gives the guest `-cpu max,-avx2`. Here and
in the guest, every numpy dispatch level the CPU offers must sort to a page's end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).with_name("sort_at_page_end.py")


def dispatch_levels() -> list[str]:
    """No feature disabled (numpy's own choice), and each x86 level above a lower path it would pass over."""
    from numpy._core._multiarray_umath import __cpu_features__ as found

    levels = [""]
    if found.get("X86_V4"):
        levels.append("X86_V4")          # the AVX2 path on an AVX-512 CPU
    return levels


@pytest.mark.parametrize("disabled", dispatch_levels(), ids=lambda d: f"without-{d}" if d else "numpy-default")
def test_numpy_sorts_to_the_end_of_a_page_without_a_fault(disabled):
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled} if disabled else dict(os.environ)
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, (
        f"numpy {np.__version__} faulted sorting to a page's end (exit {result.returncode}) on this CPU: "
        "its masked vector loads touch the lanes the mask leaves out (QEMU TCG's AVX2 gathers do; "
        f"scripts/test-kernels.sh turns AVX2 off). {result.stderr[-500:]}")
    assert "no fault" in result.stdout
