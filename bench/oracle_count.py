#!/usr/bin/env python3
"""Reads an event log with HTCondor's bindings and prints the event count (benchmark side)."""
import os
import sys
import time

os.environ.setdefault("CONDOR_CONFIG", "ONLY_ENV")
import htcondor2  # noqa: E402

t = time.perf_counter()
n = sum(1 for _ in htcondor2.JobEventLog(sys.argv[1]).events(stop_after=0))
print(f"{n} {time.perf_counter() - t:.3f}")
