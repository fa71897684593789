//! The pool simulator: synthetic HTCondor event logs with known ground truth, for training
//! and testing holdadvisor without a pool (`holdadvisor simulate`).
//!
//! THE DATA IS SYNTHETIC. A discrete-event model of an HTCondor access point and the
//! execution sites it sends jobs to: users submit clusters of procs; procs are matched to
//! slots on execution points grouped in sites, transfer input, run with image-size updates,
//! get evicted or disconnected, transfer output and terminate — or are held for a hidden
//! cause (site storage/network outages, black-hole execution points, missing input or output
//! files, memory or disk above the request, a bad executable, a `periodic_hold` limit, the
//! owner's `condor_hold`), after which simulated owners release, `condor_qedit` and release,
//! remove, leave the job, or a `periodic_release` policy releases it. In the default scenario
//! every owner decides each hold afresh; `[users] habit_spread` gives each owner lasting habits
//! (how often their jobs are broken, whether they fix a cause before releasing, how soon they
//! look). Every rate comes from a scenario file (`default_scenario.toml`, embedded).
//!
//! Output in the directory given to [`simulate`]: `EventLog` (the access point's global event log, all jobs in time
//! order, starting with the `008 Global JobLog` header; rotated past a size if the scenario
//! asks), one user log per cluster at `DIR/<UserLog>` (the path in the job ad, e.g.
//! `DIR/home/alice/calib-7/1001.log`), `truth.jsonl` (one line per hold episode with its
//! hidden cause and the outcome of the releases nobody tried) and `condor_q.json` (a
//! `condor_q -json` snapshot at the end, in HTCondor's layout).
//!
//! ```no_run
//! use holdadvisor_simulate::{LogFormat, Scenario, simulate};
//! # fn main() -> anyhow::Result<()> {
//! let scenario = Scenario::from_toml(None)?; // the built-in default scenario
//! let summary = simulate(&scenario, 1000, 1, "pool".as_ref(), LogFormat::Text)?;
//! println!("{} holds among {} jobs (synthetic)", summary.holds, summary.jobs);
//! # Ok(()) }
//! ```
//!
//! Clusters interact only through the pool's exogenous state (outage windows and black
//! holes, drawn up front), so each cluster is simulated alone, in submission order, and its
//! events are merged into the global log with a heap: memory is bounded by the clusters
//! alive at one time, not by `--jobs`. Slot contention is not modelled: the matchmaking
//! delay is drawn from the scenario.

mod cluster;
mod pool;
mod rng;
pub mod scenario;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::DateTime;
use holdadvisor_parsers::condor_q::{JOB_ADS_JSON_END, push_job_ad_json};
use holdadvisor_parsers::event::{DateForm, Event, EventBody, JobId, Position};
use holdadvisor_parsers::writer::{TextOptions, global_header_info, write_json, write_text};

use cluster::{ClusterOut, Habit, Spec};
use pool::Pool;
use rng::Rng;
pub use scenario::Scenario;

/// Event-log format of the simulated logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// What a run wrote.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub jobs: u64,
    pub clusters: u64,
    pub events: u64,
    pub holds: u64,
    pub start: i64,
    pub end: i64,
    pub queue: u64,
}

const USER_NAMES: [&str; 24] = [
    "alice", "bob", "carol", "dmitri", "emma", "farid", "grace", "hiro", "ines", "jamal", "kasia",
    "lena", "mateo", "nadia", "oscar", "priya", "quentin", "rosa", "sven", "tariq", "uma",
    "viktor", "wen", "yusuf",
];

fn user_name(i: u32) -> String {
    let base = USER_NAMES[i as usize % USER_NAMES.len()];
    match i as usize / USER_NAMES.len() {
        0 => base.to_string(),
        n => format!("{base}{n}"),
    }
}

fn format_event(out: &mut String, ev: &Event, format: LogFormat) {
    match format {
        LogFormat::Text => write_text(out, ev, &TextOptions::default()),
        LogFormat::Json => write_json(out, ev),
    }
}

/// The global event log, with HTCondor's header event and optional rotation.
struct GlobalLog {
    path: PathBuf,
    format: LogFormat,
    max_bytes: u64,
    max_rotations: u32,
    file: BufWriter<File>,
    size: u64,
    events: u64,
    total_bytes: u64,
    total_events: u64,
    sequence: i64,
    ctime: i64,
    header: Event,
    header_len: usize,
}

