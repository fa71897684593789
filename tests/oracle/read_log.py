#!/usr/bin/env python3
"""Oracle: what HTCondor's own reader sees in one job event log, as JSON.

Usage:
    python3 tests/oracle/read_log.py [--errors] LOGFILE > LOGFILE.expected.json

Requires HTCondor's official Python bindings (``pip install -r
tests/oracle/requirements.txt``: PyPI package ``htcondor``, module ``htcondor2``).
The environment is fixed *inside* the script, before htcondor2 is imported:
``TZ=UTC`` (event times are reported in the reader's local zone, so the writer is
assumed to have been on UTC) and ``CONDOR_CONFIG=ONLY_ENV`` (no local HTCondor
configuration is consulted).

The log is read with ``htcondor2.JobEventLog(path).events(stop_after=0)``, i.e.
from the start to the current end of the file, without waiting.

Output (default): a JSON list, one object per event the bindings returned, in
order, printed with ``json.dumps(..., indent=1)`` plus a final newline::

    index             0-based position among the events read
    type              event type number (int(event.type); for numbers the
                      bindings' JobEventType enum lacks, the EventTypeNumber attr)
    type_name         JobEventType name ("SUBMIT", "JOB_HELD", ...); null when the
                      enum lacks the number (event.type raises ValueError)
    cluster, proc     event.cluster, event.proc (proc is -1 for cluster events)
    subproc           the "Subproc" attribute; -1 when absent (the bindings, like
                      HTCondor's ULogEvent::toClassAd, omit Cluster/Proc/Subproc
                      when negative, e.g. the global log's "008 (-01.-01.-01)"
                      header event, which is reported as cluster -1, proc -1)
    timestamp         event.timestamp (int, seconds since the epoch, with TZ=UTC)
    event_time        the "EventTime" attribute as the bindings report it
                      (ISO, "T" separator, reader-local = UTC, no zone suffix;
                      with ".fff" when the log has sub-second times: text logs
                      written with SUB_SECOND, and every XML/JSON log HTCondor
                      23.9 writes); if absent, derived from timestamp.
                      timestamp is always whole seconds.
    raw_header        TEXT logs: the event's header line exactly as in the file
                      (without the line terminator). Header lines are matched to
                      events in order: the next header line at or after the
                      previous match with the same event number, cluster and proc.
                      null if none matches. JSON and XML logs: always null (they
                      have no header line).
    header_date_form  TEXT logs: "ISO" for YYYY-MM-DD dates (space- or
                      T-separated), "MM/DD" for legacy dates; the optional
                      ".fff" (SUB_SECOND) and "Z" (UTC) suffixes do not change
                      it (they are visible in raw_header). null when raw_header is
                      null, and always null for JSON/XML logs.
    year_inferred     true when the header date has no year (MM/DD), so the
                      reader used the current year of its own clock; false
                      otherwise (ISO text headers, and JSON/XML logs whose
                      EventTime carries a full date).
    attrs             every attribute of the event ClassAd, keys sorted:
                        bool/int/float/str  -> JSON bool/int/float/str (a float
                                               stays a float, e.g. 7869.0)
                        nested ClassAd      -> JSON object, keys sorted
                                               (ExecuteProps, StructuredNotes)
                        ClassAd list        -> JSON list (elements converted)
                        expression          -> {"__expr__": "<unparsed text>"}
                                               (e.g. 028's CurrentTime = time())
                        undefined literal   -> null
                        error literal       -> {"__expr__": "error"}

The format of the file (text, XML or JSON) is decided by the reader from the
first non-blank character ("<" XML, "{" JSON, otherwise text); this script uses
the same rule only to decide whether to look for header lines. XML and JSON logs
are read by the same bindings call; each <c> block / top-level object becomes
one event and its attributes are the ClassAd as written, re-exported by the
bindings (so, compared with the text form of the same event, a few attributes
differ: 004 has no "Reason", 005 lacks the usage-table rows the ClassAd form
does not carry (GPUs, TimeExecuteUsage, TimeSlotBusyUsage), CpusUsage keeps
full precision instead of the table's two decimals).

Errors: if the bindings raise while iterating (e.g. HTCondorException
ULOG_RD_ERROR for an unparsable event body), the exception is printed to stderr,
recorded, and iteration continues with the next event (the reader has already
skipped to the next "..."), giving up after 10 consecutive exceptions. The exit
status is still 0 and the default output is still the plain list of the events
read. With --errors the output is instead
    {"events": [...], "errors": [{"after_index": N, "type": "...", "message": "..."}]}
where after_index is the number of events read before the exception.
The official reader stops *silently* (no exception) at a line it does not expect
where a header should be, and at a partial last event; such files simply yield
fewer events.

Exit status 2 for usage errors or a file that cannot be opened.
"""

