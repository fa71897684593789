//! `holdadvisor collect [--log PATH | --from-config] [--follow]`: ingest the access point's
//! global event log into the cache: hold episodes, the outcomes of earlier ones, and a
//! prediction for every new hold before anyone asks.
//!
//! Rotated files (`EventLog.old`, or `.1` … `.N` with `.1` newest) are read oldest first.
//! Every run reads the retained files from their start, because a hold's encoding needs the
//! history and pool context before it; what it records is keyed by (job, hold time) and
//! written in one transaction with the file position, so records are never lost or doubled,
//! however a run ends. Rotation and truncation are detected by file identity and size.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use holdadvisor_models::encode::{Episode, EpisodeStream};
use holdadvisor_models::inference::Predictor;
use holdadvisor_models::labels::Label;
use holdadvisor_models::pool_calibration::{PoolFit, REFIT_OUTCOMES, newest_resolved};
use holdadvisor_parsers::{EventReader, ReadOptions, Zone};

use crate::advice::{Facts, advise};
use crate::cache::{Cache, Position, Stored};
use crate::predict::parse_action;
use crate::predict::{
    ClusterMates, Histories, HoldsNearby, Malformed, fit_to_pool, fitted, missing_input_now,
    model_id, new_episode, note_memory, prediction_row,
};
use crate::publish::{self, Published, advice_word};
use crate::{config, schedd};

/// `--interval`: seconds from 0 to 86400 (`inf` made the sleep panic).
fn interval_seconds(text: &str) -> Result<f64, String> {
    let s = finite_seconds(text)?;
    if s > 86_400.0 {
        return Err(format!("{s}: expected at most 86400 seconds"));
    }
    Ok(s)
}

/// A finite number of seconds, at least 0 (NaN never stopped `--for-seconds`).
fn finite_seconds(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: expected a number of seconds"))?;
    if !s.is_finite() || s < 0.0 {
        return Err(format!("{text}: expected a finite number of seconds >= 0"));
    }
    Ok(s)
}

#[derive(clap::Args, Debug)]
pub struct CollectArgs {
    /// The global event log (default: `condor_config_val EVENT_LOG`).
    #[arg(long, conflicts_with = "from_config")]
    pub log: Option<PathBuf>,
    /// Ask HTCondor for the global event log's path.
    #[arg(long = "from-config")]
    pub from_config: bool,
    /// Keep reading as the log grows (and follow its rotations).
    #[arg(long)]
    pub follow: bool,
    /// Seconds between looks at a followed log (0 to 86400).
    #[arg(long, default_value_t = 1.0, value_parser = interval_seconds)]
    pub interval: f64,
    /// Stop following after this many seconds (default: never).
    #[arg(long, value_parser = finite_seconds)]
    pub for_seconds: Option<f64>,
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// No summary line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Set HoldAdvice, HoldAdviceReleaseProbability, HoldAdviceReason, HoldAdviceModel and
    /// HoldAdviceTime in each held job's ad with condor_qedit (run it as a queue super user,
    /// such as condor), and clear them when the job leaves hold.
    #[arg(long)]
    pub publish: bool,
}

/// The global log's path from HTCondor's configuration.
/// Rotated files of `path`, oldest first, then `path` itself.
pub fn rotation_set(path: &Path) -> Vec<PathBuf> {
    let mut numbered: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let file = e.file_name();
                let Some(f) = file.to_str() else { continue };
                if let Some(n) = f
                    .strip_prefix(name)
                    .and_then(|s| s.strip_prefix('.'))
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    numbered.push((n, e.path()));
                }
            }
        }
    }
    numbered.sort_by_key(|n| std::cmp::Reverse(n.0));
    let mut files: Vec<PathBuf> = numbered.into_iter().map(|(_, p)| p).collect();
    let old = PathBuf::from(format!("{}.old", path.display()));
    if old.is_file() {
        files.push(old);
    }
    files.push(path.to_path_buf());
    files
}

struct Collector<'a> {
    cache: &'a Cache,
    predictor: Predictor,
    model_id: String,
    stream: EpisodeStream,
    /// The label last written for each episode of the stream.
    recorded: Vec<Option<Label>>,
    predicted: Vec<bool>,
    memory: std::collections::BTreeMap<(i64, i64), i64>,
    /// Each job's newest HoldReason, with the time of its hold.
    reasons: std::collections::HashMap<(i64, i64), (i64, String)>,
    /// Each job's UserLog, where the log names it (`UserLog` in job ad information events:
    /// `EVENT_LOG_JOB_AD_INFORMATION_ATTRS`). Owners and sites come with the episodes.
    user_logs: std::collections::HashMap<(i64, i64), String>,
    episodes_added: usize,
    outcomes_added: usize,
    predictions_added: usize,
    /// The model refitted to the pool's resolved holds, and `outcomes_added` when it was.
    pool_fit: Option<PoolFit>,
    outcomes_at_fit: Option<usize>,
    /// What `--publish` last set in each held job's ad (`None`: nothing published yet).
    published: Option<std::collections::HashMap<(i64, i64), Published>>,
}

