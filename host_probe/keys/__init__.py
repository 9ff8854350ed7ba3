"""From what the kernel saw to the contract's feature keys: paths made canonical in
the opener's view (canonical), per-run noise normalised away (normalise), and the
drained map entries turned into (kind, key) pairs (kernel_keys)."""
