"""Whole-map reads and subset deletes with one bpf() call each
(BPF_MAP_LOOKUP_BATCH / BPF_MAP_DELETE_BATCH, Linux 5.6), into ctypes arrays
that numpy views: bcc's own items_lookup_batch() makes a Python object per
entry, which at tens of thousands of entries is most of a drain's time."""

from __future__ import annotations

import ctypes
import errno
import os

import numpy as np


def lookup_batch(table, capacity: int):
    """(keys, values, n): every entry of a map, in ctypes arrays of `capacity`."""
    from bcc.libbcc import lib

    keys = (table.Key * capacity)()
    values = (table.Leaf * capacity)()
    cursor, count, total = ctypes.c_uint32(0), ctypes.c_uint32(0), 0
    while total < capacity:
        count.value = capacity - total
        result = lib.bpf_lookup_batch(table.map_fd, ctypes.byref(cursor) if total else None, ctypes.byref(cursor),
                                      ctypes.byref(keys, ctypes.sizeof(table.Key) * total),
                                      ctypes.byref(values, ctypes.sizeof(table.Leaf) * total), ctypes.byref(count))
        error = ctypes.get_errno()
        total += count.value
        if result != 0:
            if error != errno.ENOENT:  # ENOENT: the map has no more entries
                raise OSError(error, f"BPF_MAP_LOOKUP_BATCH on {table.name.decode()}: {os.strerror(error)}")
            break
        if count.value == 0:
            break
    return keys, values, total


def u64_values(values, n: int) -> np.ndarray:
    return np.frombuffer(values, dtype=np.uint64)[:n]


def delete_rows(table, keys, rows: np.ndarray) -> None:
    """Delete the entries at `rows` of a lookup_batch() key array."""
    if not len(rows):
        return
    from bcc.libbcc import lib

    size = ctypes.sizeof(table.Key)
    raw = np.frombuffer(keys, dtype=np.uint8).reshape(-1, size)[rows]
    chosen = (table.Key * len(rows)).from_buffer_copy(raw.tobytes())
    count = ctypes.c_uint32(len(rows))
    if lib.bpf_delete_batch(table.map_fd, ctypes.byref(chosen), ctypes.byref(count)) != 0:
        error = ctypes.get_errno()
        if error != errno.ENOENT:
            raise OSError(error, f"BPF_MAP_DELETE_BATCH on {table.name.decode()}: {os.strerror(error)}")


def fields(keys, n: int, names: tuple[str, ...]) -> np.ndarray:
    """The named scalar fields of a ctypes struct array as a numpy record array
    (numpy's own reading of a bcc struct guesses its layout, and warns)."""
    struct = keys._type_
    types = dict(struct._fields_)
    dtype = np.dtype({"names": list(names), "formats": [np.dtype(types[name]) for name in names],
                      "offsets": [getattr(struct, name).offset for name in names], "itemsize": ctypes.sizeof(struct)})
    return np.frombuffer(keys, dtype=dtype)[:n]
