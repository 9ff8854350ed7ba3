"""The judge: canary profile vs baseline profile + thresholds -> verdict. Pure: no Flask, no SQL."""
