"""The judge: canary profile vs baseline profile + thresholds -> verdict. Pure: no Flask, no SQL, no files.

    profile.py       what the judge takes (windows of per-feature counts)
    config.py        the threshold config (pydantic), load_config (gate_server/config_file.py reads files)
    config_errors.py ConfigError and the translation of pydantic errors into one sentence
    patterns.py      path globs and CIDR:port destinations (allow-lists, sensitive paths)
    features.py      profiles as features x windows rate matrices (per 1000 syscalls)
    observation.py   how much each side was observed; sufficiency
    rules.py         what a feature means: allowed, sensitive, severity, limit
    stability.py     new and missing features
    rates.py         rate shifts (Mann-Whitney U + Benjamini-Hochberg)
    scoring.py       the 0-100 score and the hard limits
    verdict.py       Verdict / Anomaly and the verdict document
    judge.py         judge(baseline, canary, config) -> Verdict

docs/config.md explains the statistics and every config field.
"""
