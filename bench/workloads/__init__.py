"""Real programs under load, for recording the evaluation set (bench/evaluation.py).

Each workload is a real server (gunicorn + Flask, Postgres under pgbench, a static
file server) started as its own process tree, driven by a load generator that runs
outside that tree, on loopback only. A canary differs from its baseline in exactly
one behaviour, chosen by the SYSCALL_GATE_EVAL_INJECT environment variable (the
stand-in for "a new build of the same code"); see `inject.py`.
"""
