"""numpy sorts int64 arrays that end exactly where an unmapped page begins, the
way the probe's drain sorts its file keys (np.unique). Exits 0; a CPU (or an
emulated one) whose masked vector loads touch the lanes the mask leaves out
dies here with SIGSEGV."""

import ctypes
import mmap

import numpy as np

PAGE = mmap.PAGESIZE
PROT_NONE = 0


def main() -> None:
    buffer = mmap.mmap(-1, 2 * PAGE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    if libc.mprotect(address + PAGE, PAGE, PROT_NONE) != 0:
        raise OSError(ctypes.get_errno(), "mprotect")
    values = np.random.default_rng(1)
    for n in range(1, 257):
        array = np.frombuffer(buffer, dtype=np.int64, count=n, offset=PAGE - 8 * n)
        for sort in (lambda: array.argsort(kind="quicksort"), array.sort,
                     lambda: np.unique(array, return_inverse=True)):
            array[:] = values.integers(0, 1 << 40, n)
            sort()
    print(f"numpy {np.__version__}: sorts of 1..256 int64 ending at an unmapped page, no fault")


if __name__ == "__main__":
    main()
