#!/usr/bin/env python3
"""A second generator of SYNTHETIC HTCondor pools, written apart from `holdadvisor simulate`, so
that the model can be judged on pools its own simulator did not write (issue 4).

It shares no code or parameters with the simulator and models a different pool:
* sites with outages drawn up front (a job that starts or finishes its transfers at a site
  in an outage is held with code 12 or 13 and a network errno);
* memory enforced by the access point's SYSTEM_PERIODIC_HOLD (code 26), not by the execution
  point (the simulator uses 34 and 21);
* broken executables (6/8 or 6/2), missing inputs (13/2), wall-time policy holds (26/1),
  `condor_hold` by owners (1/0), and jobs that exit non-zero;
* owners who differ in how fast they come back, whether they fix the cause before releasing,
  and whether their clusters carry a periodic_release for transfer holds.
Each job's history is drawn on its own against the shared outages and owners, then every
event is merged in time order into one global event log in HTCondor's text format.

    python3 bench/othergen.py --jobs 100000 --seed 1 --out DIR    # writes DIR/EventLog

`--stress NAME` lays one stress event over the pool (the same kinds as `holdadvisor simulate`'s
bench/scenarios/): broken-cluster (one owner's 1,000-proc cluster, every proc missing its input,
on day 26), outage-waves (about one window a day in which every site fails at once),
failing-window (days 26-29: every site fails, so most releases fail), quiet-window (days 20-30:
no outages and no broken clusters), ospool (fewer jobs held, more holds per held job, as the
OSPool's public reports show). Without it the pool is the same as before, draw for draw.

Everything it writes is synthetic: figures from it are not real-world accuracy.
"""
import argparse
import datetime as dt
import math
import os
import random

START = dt.datetime(2026, 5, 4, tzinfo=dt.timezone.utc)
DAYS = 40
HORIZON = DAYS * 86400
# The quiet window of --stress quiet-window: days 20 to 30.
QUIET = (20 * 86400, 30 * 86400)
SITES = ["Wisc", "Nebraska", "UCSD", "Syracuse", "FNAL", "Purdue", "Clemson", "UChicago"]


