//! `holdadvisor events FILE... [--job CLUSTER[.PROC]] [--json | --summary]`

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use holdadvisor_parsers::event_type::{EventCounts, event_name};
use holdadvisor_parsers::{Event, EventBody, EventReader, ReadOptions, Termination, Zone};

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Event log files (user logs or the global event log; `-` reads standard input).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Only events of this job: CLUSTER or CLUSTER.PROC.
    #[arg(long)]
    pub job: Option<String>,
    /// One JSON object per line, with HTCondor's attribute names.
    #[arg(long, conflicts_with = "summary")]
    pub json: bool,
    /// Only counts: events per type, incomplete, malformed, total.
    #[arg(long)]
    pub summary: bool,
    /// Year of the first `MM/DD` date (legacy logs carry none); default: inferred.
    #[arg(long)]
    pub year: Option<i32>,
    /// Read times without `Z` as UTC instead of local time.
    #[arg(long)]
    pub utc: bool,
    /// Stop at the first malformed event (exit 1) instead of reporting it and reading on.
    #[arg(long)]
    pub strict: bool,
    /// Bytes per parallel batch (at most 8 MB; default: the reader's own): for tests of
    /// batch boundaries on logs of a few MB.
    #[arg(long, hide = true)]
    pub batch_bytes: Option<usize>,
}

/// A job filter: `CLUSTER` or `CLUSTER.PROC`.
fn parse_job(spec: &str) -> anyhow::Result<(i64, Option<i64>)> {
    let (c, p) = match spec.split_once('.') {
        Some((c, p)) => (c, Some(p)),
        None => (spec, None),
    };
    let cluster = c.parse::<i64>().ok().filter(|c| *c >= 0);
    let proc = p.map(|p| p.parse::<i64>().ok().filter(|p| *p >= 0));
    match (cluster, proc) {
        (Some(c), None) => Ok((c, None)),
        (Some(c), Some(Some(p))) => Ok((c, Some(p))),
        _ => bail!("--job {spec:?}: expected CLUSTER or CLUSTER.PROC (non-negative integers)"),
    }
}

pub fn run(args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let filter = args.job.as_deref().map(parse_job).transpose()?;
    let opts = ReadOptions {
        year: args.year,
        zone: if args.utc { Zone::Utc } else { Zone::Local },
        ..Default::default()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut counts = EventCounts::default();
    let (mut total, mut malformed, mut incomplete) = (0u64, 0u64, 0u64);
    let mut failed = false;
    if !args.json && !args.summary {
        writeln!(
            out,
            "{:<7} {:<22} {:<14} {:<19}  DETAIL",
            "EVENT", "TYPE", "JOB", "TIME"
        )?;
    }
    for path in &args.files {
        // A file that is not an event log (judged by its first events) is an error naming
        // it, not an empty listing; standard input is read as it comes.
        if path.as_os_str() != "-" {
            crate::predict::check_event_log(path)?;
        }
        let mut reader = open_reader(path, &opts)?;
        if let Some(bytes) = args.batch_bytes {
            reader.set_batch_bytes(bytes);
        }
        // Strict stops at the first error and must count only the events before it, so it
        // reads one event at a time.
        if args.summary && !args.strict {
            reader.count_only(filter);
        }
        for item in reader.by_ref() {
            let event = match item {
                Ok(e) => e,
                Err(e) => {
                    malformed += 1;
                    eprintln!("holdadvisor: {e}");
                    if args.strict {
                        failed = true;
                        break;
                    }
                    continue;
                }
            };
            if let Some((c, p)) = filter
                && !event.id.is_of(c, p)
            {
                continue;
            }
            total += 1;
            counts.add(event.number);
            if args.json {
                serde_json::to_writer(&mut out, &event.to_json())?;
                out.write_all(b"\n")?;
            } else if !args.summary {
                print_row(&mut out, &event)?;
            }
        }
        if let Some(tally) = reader.tally() {
            total += tally.counts.total();
            counts.merge(&tally.counts);
        }
        if let Some(partial) = reader.incomplete() {
            incomplete += 1;
            eprintln!(
                "holdadvisor: {}:{}: (byte {}) last event is incomplete ({} bytes, no terminator yet)",
                path.display(),
                partial.line,
                partial.offset,
                partial.bytes
            );
        }
        if failed {
            break;
        }
    }
    if args.summary {
        writeln!(out, "{:<6} {:<24} {:>10}", "EVENT", "TYPE", "COUNT")?;
        for (number, n) in counts.iter() {
            writeln!(out, "{:03}    {:<24} {:>10}", number, event_name(number), n)?;
        }
        writeln!(out, "{:<31} {:>10}", "incomplete", incomplete)?;
        writeln!(out, "{:<31} {:>10}", "malformed", malformed)?;
        writeln!(out, "{:<31} {:>10}", "total events", total)?;
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A reader over a file, or standard input for `-`; both as one type.
pub fn open_reader(
    path: &std::path::Path,
    opts: &ReadOptions,
) -> anyhow::Result<EventReader<Box<dyn std::io::Read>>> {
    if path.as_os_str() == "-" {
        return Ok(EventReader::new(
            Box::new(std::io::stdin().lock()),
            "-",
            opts.clone(),
        ));
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let opts = ReadOptions {
        anchor: opts.anchor.or_else(|| file_anchor(path)),
        ..opts.clone()
    };
    // A regular file is read through a memory map (`src` only if it cannot be mapped).
    let src = file
        .try_clone()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let src: Box<dyn std::io::Read> = Box::new(src);
    Ok(EventReader::new(src, path.display().to_string(), opts).mapping(file))
}

fn file_anchor(path: &std::path::Path) -> Option<chrono::NaiveDateTime> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(chrono::DateTime::<chrono::Local>::from(modified).naive_local())
}

fn print_row(out: &mut impl Write, e: &Event) -> std::io::Result<()> {
    let detail = match &e.body {
        EventBody::Held(h) => format!(
            "code {}/{} {}",
            h.code,
            h.subcode,
            h.reason.as_deref().unwrap_or("")
        ),
        EventBody::Released { reason } | EventBody::Aborted { reason } => {
            reason.clone().unwrap_or_default()
        }
        EventBody::Terminated(t) => match &t.termination {
            Termination::Normal { return_value } => format!("return value {return_value}"),
            Termination::Abnormal { signal, .. } => format!("signal {signal}"),
        },
        EventBody::ImageSize(i) => format!(
            "{} KB, MemoryUsage {} MB",
            i.size_kb,
            i.memory_usage_mb.map_or("?".into(), |m| m.to_string())
        ),
        EventBody::Execute(x) => x.host.clone(),
        EventBody::Submit(s) => e
            .dag_node()
            .map_or_else(|| s.host.clone(), |n| format!("DAG node {n}")),
        EventBody::ShadowException { message, .. } => message.clone(),
        EventBody::Evicted(v) => v.reason.clone().unwrap_or_default(),
        EventBody::FileTransfer { kind, .. } => kind.title().to_string(),
        EventBody::Other { head, .. } => head.clone(),
        _ => String::new(),
    };
    let job = format!("{}.{}.{}", e.id.cluster, e.id.proc, e.id.subproc);
    writeln!(
        out,
        "{:03}     {:<22} {:<14} {}  {}",
        e.number,
        event_name(e.number),
        job,
        e.time.format("%Y-%m-%d %H:%M:%S"),
        detail
    )
}
