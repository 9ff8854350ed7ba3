"""The kernel side: compiling and attaching bpf/*.bpf.c (loader), which hooks the
running kernel allows (capabilities) and which one keys file opens (file_hook), the
contract between the C programs and this package (contract), reading the maps in
batches (map_batch) and counting what their LRU evicted (lru_evictions), tracefs,
and handing the compiler's heap back after a load (heap)."""
