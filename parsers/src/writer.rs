//! Writers of job events in HTCondor's text and JSON event-log formats.
//!
//! The text layout follows what HTCondor 23.x writes (`condor_event.cpp`, checked against the
//! logs of a real 23.9 pool): the `NNN (C.P.S) DATE TIME title` header with `%03d` ids, the
//! per-event body lines, the resource-usage table with its computed column widths, the
//! "ticket of execution" trailer of event 005, and the `...` terminator. JSON events are the
//! event ClassAds ([`Event::to_json`]) pretty-printed with a 2-space indent, one object after
//! another, each followed by a newline, as HTCondor's JSON event log has them.
//!
//! ```
//! use holdadvisor_parsers::writer::{TextOptions, format_text};
//! # use holdadvisor_parsers::{Event, EventBody, Held, JobId};
//! # let time = chrono::NaiveDate::from_ymd_opt(2025, 3, 2).unwrap().and_hms_opt(9, 15, 7).unwrap();
//! let ev = Event { number: 12, id: JobId::new(4711, 0), time, utc: false, timestamp: 1740906907,
//!     date_form: Default::default(), position: Default::default(),
//!     body: EventBody::Held(Held { reason: Some("via condor_hold (by user alice)".into()), code: 1, subcode: 0 }) };
//! assert_eq!(format_text(&ev, &TextOptions::default()),
//!     "012 (4711.000.000) 2025-03-02 09:15:07 Job was held.\n\tvia condor_hold (by user alice)\n\tCode 1 Subcode 0\n...\n");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::event::*;
use crate::event_type::{EventType, FILE_TRANSFER_TITLES};
use crate::value::Value;

/// How the header's date is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateStyle {
    /// `YYYY-MM-DD HH:MM:SS` (HTCondor's default since 8.9.3).
    #[default]
    Iso,
    /// `MM/DD HH:MM:SS` (no year; `LEGACY` format option).
    Legacy,
}

/// Options of the text format (HTCondor's `*_FORMAT_OPTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    pub dates: DateStyle,
    /// Append `.fff` to the time (`SUB_SECOND`).
    pub sub_second: bool,
    /// Append the ticket-of-execution trailer to 005 events, as 23.x writers do.
    pub toe: bool,
}

impl Default for TextOptions {
    fn default() -> TextOptions {
        TextOptions {
            dates: DateStyle::Iso,
            sub_second: false,
            toe: true,
        }
    }
}

/// The event in the text format, terminator included.
pub fn format_text(ev: &Event, opts: &TextOptions) -> String {
    let mut out = String::with_capacity(256);
    write_text(&mut out, ev, opts);
    out
}

/// The event in the JSON format: a pretty-printed object and a newline.
pub fn format_json(ev: &Event) -> String {
    let mut out = String::with_capacity(512);
    write_json(&mut out, ev);
    out
}

/// Appends the event in the JSON format.
pub fn write_json(out: &mut String, ev: &Event) {
    let json = ev.to_json();
    // Serialising a `serde_json::Value` cannot fail.
    out.push_str(&serde_json::to_string_pretty(&json).unwrap_or_default());
    out.push('\n');
}

