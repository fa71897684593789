#!/usr/bin/env python3
"""Writes a large text event log for the parser benchmark: the logs the real pool wrote
(tests/fixtures/pool/text/*.log, ISO dates) repeated with fresh cluster ids until the file
reaches the requested size.  Usage: make_big_log.py OUT [MEGABYTES=512]"""
import os
import re
import sys

out = sys.argv[1]
target = int(sys.argv[2]) * 1024 * 1024 if len(sys.argv) > 2 else 512 * 1024 * 1024
here = os.path.dirname(os.path.abspath(__file__))
src_dir = os.path.join(here, "..", "tests", "fixtures", "pool", "text")
sources = [open(os.path.join(src_dir, f)).read() for f in sorted(os.listdir(src_dir)) if f.endswith(".log")]
header = re.compile(r"^(\d{3}) \((\d+)\.", re.M)
written = 0
cluster = 1000
with open(out, "w") as f:
    while written < target:
        for text in sources:
            cluster += 1
            chunk = header.sub(lambda m: f"{m.group(1)} ({cluster:03d}.", text)
            f.write(chunk)
            written += len(chunk)
print(f"{out}: {written / 1e6:.0f} MB")
