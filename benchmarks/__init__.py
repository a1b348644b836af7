"""`make bench`: Atrium's speed as ratios to controls measured in the same run (docs/performance.md).

`python -m benchmarks --help` lists the options. The package is a harness, not a Django app:
the parts that need Django run in child processes (`benchmarks.tasks`) with the environment
the harness chose for them; `benchmarks.controls` is the small app of the two control views,
installed only when `BENCH_CONTROLS=1`.
"""