def stamp(t):
    return (START + dt.timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S")


def host(site_index, node):
    ip = f"10.{40 + site_index}.{node // 250}.{node % 250 + 1}"
    name = f"wn{node:03d}.{SITES[site_index].lower()}.example.edu"
    return ip, f"<{ip}:9618?addrs={ip}-9618&alias={name}&noUDP&sock=startd_{node}_a1>", name


DAY = 86400
# Releases a transfer hold's periodic_release makes at most (ospool: more).
PERIODIC_RELEASE_CAP = 3


class Pool:
    def __init__(self, rng, stress=None):
        self.rng = rng
        # Outages per site: (start, end), a few a week, from an hour to most of a day.
        self.outages = []
        for s in range(len(SITES)):
            spans, t = [], rng.expovariate(1 / (2.5 * 86400))
            while t < HORIZON:
                length = rng.uniform(3600, 20 * 3600)
                spans.append((t, t + length))
                t += length + rng.expovariate(1 / (2.5 * 86400))
            self.outages.append(spans)
        self.site_weight = [rng.uniform(0.5, 3.0) for _ in SITES]
        self.owners = []
        for k in range(60):
            self.owners.append({
                "name": f"user{k:02d}",
                # hours until they look at a held job
                "latency": rng.choice([0.5, 2, 6, 24, 72]) * 3600,
                # chance they fix a job's own fault before releasing it
                "fixes": rng.uniform(0.05, 0.9),
                # chance they give up (condor_rm) instead of releasing
                "gives_up": rng.uniform(0.05, 0.5),
                "periodic_release": rng.random() < 0.4,
                "broken": rng.uniform(0.0, 0.35),
            })
        # Stress events draw from their own stream: the pool above is the same without them.
        srng = random.Random(f"stress-{stress}")
        if stress == "outage-waves":
            t = srng.expovariate(1 / DAY)
            while t < HORIZON:
                length = srng.lognormvariate(math.log(7200), 0.6)
                for spans in self.outages:
                    spans.append((t, t + length))
                t += length + srng.expovariate(1 / DAY)
        elif stress == "failing-window":
            for spans in self.outages:
                spans.append((26 * DAY, 29 * DAY))
        elif stress == "quiet-window":
            self.outages = [[(a, b) for a, b in spans if b <= QUIET[0] or a >= QUIET[1]] for spans in self.outages]
        elif stress == "ospool":
            for o in self.owners:
                o["broken"] *= 0.25
                o["gives_up"] *= 0.5

    def in_outage(self, site, t):
        return any(a <= t < b for a, b in self.outages[site])

    def pick_site(self):
        return self.rng.choices(range(len(SITES)), self.site_weight)[0]


def job_events(pool, rng, cluster, proc, owner, t_submit, kind, request_mb):
    """The events of one job as (time, order, text): drawn step by step until it ends or the
    horizon is reached (a job still held then is left held)."""
    out = []
    jid = f"({cluster}.{proc:03d}.000)"
    seq = [0]

    def emit(t, number, header, body=()):
        seq[0] += 1
        text = f"{number:03d} {jid} {stamp(t)} {header}\n" + "".join(f"\t{b}\n" for b in body) + "...\n"
        out.append((t, cluster, proc, seq[0], text))

    emit(t_submit, 0, "Job submitted from host: <10.0.0.9:9618?addrs=10.0.0.9-9618&alias=submit2.example.edu&noUDP&sock=schedd_811_9c2f>")
    t, holds, fixed = t_submit, 0, False
    usage_mb = request_mb * (rng.uniform(1.3, 3.0) if kind == "memory" else rng.uniform(0.2, 0.9))
    while True:
        t += rng.expovariate(1 / 900) + 30  # idle until matched
        if t >= HORIZON:
            return out
        site = pool.pick_site()
        node = rng.randrange(400)
        ip, addr, name = host(site, node)
        held = None
        if kind == "missing_input" and not fixed:
            held = (t + rng.uniform(5, 60), 13, 2,
                    f"Transfer input files failure at access point submit2.example.edu while sending files to execution point slot1@{name}. "
                    f"Details: reading from file /home/{owner['name']}/run{cluster}/in_{proc}.dat: (errno 2) No such file or directory")
        elif pool.in_outage(site, t) and rng.random() < 0.85:
            errno, text = rng.choice([(110, "Connection timed out"), (104, "Connection reset by peer")])
            held = (t + rng.uniform(20, 300), 13, errno,
                    f"Transfer input files failure at access point submit2.example.edu while sending files to execution point slot1@{name}. "
                    f"Details: (errno {errno}) {text}")
        if held is None:
            start = t + rng.uniform(10, 120)
            emit(start, 1, f"Job executing on host: {addr}",
                 [f"SlotName: slot1_{rng.randrange(1, 48)}@{name}", f'GLIDEIN_Site = "{SITES[site]}"',
                  "Cpus = 1", f"Memory = {int(request_mb)}"])
            if kind == "bad_exec" and not fixed:
                errno, what = rng.choice([(8, "Exec format error"), (2, "No such file or directory")])
                held = (start + rng.uniform(1, 20), 6, errno,
                        f"Error from slot1@{name}: Failed to execute '/home/{owner['name']}/run{cluster}/analyze': (errno={errno}: '{what}')")
            else:
                runtime = rng.lognormvariate(math.log(5400), 0.9)
                mem_at = start + min(runtime, rng.uniform(120, 900))
                use = usage_mb if not (kind == "memory" and fixed) else request_mb * rng.uniform(0.3, 0.8)
                emit(mem_at, 6, f"Image size of job updated: {int(use * 1100)}",
                     [f"{int(use)}  -  MemoryUsage of job (MB)", f"{int(use * 1000)}  -  ResidentSetSize of job (KB)"])
                end = start + runtime
                if kind == "memory" and not fixed and use > 1.5 * request_mb:
                    held = (mem_at + rng.uniform(60, 600), 26, 0,
                            "The system macro SYSTEM_PERIODIC_HOLD expression '(JobUniverse == 5 && MemoryUsage > 1.5 * RequestMemory)' evaluated to TRUE")
                elif kind == "walltime" and not fixed:
                    held = (start + 20 * 3600, 26, 1,
                            "The system macro SYSTEM_PERIODIC_HOLD expression '(time() - JobCurrentStartDate) > 72000' evaluated to TRUE")
                elif kind == "user_hold" and holds == 0:
                    held = (start + rng.uniform(60, runtime), 1, 0, f"via condor_hold (by user {owner['name']})")
                elif pool.in_outage(site, end) and rng.random() < 0.8:
                    errno, text = rng.choice([(110, "Connection timed out"), (104, "Connection reset by peer")])
                    held = (end, 12, errno,
                            f"Transfer output files failure at execution point slot1@{name} while sending files to access point submit2.example.edu. "
                            f"Details: sending file /var/lib/condor/execute/dir_{node}/out.tar.gz: (errno {errno}) {text}")
                else:
                    if end >= HORIZON:
                        return out
                    code = 0 if (kind != "crashes" or rng.random() < 0.3) else rng.choice([1, 2, 137])
                    emit(end, 5, "Job terminated.", [
                        f"(1) Normal termination (return value {code})",
                        "\tUsr 0 01:12:09, Sys 0 00:00:41  -  Run Remote Usage",
                        "\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage",
                        "\tUsr 0 01:12:09, Sys 0 00:00:41  -  Total Remote Usage",
                        "\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Local Usage",
                        "5242880  -  Run Bytes Sent By Job", "1048576  -  Run Bytes Received By Job",
                        "5242880  -  Total Bytes Sent By Job", "1048576  -  Total Bytes Received By Job",
                    ])
                    return out
        # Held.
        t_hold, code, sub, reason = held
        if t_hold >= HORIZON:
            return out
        holds += 1
        emit(t_hold, 12, "Job was held.", [reason, f"Code {code} Subcode {sub}"])
        # Who releases, and when.
        if code in (12, 13) and owner["periodic_release"] and holds < PERIODIC_RELEASE_CAP:
            t = t_hold + 1200 + rng.uniform(0, 300)
            if t >= HORIZON:
                return out
            emit(t, 13, "Job was released.",
                 ["The job attribute PeriodicRelease expression '(HoldReasonCode == 12 || HoldReasonCode == 13) && NumHolds < 3' evaluated to TRUE"])
            continue
        t = t_hold + rng.expovariate(1 / owner["latency"]) + 60
        if t >= HORIZON or rng.random() < 0.1:
            return out  # never looked at: still held at the end
        if rng.random() < owner["gives_up"] * (1.5 if holds > 1 else 1.0):
            emit(t, 9, "Job was aborted.", [f"via condor_rm (by user {owner['name']})"])
            return out
        if code != 1 and rng.random() < owner["fixes"]:
            fixed = True
        emit(t, 13, "Job was released.", [f"via condor_release (by user {owner['name']})"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stress", choices=["broken-cluster", "outage-waves", "failing-window", "quiet-window", "ospool"])
    a = ap.parse_args()
    global PERIODIC_RELEASE_CAP
    if a.stress == "ospool":
        PERIODIC_RELEASE_CAP = 8
    rng = random.Random(a.seed)
    pool = Pool(rng, a.stress)
    kinds = ["ok", "missing_input", "bad_exec", "memory", "walltime", "user_hold", "crashes"]
    events, cluster, n = [], 5000, 0
    while n < a.jobs:
        owner = rng.choice(pool.owners)
        size = min(a.jobs - n, max(1, int(rng.paretovariate(1.1))) if rng.random() < 0.7 else rng.randrange(1, 400))
        t0 = rng.uniform(0, HORIZON * 0.9)
        broken = rng.random() < owner["broken"]
        kind = rng.choice(kinds[1:]) if broken else "ok"
        if a.stress == "quiet-window" and QUIET[0] <= t0 < QUIET[1]:
            kind = "ok"
        request_mb = rng.choice([1024, 2048, 4096, 8192])
        for p in range(size):
            # Within a broken cluster, some procs are fine (only some inputs missing, ...).
            k = kind if (kind != "missing_input" or rng.random() < 0.6) else "ok"
            if k == "ok" and rng.random() < 0.02:
                k = "user_hold"
            events.extend(job_events(pool, rng, cluster, p, owner, t0 + p * 0.5, k, request_mb))
        cluster += 1
        n += size
    if a.stress == "broken-cluster":
        owner = pool.owners[0]
        for p in range(1000):
            events.extend(job_events(pool, rng, cluster, p, owner, 26 * DAY + p * 0.5, "missing_input", 2048))
        cluster += 1
        n += 1000
    events.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "EventLog"), "w") as f:
        for e in events:
            f.write(e[4])
    print(f"SYNTHETIC pool (bench/othergen.py, seed {a.seed}{', stress ' + a.stress if a.stress else ''}): {n} jobs, {cluster - 5000} clusters, {len(events)} events")


if __name__ == "__main__":
    main()