impl Collector<'_> {
    /// Publishes the advice of every job the log shows held now into its ad, and clears it
    /// from jobs that left hold since; only what changed is edited.
    fn publish(&mut self) -> anyhow::Result<publish::Outcome> {
        let episodes = self.stream.episodes();
        let mut latest: std::collections::HashMap<(i64, i64), usize> = Default::default();
        for (i, ep) in episodes.iter().enumerate() {
            latest.insert((ep.job.cluster, ep.job.proc), i);
        }
        // The jobs the log shows held now, and what this model stored for them: one query.
        let held: std::collections::HashMap<(i64, i64), &Episode> = latest
            .iter()
            .map(|(&job, &i)| (job, &episodes[i]))
            .filter(|(_, ep)| ep.label == Label::Open && !ep.released)
            .collect();
        let jobs: Vec<(i64, i64)> = held.keys().copied().collect();
        let mut wanted = std::collections::HashMap::new();
        for row in self
            .cache
            .episodes_with_predictions(&jobs, &self.model_id)?
        {
            let Some(ep) = held
                .get(&(row.cluster, row.proc))
                .filter(|ep| ep.hold_time == row.hold_time)
            else {
                continue;
            };
            // Only what this version reads back: never a stored text.
            let Some(pred) = row.prediction else { continue };
            let (Some(action), true) = (
                parse_action(&pred.advice),
                (0.0..=1.0).contains(&pred.probability),
            ) else {
                continue;
            };
            let name = usize::try_from(ep.code)
                .ok()
                .and_then(|c| holdadvisor_parsers::hold_code::hold_code(c as i32))
                .map_or("unknown code", |h| h.name);
            wanted.insert(
                (row.cluster, row.proc),
                Published {
                    advice: advice_word(&action),
                    percent: (pred.probability * 100.0).round().clamp(0.0, 100.0) as u8,
                    reason: format!("{}/{} {name}: {}", ep.code, ep.subcode, action.describe()),
                },
            );
        }
        let before = self.published.take();
        let now = chrono::Utc::now().timestamp();
        let mut calls = publish::edits(
            &wanted,
            before.as_ref().unwrap_or(&Default::default()),
            &self.model_id,
            now,
        );
        // Jobs that left hold: at the start (a run before may have published), and whenever
        // a job published before is no longer held.
        if before
            .as_ref()
            .is_none_or(|b| b.keys().any(|job| !wanted.contains_key(job)))
        {
            calls.push(publish::clear_call());
        }
        let done = publish::run(&calls)?;
        self.published = Some(wanted);
        Ok(done)
    }

    /// Every event `reader` has now, malformed ones noted; with a bar, its position, and the
    /// bar cleared at the end.
    fn push_all(
        &mut self,
        reader: &mut EventReader<impl std::io::Read>,
        malformed: &mut Malformed,
        bar: Option<indicatif::ProgressBar>,
    ) {
        let mut n: u64 = 0;
        while let Some(item) = reader.next() {
            match item {
                Ok(e) => self.push(&e),
                Err(e) => malformed.note(e),
            }
            n += 1;
            if let Some(bar) = &bar
                && n.is_multiple_of(8192)
            {
                bar.set_position(reader.offset());
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }

    fn push(&mut self, e: &holdadvisor_parsers::Event) {
        note_memory(&mut self.memory, e);
        // The newest HoldReason of each job, for the advice's WHY and the cache's record.
        use holdadvisor_parsers::EventBody;
        match &e.body {
            EventBody::Held(h) => {
                if let Some(reason) = &h.reason {
                    self.reasons
                        .insert((e.id.cluster, e.id.proc), (e.timestamp, reason.clone()));
                }
            }
            EventBody::JobAdInformation { attrs } => {
                if let Some(log) = attrs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("UserLog"))
                    .and_then(|(_, v)| v.as_str())
                {
                    self.user_logs
                        .insert((e.id.cluster, e.id.proc), log.to_string());
                }
            }
            _ => {}
        }
        self.stream.push(e);
    }

    /// The HoldReason of `ep`'s hold, when it is the job's newest the log has shown.
    fn reason_of(&self, ep: &Episode) -> Option<&str> {
        self.reasons
            .get(&(ep.job.cluster, ep.job.proc))
            .filter(|(t, _)| *t == ep.hold_time)
            .map(|(_, r)| r.as_str())
    }

    /// Writes what changed since the last sync, with the file position, in one transaction;
    /// then predicts the holds that have no prediction yet.
    fn sync(&mut self, position: Option<&Position>) -> anyhow::Result<()> {
        let episodes = self.stream.episodes();
        let mut new = Vec::new();
        let mut outcomes = Vec::new();
        for (i, ep) in episodes.iter().enumerate() {
            if i >= self.recorded.len() {
                self.recorded.push(None);
                self.predicted.push(false);
                new.push(new_episode(
                    ep,
                    self.reason_of(ep).map(str::to_string),
                    None,
                ));
            }
            if ep.label != Label::Open && self.recorded[i] != Some(ep.label) {
                let label = match ep.label {
                    Label::Positive => "positive",
                    Label::Negative => "negative",
                    _ => "censored",
                };
                outcomes.push((ep.job.cluster, ep.job.proc, ep.hold_time, label.to_string()));
                self.recorded[i] = Some(ep.label);
            }
        }
        let (added, changed) = self.cache.record(&new, &outcomes, position)?;
        self.episodes_added += added;
        self.outcomes_added += changed;
        // Predict new holds still open, in one batch.
        let mut todo = Vec::new();
        for (i, ep) in episodes.iter().enumerate() {
            if self.predicted[i] || ep.label != Label::Open || ep.released {
                continue;
            }
            // Predicted by an earlier run (or by `q`) with this model: keep that answer. A hold
            // whose outcome the cache already knows (from a fuller copy of the log read
            // before) is not predicted now: that answer would be after the fact, and
            // `feedback` would judge it as if made before.
            let known = match self
                .cache
                .episode(ep.job.cluster, ep.job.proc, ep.hold_time)?
            {
                Some(row) => {
                    self.cache.prediction(row.id, &self.model_id)?.is_some()
                        || self.cache.has_outcome(row.id)?
                }
                None => false,
            };
            if known {
                self.predicted[i] = true;
            } else {
                todo.push(i);
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        if self
            .outcomes_at_fit
            .is_none_or(|n| self.outcomes_added >= n + REFIT_OUTCOMES)
        {
            self.pool_fit = Some(fit_to_pool(
                &self.predictor,
                episodes,
                &newest_resolved(episodes, None),
            )?);
            self.outcomes_at_fit = Some(self.outcomes_added);
        }
        let inputs: Vec<_> = todo.iter().map(|&i| &episodes[i].inputs[0]).collect();
        let probabilities = self.predictor.predict_refs(&inputs)?;
        let mut histories = Histories::new(self.cache);
        let nearby = HoldsNearby::new(episodes);
        let mates = ClusterMates::new(episodes);
        let mut stored = Vec::with_capacity(todo.len());
        for (&i, p) in todo.iter().zip(probabilities) {
            let ep = &episodes[i];
            let fit = self.pool_fit.as_ref().expect("fitted above");
            let (probability, calibrated_on) = fitted(fit, p, ep);
            let reason = self.reason_of(ep);
            let facts = Facts {
                code: ep.code,
                subcode: ep.subcode,
                reason,
                probability,
                calibrated_on,
                pool_table_only: fit.calibration.as_ref().is_some_and(|f| f.table_only),
                remove_below: Some(fit.remove_below),
                episode: i64::from(ep.index),
                history: histories.get(ep.code, ep.subcode)?,
                similar: nearby.others(ep),
                cluster_mates: mates.of(ep),
                log_memory_mb: self.memory.get(&(ep.job.cluster, ep.job.proc)).copied(),
                // collect runs on the access point: it can see whether a missing input is
                // there now, as q does.
                missing_input: missing_input_now(ep.code, reason),
                ..Default::default()
            };
            let advice = advise(&facts);
            let commands = advice
                .action
                .commands(&format!("{}.{}", ep.job.cluster, ep.job.proc));
            stored.push(Stored {
                episode: new_episode(ep, reason.map(str::to_string), None),
                prediction: prediction_row(&self.model_id, &advice, &commands),
                owner: ep.owner.clone(),
                user_log: self.user_logs.get(&(ep.job.cluster, ep.job.proc)).cloned(),
            });
        }
        // One transaction for the batch; marked predicted only once it is stored.
        // Counted as this run stored them: a concurrent `collect` may have stored some first.
        self.predictions_added += self.cache.store_predictions(&stored)?;
        for &i in &todo {
            self.predicted[i] = true;
        }
        Ok(())
    }
}

fn identity(path: &Path) -> Option<(i64, i64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev() as i64, m.ino() as i64, m.len()))
}