fn header(out: &mut String, ev: &Event, opts: &TextOptions) {
    use chrono::{Datelike, Timelike};
    let t = &ev.time;
    let _ = write!(
        out,
        "{:03} ({:03}.{:03}.{:03}) ",
        ev.number, ev.id.cluster, ev.id.proc, ev.id.subproc
    );
    match opts.dates {
        DateStyle::Iso => {
            let _ = write!(out, "{:04}-{:02}-{:02} ", t.year(), t.month(), t.day());
        }
        DateStyle::Legacy => {
            let _ = write!(out, "{:02}/{:02} ", t.month(), t.day());
        }
    }
    let _ = write!(out, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    if opts.sub_second {
        let _ = write!(out, ".{:03}", t.nanosecond() / 1_000_000 % 1000);
    }
    if ev.utc {
        out.push('Z');
    }
    out.push(' ');
}

fn rusage(out: &mut String, usage: &Option<Cow<'static, str>>, label: &str) {
    out.push_str("\t\t");
    out.push_str(usage.as_deref().unwrap_or(NO_USAGE));
    out.push_str("  -  ");
    out.push_str(label);
    out.push('\n');
}

fn bytes(out: &mut String, value: Option<f64>, label: &str) {
    let _ = writeln!(out, "\t{:.0}  -  {label}", value.unwrap_or(0.0));
}

fn termination(out: &mut String, t: &Termination) {
    match t {
        Termination::Normal { return_value } => {
            let _ = writeln!(
                out,
                "\t(1) Normal termination (return value {return_value})"
            );
        }
        Termination::Abnormal { signal, core_file } => {
            let _ = writeln!(out, "\t(0) Abnormal termination (signal {signal})");
            match core_file {
                Some(path) => {
                    let _ = writeln!(out, "\t(1) Corefile in: {path}");
                }
                None => out.push_str("\t(0) No core file\n"),
            }
        }
    }
}

/// A usage-table cell as `formatUsageAd` prints it; the flag says "has a fractional part".
fn cell(v: &Option<Value>) -> (String, bool) {
    match v {
        None => (String::new(), false),
        Some(Value::Real(x)) if x.is_finite() && x.fract() > 0.0 => (format!("{x:.2}"), true),
        Some(Value::Real(x)) if x.is_finite() => (format!("{}", x.trunc() as i64), false),
        Some(v) => (v.to_string(), false),
    }
}

fn is_bare_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `Partitionable Resources` table, with HTCondor's column widths and label suffixes.
pub fn write_usage_table(out: &mut String, rows: &[UsageRow]) {
    if rows.is_empty() {
        return;
    }
    let mut sorted: Vec<&UsageRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.resource.to_ascii_lowercase());
    let mut cells: Vec<[String; 4]> = Vec::with_capacity(sorted.len());
    let (mut use_f, mut req_f, mut alloc_f, mut assigned_f) = (false, false, false, false);
    for r in &sorted {
        let (u, uf) = cell(&r.usage);
        let (q, qf) = cell(&r.request);
        let (a, af) = cell(&r.allocated);
        let (s, sf) = cell(&r.assigned);
        use_f |= uf;
        req_f |= qf;
        alloc_f |= af;
        assigned_f = sf;
        cells.push([u, q, a, s]);
    }
    let (mut c_use, mut c_req, mut c_alloc, mut c_res) =
        (8usize, 8usize, 0usize, "Memory (MB)".len() + 1);
    for (r, c) in sorted.iter().zip(cells.iter_mut()) {
        for (s, flag) in c.iter_mut().zip([use_f, req_f, alloc_f, assigned_f]) {
            if flag && is_bare_integer(s) {
                s.push_str("   ");
            }
        }
        c_res = c_res.max(r.resource.len());
        c_use = c_use.max(c[0].len());
        c_req = c_req.max(c[1].len());
        c_alloc = c_alloc.max(c[2].len());
    }
    let any_assigned = cells.iter().any(|c| !c[3].is_empty());
    let w_alloc = c_alloc.max(9);
    let _ = writeln!(
        out,
        "\tPartitionable Resources : {:>c_use$} {:>c_req$} {:>w_alloc$} {}",
        "Usage",
        "Request",
        if c_alloc > 0 { "Allocated" } else { "" },
        if any_assigned { "Assigned" } else { "" },
    );
    let w_res = c_res + 8;
    for (r, c) in sorted.iter().zip(&cells) {
        let label = match &*r.resource {
            "Memory" | "GpusMemory" => format!("{} (MB)", r.resource),
            "Disk" => "Disk (KB)".to_string(),
            "Gpus" => "Gpus (Average)".to_string(),
            "TimeExecute" | "TimeSlotBusy" => format!("{} (s)", r.resource),
            other => other.to_string(),
        };
        let _ = writeln!(
            out,
            "\t   {label:<w_res$} : {:>c_use$} {:>c_req$} {:>w_alloc$} {}",
            c[0], c[1], c[2], c[3]
        );
    }
}

fn indented_lines(out: &mut String, prefix: &str, text: &str) {
    for line in text.split('\n') {
        out.push_str(prefix);
        out.push_str(line);
        out.push('\n');
    }
}