impl GlobalLog {
    fn create(
        path: PathBuf,
        format: LogFormat,
        max_bytes: u64,
        max_rotations: u32,
        t: i64,
        seed: u64,
    ) -> anyhow::Result<GlobalLog> {
        let file = BufWriter::with_capacity(
            1 << 20,
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        let header = Event {
            number: holdadvisor_parsers::EventType::Generic.number(),
            id: JobId {
                cluster: -1,
                proc: -1,
                subproc: -1,
            },
            time: DateTime::from_timestamp(t, 0)
                .unwrap_or_default()
                .naive_utc(),
            utc: false,
            timestamp: t,
            date_form: DateForm::Iso,
            body: EventBody::Generic {
                info: String::new(),
            },
            position: Position::default(),
        };
        let mut g = GlobalLog {
            path,
            format,
            max_bytes,
            max_rotations: max_rotations.max(1),
            file,
            size: 0,
            events: 0,
            total_bytes: 0,
            total_events: 0,
            sequence: 1,
            ctime: t,
            header,
            header_len: 0,
        };
        g.write_header(seed)?;
        Ok(g)
    }

    fn header_bytes(&self, size: u64, events: u64, seed: u64) -> String {
        let id = format!(
            "0.{}.{}.{}.1.{}.{}",
            2000 + seed % 50000,
            self.ctime,
            seed % 1_000_000,
            self.ctime,
            (seed / 7) % 1_000_000
        );
        let info = global_header_info(
            self.ctime,
            &id,
            self.sequence,
            size,
            events,
            self.total_bytes,
            self.total_events,
            i64::from(self.max_rotations),
            "",
        );
        let mut ev = self.header.clone();
        ev.body = EventBody::Generic { info };
        let mut out = String::new();
        format_event(&mut out, &ev, self.format);
        out
    }

    fn write_header(&mut self, seed: u64) -> anyhow::Result<()> {
        let h = self.header_bytes(0, 0, seed);
        self.header_len = h.len();
        self.file.write_all(h.as_bytes())?;
        self.size = h.len() as u64;
        self.events = 0;
        Ok(())
    }

    fn write(&mut self, t: i64, bytes: &[u8], seed: u64) -> anyhow::Result<()> {
        if self.max_bytes > 0 && self.events > 0 && self.size + bytes.len() as u64 > self.max_bytes
        {
            self.rotate(t, seed)?;
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        self.events += 1;
        Ok(())
    }

    fn rotate(&mut self, t: i64, seed: u64) -> anyhow::Result<()> {
        // Rewrite this file's header with its final size and event count (same length).
        let h = self.header_bytes(self.size, self.events, seed);
        self.file.flush()?;
        if h.len() == self.header_len {
            let f = self.file.get_mut();
            f.seek(SeekFrom::Start(0))?;
            f.write_all(h.as_bytes())?;
            f.seek(SeekFrom::End(0))?;
        }
        self.total_bytes += self.size;
        self.total_events += self.events;
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("EventLog")
            .to_string();
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if self.max_rotations == 1 {
            std::fs::rename(&self.path, dir.join(format!("{name}.old")))?;
        } else {
            for i in (1..self.max_rotations).rev() {
                let from = dir.join(format!("{name}.{i}"));
                if from.exists() {
                    std::fs::rename(&from, dir.join(format!("{name}.{}", i + 1)))?;
                }
            }
            std::fs::rename(&self.path, dir.join(format!("{name}.1")))?;
        }
        self.file = BufWriter::with_capacity(1 << 20, File::create(&self.path)?);
        self.sequence += 1;
        self.ctime = t;
        self.header.time = DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .naive_utc();
        self.header.timestamp = t;
        self.write_header(seed)
    }
}

/// One cluster's formatted events waiting to be merged into the global log.
struct Pending {
    bytes: String,
    spans: Vec<(i64, u32, u32)>,
}

/// Runs the simulation and writes its files into `out`.
pub fn simulate(
    sc: &Scenario,
    jobs: u64,
    seed: u64,
    out: &Path,
    format: LogFormat,
) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Pass 1: the clusters' sizes, owners and submission times.
    let mut arrivals = Rng::derive(seed, 3, 0);
    let c = &sc.clusters;
    let mut specs: Vec<(i64, u32, u32)> = Vec::new();
    let mut t = sc.pool.start as f64;
    let mut left = jobs;
    let mean_procs = c.procs_median * (c.procs_sigma * c.procs_sigma / 2.0).exp();
    let cluster_gap = 3600.0 * mean_procs / sc.pool.jobs_per_hour;
    // Some users submit far more than others.
    let weights: Vec<f64> = (0..sc.users.count)
        .map(|i| 1.0 / (1.0 + f64::from(i)).powf(0.8))
        .collect();
    while left > 0 {
        let procs = (arrivals.lognormal(c.procs_median, c.procs_sigma).round() as u64)
            .clamp(1, u64::from(c.procs_max.max(1)))
            .min(left);
        let owner = arrivals.weighted(&weights) as u32;
        specs.push((t as i64, procs as u32, owner));
        left -= procs;
        t += arrivals.exp(cluster_gap);
    }
    // `[stress]`: one owner's broken cluster, in submission order among the others.
    let broken_at = (sc.stress.broken_cluster_at_hours >= 0.0)
        .then(|| sc.pool.start + (sc.stress.broken_cluster_at_hours * 3600.0) as i64);
    let broken_index = broken_at.map(|at| {
        let k = specs.partition_point(|s| s.0 <= at);
        specs.insert(k, (at, sc.stress.broken_cluster_procs.max(1), 0));
        k
    });
    let quiet = sc.stress.quiet(sc.pool.start);
    let end = specs.last().map_or(sc.pool.start, |s| s.0) + (sc.pool.tail_hours * 3600.0) as i64;
    let pool = Pool::new(sc, seed, specs.last().map_or(sc.pool.start, |s| s.0));

    let mut global = GlobalLog::create(
        out.join("EventLog"),
        format,
        sc.pool.event_log_max_bytes,
        sc.pool.event_log_max_rotations,
        sc.pool.start,
        seed,
    )?;
    let mut truth = BufWriter::with_capacity(1 << 20, File::create(out.join("truth.jsonl"))?);
    let mut q = BufWriter::with_capacity(1 << 20, File::create(out.join("condor_q.json"))?);
    let mut q_buf = String::new();
    let mut q_count = 0u64;
    let mut pending: Vec<Option<Pending>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(i64, u64, usize, usize)>> = BinaryHeap::new();
    let mut summary = Summary {
        jobs: specs.iter().map(|s| u64::from(s.1)).sum(),
        clusters: specs.len() as u64,
        start: sc.pool.start,
        end,
        ..Summary::default()
    };
    let mut order = 0u64;

    let flush_until = |limit: i64,
                       heap: &mut BinaryHeap<Reverse<(i64, u64, usize, usize)>>,
                       pending: &mut Vec<Option<Pending>>,
                       free: &mut Vec<usize>,
                       global: &mut GlobalLog|
     -> anyhow::Result<()> {
        while let Some(Reverse((t, ord, slot, i))) = heap.peek().copied() {
            if t > limit {
                break;
            }
            heap.pop();
            let p = pending[slot].as_ref().expect("pending cluster");
            let (_, a, b) = p.spans[i];
            global.write(t, &p.bytes.as_bytes()[a as usize..b as usize], seed)?;
            if i + 1 < p.spans.len() {
                heap.push(Reverse((p.spans[i + 1].0, ord, slot, i + 1)));
            } else {
                pending[slot] = None;
                free.push(slot);
            }
        }
        Ok(())
    };

    for (k, (submit, procs, owner)) in specs.iter().enumerate() {
        flush_until(*submit, &mut heap, &mut pending, &mut free, &mut global)?;
        let spec = Spec {
            cluster: sc.pool.first_cluster + k as i64,
            owner: user_name(*owner),
            habit: Habit::of_owner(seed, *owner, sc.users.habit_spread),
            submit: *submit,
            procs: *procs,
            end,
            seed,
            broken: broken_index == Some(k),
            sound: quiet.is_some_and(|(from, to)| (from..to).contains(submit)),
        };
        let ClusterOut {
            events,
            truth: lines,
            ads,
            user_log,
        } = cluster::simulate(sc, &pool, &spec);
        summary.events += events.len() as u64;
        summary.holds += lines.lines().count() as u64;
        truth.write_all(lines.as_bytes())?;
        for ad in &ads {
            q_buf.clear();
            push_job_ad_json(&mut q_buf, ad, q_count == 0);
            q.write_all(q_buf.as_bytes())?;
            q_count += 1;
        }
        if events.is_empty() {
            continue;
        }
        let mut bytes = String::with_capacity(events.len() * 300);
        let mut spans = Vec::with_capacity(events.len());
        for ev in &events {
            let a = bytes.len() as u32;
            format_event(&mut bytes, ev, format);
            spans.push((ev.timestamp, a, bytes.len() as u32));
        }
        let log_path = out.join(user_log.trim_start_matches('/'));
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&log_path, bytes.as_bytes())
            .with_context(|| format!("writing {}", log_path.display()))?;
        let first = spans[0].0;
        let p = Pending { bytes, spans };
        let slot = match free.pop() {
            Some(s) => {
                pending[s] = Some(p);
                s
            }
            None => {
                pending.push(Some(p));
                pending.len() - 1
            }
        };
        order += 1;
        heap.push(Reverse((first, order, slot, 0)));
    }
    flush_until(i64::MAX, &mut heap, &mut pending, &mut free, &mut global)?;
    global.file.flush()?;
    truth.flush()?;
    if q_count > 0 {
        q.write_all(JOB_ADS_JSON_END.as_bytes())?;
    }
    q.flush()?;
    summary.queue = q_count;
    Ok(summary)
}