fn utc() -> ReadOptions {
    // As the models read logs: times without `Z` are taken as UTC.
    ReadOptions {
        zone: Zone::Utc,
        ..Default::default()
    }
}

pub fn run(args: &CollectArgs) -> anyhow::Result<ExitCode> {
    let path = match &args.log {
        Some(p) => p.clone(),
        None => schedd::global_event_log()?,
    };
    crate::predict::check_event_log(&path)?;
    let cache = Cache::open(&config::cache_path(args.cache.as_deref())?)?;
    let model_dir = config::model_dir(args.model.as_deref())?;
    let predictor = Predictor::load(&model_dir)?;
    let mut c = Collector {
        cache: &cache,
        model_id: model_id(&model_dir)?,
        stream: predictor.stream(),
        predictor,
        recorded: Vec::new(),
        predicted: Vec::new(),
        memory: Default::default(),
        reasons: Default::default(),
        user_logs: Default::default(),
        episodes_added: 0,
        outcomes_added: 0,
        predictions_added: 0,
        pool_fit: None,
        outcomes_at_fit: None,
        published: None,
    };
    let files = rotation_set(&path);
    let (live, rotated) = files.split_last().expect("the log itself");
    // Malformed events are skipped (reading resumes at the next event), counted, reported
    // with the first one's location, and make the exit status 1: the record is incomplete.
    let mut skipped = 0;
    for f in rotated {
        let mut malformed = Malformed::default();
        c.push_all(
            &mut EventReader::open(f, utc()).with_context(|| format!("reading {}", f.display()))?,
            &mut malformed,
            (!args.quiet).then(|| crate::progress::reading(f)).flatten(),
        );
        malformed.warn(f);
        skipped += malformed.count;
    }
    let mut malformed = Malformed::default();
    let key = path.display().to_string();
    if let (Some(stored), Some((dev, ino, len))) = (cache.position(&key)?, identity(live))
        && stored.dev == dev
        && stored.inode == ino
        && (len as i64) < stored.offset
        && !args.quiet
    {
        {
            eprintln!(
                "holdadvisor collect: {key} was truncated (now {len} bytes, {} read before): reading it again",
                stored.offset
            );
        }
    }
    let started = std::time::Instant::now();
    let mut reader =
        EventReader::open(live, utc()).with_context(|| format!("reading {}", live.display()))?;
    let mut current = identity(live);
    // A bar over the first pass through the live file; following it after that, none.
    let mut bar = (!args.quiet)
        .then(|| crate::progress::reading(live))
        .flatten();
    loop {
        c.push_all(&mut reader, &mut malformed, bar.take());
        let (dev, ino, _) = current.unwrap_or_default();
        let pos = Position {
            path: key.clone(),
            dev,
            inode: ino,
            offset: reader.offset() as i64,
            line: reader.line() as i64,
        };
        c.sync(Some(&pos))?;
        if args.publish {
            let done = c.publish()?;
            if !args.quiet && done.calls > 0 {
                println!(
                    "published advice for {} held jobs: {} condor_qedit calls, {} set nothing (no job matched, or not a queue super user)",
                    c.published.as_ref().map_or(0, |p| p.len()),
                    done.calls,
                    done.set_nothing
                );
            }
        }
        if !args.follow
            || args
                .for_seconds
                .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
        {
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(args.interval.max(0.05)));
        // Rotated: finish the old file (the reader still holds it), then start the new one.
        let now = identity(live);
        if now.map(|(d, i, _)| (d, i)) != current.map(|(d, i, _)| (d, i)) && now.is_some() {
            reader.clear_eof();
            c.push_all(&mut reader, &mut malformed, None);
            reader = EventReader::open(live, utc())?;
            current = now;
        } else {
            reader.clear_eof();
        }
    }
    if !args.quiet {
        println!(
            "collected {}: {} new hold episodes, {} outcomes, {} predictions (cache {})",
            path.display(),
            c.episodes_added,
            c.outcomes_added,
            c.predictions_added,
            cache.path().display()
        );
    }
    // What was collected belongs in the database file, not in `-wal`, once collect is done.
    if !cache.checkpoint()? && !args.quiet {
        eprintln!(
            "note: {} is being read; its write-ahead log is merged when the readers close",
            cache.path().display()
        );
    }
    malformed.warn(live);
    skipped += malformed.count;
    Ok(if skipped > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