/// Appends the event in the text format, terminator included.
pub fn write_text(out: &mut String, ev: &Event, opts: &TextOptions) {
    header(out, ev, opts);
    let title = EventType::from_number(ev.number).map_or("", |t| t.info().title);
    match &ev.body {
        EventBody::Submit(s) => {
            let _ = writeln!(out, "Job submitted from host: {}", s.host);
            for note in [&s.log_notes, &s.user_notes].into_iter().flatten() {
                let _ = writeln!(out, "    {note}");
            }
            if let Some(w) = &s.warnings {
                let _ = writeln!(
                    out,
                    "    WARNING: Committed job submission into the queue with the following warning(s): {w}"
                );
            }
        }
        EventBody::Execute(e) => {
            match e.node {
                Some(n) => {
                    let _ = writeln!(out, "Node {n} executing on host: {}", e.host);
                }
                None => {
                    let _ = writeln!(out, "Job executing on host: {}", e.host);
                }
            }
            if let Some(slot) = &e.slot_name {
                let _ = writeln!(out, "\tSlotName: {slot}");
            }
            let mut props: Vec<&(Cow<'static, str>, Value)> = e.props.iter().collect();
            props.sort_by_key(|(k, _)| k.to_ascii_lowercase());
            for (k, v) in props {
                let _ = writeln!(out, "\t{k} = {v}");
            }
        }
        EventBody::ExecutableError { error_type } => {
            let text = if *error_type == 1 {
                "Job not properly linked for Condor."
            } else {
                "Job file not executable."
            };
            let _ = writeln!(out, "({error_type}) {text}");
        }
        EventBody::Evicted(e) => {
            match e.code.filter(|c| *c != 0) {
                Some(c) => {
                    let _ = writeln!(
                        out,
                        "Job was evicted. Code {c} Subcode {}",
                        e.subcode.unwrap_or(0)
                    );
                }
                None => out.push_str("Job was evicted.\n"),
            }
            out.push_str(if e.terminated_and_requeued {
                "\t(0) Job terminated and was requeued\n"
            } else if e.checkpointed {
                "\t(1) Job was checkpointed.\n"
            } else {
                "\t(0) CPU times\n"
            });
            rusage(out, &e.rusage.run_remote, "Run Remote Usage");
            rusage(out, &e.rusage.run_local, "Run Local Usage");
            bytes(out, e.rusage.sent_bytes, "Run Bytes Sent By Job");
            bytes(out, e.rusage.received_bytes, "Run Bytes Received By Job");
            if e.terminated_and_requeued
                && let Some(t) = &e.requeued
            {
                termination(out, t);
            }
            if let Some(reason) = &e.reason {
                // 23.x writes the reason bare; 24.x prefixes `Reason: ` unless requeued.
                let _ = writeln!(out, "\t{reason}");
            }
            write_usage_table(out, &e.usage);
        }
        EventBody::Terminated(t) => {
            let who = match t.node {
                Some(n) => {
                    let _ = writeln!(out, "Node {n} terminated.");
                    "Node"
                }
                None => {
                    out.push_str("Job terminated.\n");
                    "Job"
                }
            };
            termination(out, &t.termination);
            let r = &t.rusage;
            rusage(out, &r.run_remote, "Run Remote Usage");
            rusage(out, &r.run_local, "Run Local Usage");
            rusage(out, &r.total_remote, "Total Remote Usage");
            rusage(out, &r.total_local, "Total Local Usage");
            bytes(out, r.sent_bytes, &format!("Run Bytes Sent By {who}"));
            bytes(
                out,
                r.received_bytes,
                &format!("Run Bytes Received By {who}"),
            );
            bytes(
                out,
                r.total_sent_bytes,
                &format!("Total Bytes Sent By {who}"),
            );
            bytes(
                out,
                r.total_received_bytes,
                &format!("Total Bytes Received By {who}"),
            );
            write_usage_table(out, &t.usage);
            if opts.toe && t.node.is_none() {
                let when = chrono::DateTime::from_timestamp(ev.timestamp, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%SZ");
                let _ = match &t.termination {
                    Termination::Normal { return_value } => {
                        writeln!(
                            out,
                            "\n\tJob terminated of its own accord at {when} with exit-code {return_value}."
                        )
                    }
                    Termination::Abnormal { signal, .. } => writeln!(
                        out,
                        "\n\tJob terminated of its own accord at {when} with signal {signal}."
                    ),
                };
            }
        }
        EventBody::ImageSize(i) => {
            let _ = writeln!(out, "Image size of job updated: {}", i.size_kb);
            if let Some(m) = i.memory_usage_mb.filter(|m| *m >= 0) {
                let _ = writeln!(out, "\t{m}  -  MemoryUsage of job (MB)");
            }
            if let Some(r) = i.resident_set_size_kb.filter(|r| *r >= 0) {
                let _ = writeln!(out, "\t{r}  -  ResidentSetSize of job (KB)");
            }
            if let Some(p) = i.proportional_set_size_kb.filter(|p| *p >= 0) {
                let _ = writeln!(out, "\t{p}  -  ProportionalSetSize of job (KB)");
            }
        }
        EventBody::ShadowException {
            message,
            sent_bytes,
            received_bytes,
        } => {
            let _ = writeln!(out, "Shadow exception!\n\t{message}");
            bytes(out, *sent_bytes, "Run Bytes Sent By Job");
            bytes(out, *received_bytes, "Run Bytes Received By Job");
        }
        EventBody::Generic { info } => {
            out.push_str(info);
            out.push('\n');
        }
        EventBody::Aborted { reason } => {
            out.push_str("Job was aborted.\n");
            if let Some(r) = reason {
                let _ = writeln!(out, "\t{r}");
            }
        }
        EventBody::Suspended { num_pids } => {
            let _ = writeln!(
                out,
                "Job was suspended.\n\tNumber of processes actually suspended: {num_pids}"
            );
        }
        EventBody::Held(h) => {
            let _ = writeln!(
                out,
                "Job was held.\n\t{}\n\tCode {} Subcode {}",
                h.reason.as_deref().unwrap_or("Reason unspecified"),
                h.code,
                h.subcode
            );
        }
        EventBody::Released { reason } => {
            out.push_str("Job was released.\n");
            if let Some(r) = reason {
                let _ = writeln!(out, "\t{r}");
            }
        }
        EventBody::PostScriptTerminated {
            termination: t,
            dag_node,
        } => {
            out.push_str("POST Script terminated.\n");
            termination(out, t);
            if let Some(n) = dag_node {
                let _ = writeln!(out, "    DAG Node: {n}");
            }
        }
        EventBody::RemoteError {
            critical,
            daemon,
            host,
            message,
            code,
            subcode,
        } => {
            let _ = writeln!(
                out,
                "{} from {daemon} on {host}:",
                if *critical { "Error" } else { "Message" }
            );
            indented_lines(out, "\t", message);
            if *code != 0 {
                let _ = writeln!(out, "\tCode {code} Subcode {subcode}");
            }
        }
        EventBody::Disconnected {
            reason,
            startd_name,
            startd_addr,
        } => {
            let _ = writeln!(
                out,
                "Job disconnected, attempting to reconnect\n    {reason}\n    Trying to reconnect to {startd_name} {startd_addr}"
            );
        }
        EventBody::Reconnected {
            startd_name,
            startd_addr,
            starter_addr,
        } => {
            let _ = writeln!(
                out,
                "Job reconnected to {startd_name}\n    startd address: {startd_addr}\n    starter address: {starter_addr}"
            );
        }
        EventBody::ReconnectFailed {
            reason,
            startd_name,
        } => {
            let _ = writeln!(
                out,
                "Job reconnection failed\n    {reason}\n    Can not reconnect to {startd_name}, rescheduling job"
            );
        }
        EventBody::GridResource { resource } => {
            let _ = writeln!(out, "{title}\n    GridResource: {resource}");
        }
        EventBody::GridSubmit { resource, job_id } => {
            let _ = writeln!(
                out,
                "{title}\n    GridResource: {resource}\n    GridJobId: {job_id}"
            );
        }
        EventBody::JobAdInformation { attrs } => {
            out.push_str("Job ad information event triggered.\n");
            for (k, v) in attrs {
                let _ = writeln!(out, "{k} = {v}");
            }
        }
        EventBody::AttributeUpdate {
            attribute,
            old_value,
            value,
        } => {
            let _ = match old_value {
                Some(old) => writeln!(
                    out,
                    "Changing job attribute {attribute} from {old} to {value}"
                ),
                None => writeln!(out, "Setting job attribute {attribute} to {value}"),
            };
        }
        EventBody::ClusterSubmit { host } => {
            let _ = writeln!(out, "Cluster submitted from host: {host}");
        }
        EventBody::ClusterRemove {
            next_proc,
            next_row,
            completion,
            notes,
        } => {
            let status = match completion {
                1 => "Complete".to_string(),
                2 => "Paused".to_string(),
                0 => "Incomplete".to_string(),
                e => format!("Error {e}"),
            };
            let _ = writeln!(
                out,
                "Cluster removed\n\tMaterialized {next_proc} jobs from {next_row} items.\t{status}"
            );
            if let Some(n) = notes {
                let _ = writeln!(out, "\t{n}");
            }
        }
        EventBody::FileTransfer {
            kind,
            queueing_delay,
            host,
        } => {
            out.push_str(FILE_TRANSFER_TITLES[*kind as usize - 1]);
            out.push('\n');
            if let Some(d) = queueing_delay {
                let _ = writeln!(out, "\tSeconds spent in queue: {d}");
            }
            if let Some(h) = host {
                let _ = writeln!(out, "\tTransferring to host: {h}");
            }
        }
        EventBody::PreSkip { dag_node } => {
            out.push_str("PRE script return value is PRE_SKIP value\n");
            if let Some(n) = dag_node {
                let _ = writeln!(out, "    DAG Node: {n}");
            }
        }
        EventBody::Other { head, lines, .. } => {
            out.push_str(head);
            out.push('\n');
            for l in lines {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out.push_str("...\n");
}

/// Builds the padded `Global JobLog:` info text of the 008 header event that starts every
/// global event log file (`WriteUserLogHeader::GenerateEvent`).
#[allow(clippy::too_many_arguments)]
pub fn global_header_info(
    ctime: i64,
    id: &str,
    sequence: i64,
    size: u64,
    events: u64,
    offset: u64,
    event_off: u64,
    max_rotation: i64,
    creator: &str,
) -> String {
    let mut info = format!(
        "Global JobLog: ctime={ctime} id={id} sequence={sequence} size={size} events={events} offset={offset} event_off={event_off} max_rotation={max_rotation} creator_name=<{creator}>"
    );
    while info.len() < 256 {
        info.push(' ');
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_table_matches_htcondor_layout() {
        let row = |r: &str, u: Option<Value>, q: Option<Value>, a: Option<Value>| UsageRow {
            resource: r.to_string().into(),
            usage: u,
            request: q,
            allocated: a,
            assigned: None,
        };
        let rows = vec![
            row(
                "Cpus",
                Some(Value::Real(0.01)),
                Some(Value::Int(1)),
                Some(Value::Int(1)),
            ),
            row(
                "Disk",
                Some(Value::Int(17)),
                Some(Value::Int(10240)),
                Some(Value::Int(11264)),
            ),
            row("GPUs", None, None, Some(Value::Int(0))),
            row(
                "Memory",
                Some(Value::Int(5)),
                Some(Value::Int(128)),
                Some(Value::Int(128)),
            ),
            row("TimeExecute", Some(Value::Int(6)), None, None),
        ];
        let mut out = String::new();
        write_usage_table(&mut out, &rows);
        assert_eq!(
            out,
            "\tPartitionable Resources :    Usage  Request Allocated \n\
             \t   Cpus                 :     0.01        1         1 \n\
             \t   Disk (KB)            :    17       10240     11264 \n\
             \t   GPUs                 :                           0 \n\
             \t   Memory (MB)          :     5         128       128 \n\
             \t   TimeExecute (s)      :     6                       \n"
        );
    }
}
