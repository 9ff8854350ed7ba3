"""Whole-map reads and subset deletes with few bpf() calls (BPF_MAP_LOOKUP_BATCH
and BPF_MAP_DELETE_BATCH, Linux 5.6), into ctypes buffers that numpy views and
that are allocated once: bcc's own items_lookup_batch() makes a Python object
per entry and a new buffer of the map's capacity per call, which at tens of
thousands of keys is most of a drain's time and tens of MB of memory."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Iterator

import numpy as np


def _lib():
    from bcc.libbcc import lib

    return lib


def _fail(table, what: str, error: int) -> OSError:
    return OSError(error, f"{what} on {table.name.decode()}: {os.strerror(error)}")


class BatchReader:
    """Reads a map `chunk` entries at a time into the same two buffers."""

    def __init__(self, table, chunk: int):
        self.table, self.chunk = table, chunk
        self.keys = (table.Key * chunk)()
        self.values = (table.Leaf * chunk)()

    def chunks(self) -> Iterator[int]:
        """Yields the number of entries the buffers now hold; they are overwritten
        by the next chunk, so copy what you keep."""
        lib, cursor, count = _lib(), ctypes.c_uint32(0), ctypes.c_uint32(0)
        first = True
        while True:
            count.value = self.chunk
            result = lib.bpf_lookup_batch(self.table.map_fd, None if first else ctypes.byref(cursor),
                                          ctypes.byref(cursor), ctypes.byref(self.keys), ctypes.byref(self.values),
                                          ctypes.byref(count))
            error = ctypes.get_errno()
            first = False
            if result != 0 and error != errno.ENOENT:  # ENOENT: no more entries after these
                raise _fail(self.table, "BPF_MAP_LOOKUP_BATCH", error)
            if count.value:
                yield count.value
            if result != 0 or count.value == 0:
                return

    def u64_values(self, n: int) -> np.ndarray:
        """Values as u64, one row per entry (one column per CPU for per-CPU maps)."""
        return np.frombuffer(self.values, dtype=np.uint64).reshape(self.chunk, -1)[:n]

    def fields(self, n: int, names: tuple[str, ...]) -> np.ndarray:
        """The named scalar fields of the keys (numpy's own reading of a bcc struct
        guesses its layout, and warns)."""
        struct = self.table.Key
        types = dict(struct._fields_)
        dtype = np.dtype({"names": list(names), "formats": [np.dtype(types[name]) for name in names],
                          "offsets": [getattr(struct, name).offset for name in names],
                          "itemsize": ctypes.sizeof(struct)})
        return np.frombuffer(self.keys, dtype=dtype)[:n]

    def raw_keys(self, n: int) -> np.ndarray:
        return np.frombuffer(self.keys, dtype=np.uint8).reshape(self.chunk, -1)[:n]


def delete_keys(table, raw: bytes) -> int:
    """Delete the keys packed in `raw`; a key already gone is skipped. Returns how
    many were deleted."""
    size = ctypes.sizeof(table.Key)
    total = len(raw) // size
    if not total:
        return 0
    lib, keys = _lib(), (table.Key * total).from_buffer_copy(raw)
    done = deleted = 0
    while done < total:
        count = ctypes.c_uint32(total - done)
        result = lib.bpf_delete_batch(table.map_fd, ctypes.byref(keys, size * done), ctypes.byref(count))
        error = ctypes.get_errno()
        done += count.value
        deleted += count.value
        if result == 0:
            break
        if error != errno.ENOENT:
            raise _fail(table, "BPF_MAP_DELETE_BATCH", error)
        done += 1  # the kernel stopped at a key that is not there: step over it
    return deleted