import os

os.environ["TZ"] = "UTC"
os.environ["CONDOR_CONFIG"] = "ONLY_ENV"

import datetime  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

time.tzset()

import classad2  # noqa: E402
import htcondor2  # noqa: E402

HEADER_RE = re.compile(r"^(\d{3}) \((-?\d+)\.(-?\d+)\.(-?\d+)\) (.*)$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]")
LEGACY_RE = re.compile(r"^\d{2}/\d{2} ")
MAX_CONSECUTIVE_ERRORS = 10


def convert(value):
    """One ClassAd value (as the bindings return it) -> a JSON-able value."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, classad2.ClassAd):
        return {k: convert(value[k]) for k in sorted(value.keys())}
    if isinstance(value, classad2.ExprTree):
        return {"__expr__": str(value)}
    if isinstance(value, (list, tuple)):
        return [convert(v) for v in value]
    if isinstance(value, classad2.Value):
        if value == classad2.Value.Undefined:
            return None
        return {"__expr__": "error"}
    return {"__expr__": str(value)}


def file_format(path):
    """'xml', 'json' or 'text', by the first non-blank character."""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(4096)
            if not chunk:
                return "text"
            stripped = chunk.lstrip()
            if stripped:
                c = stripped[:1]
                return "xml" if c == b"<" else "json" if c == b"{" else "text"


def header_lines(path):
    """[(event_number, cluster, proc, line)] for every header-looking line."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            m = HEADER_RE.match(line)
            if m:
                out.append((int(m.group(1)), int(m.group(2)), int(m.group(3)), line, m.group(5)))
    return out


def date_form(rest):
    if ISO_RE.match(rest):
        return "ISO"
    if LEGACY_RE.match(rest):
        return "MM/DD"
    return None


def event_record(index, event, fmt, headers, hpos):
    attrs = {k: convert(event[k]) for k in sorted(event.keys())}
    try:
        etype = event.type
        type_num, type_name = int(etype), etype.name
    except ValueError:
        type_num, type_name = attrs.get("EventTypeNumber"), None
    ts = event.timestamp
    event_time = attrs.get("EventTime")
    if not isinstance(event_time, str):
        event_time = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    raw, form, inferred = None, None, False
    if fmt == "text":
        for j in range(hpos, len(headers)):
            num, cl, pr, line, rest = headers[j]
            if num == type_num and cl == event.cluster and pr == event.proc:
                raw, form = line, date_form(rest)
                inferred = form == "MM/DD"
                hpos = j + 1
                break
    rec = {
        "index": index,
        "type": type_num,
        "type_name": type_name,
        "cluster": event.cluster,
        "proc": event.proc,
        "subproc": attrs.get("Subproc", -1),
        "timestamp": ts,
        "event_time": event_time,
        "raw_header": raw,
        "header_date_form": form,
        "year_inferred": inferred,
        "attrs": attrs,
    }
    return rec, hpos


def read_log(path):
    fmt = file_format(path)
    headers = header_lines(path) if fmt == "text" else []
    events, errors = [], []
    hpos = 0
    it = iter(htcondor2.JobEventLog(path).events(stop_after=0))
    consecutive = 0
    while True:
        try:
            event = next(it)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - the oracle records whatever the bindings raise
            errors.append({"after_index": len(events), "type": type(exc).__name__, "message": str(exc)})
            print(f"{path}: after {len(events)} events: {type(exc).__name__}: {exc}", file=sys.stderr)
            consecutive += 1
            if consecutive >= MAX_CONSECUTIVE_ERRORS:
                print(f"{path}: giving up after {consecutive} consecutive errors", file=sys.stderr)
                break
            continue
        consecutive = 0
        rec, hpos = event_record(len(events), event, fmt, headers, hpos)
        events.append(rec)
    return events, errors


def main(argv):
    args = argv[1:]
    want_errors = False
    if args and args[0] == "--errors":
        want_errors = True
        args = args[1:]
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: read_log.py [--errors] LOGFILE", file=sys.stderr)
        return 2
    path = args[0]
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        print(f"read_log.py: {exc}", file=sys.stderr)
        return 2
    events, errors = read_log(path)
    out = {"events": events, "errors": errors} if want_errors else events
    sys.stdout.write(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
