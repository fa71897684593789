//! Advice for held jobs, answered from the cache when it can be and computed otherwise:
//! read the job's event log, encode its current hold episode, predict in one batch, store.
//! `q` and `scan` both go through here.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use holdadvisor_models::encode::Episode;
use holdadvisor_models::inference::Predictor;
use holdadvisor_models::labels::Label;
use holdadvisor_models::pool_calibration::{
    CALIBRATION_WINDOW, PoolFit, ResolvedHold, newest_resolved,
};
use holdadvisor_parsers::JobId;
use holdadvisor_parsers::Value;
use holdadvisor_parsers::condor_q::{HELD, JobAd};
use holdadvisor_parsers::{Event, EventBody, EventReader, ReadOptions, Zone};

use crate::advice::{
    Action, Advice, Facts, MAX_DISK_KB, MAX_MEMORY_MB, PARTIAL_VIEW_MARK, Resource, advise,
    raise_target,
};
use crate::cache::{Cache, CodeHistory, NewEpisode, PredictionRow, Stored};
use holdadvisor_models::decision::{CostModel, confidence};

/// The model's identity in the cache: its weights and encoder hashes.
pub fn model_id(model_dir: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(model_dir.join("manifest.json")).with_context(|| {
        format!(
            "{}: no model here (manifest.json missing); train one or pass --model DIR",
            model_dir.display()
        )
    })?;
    let m: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}/manifest.json", model_dir.display()))?;
    let weights = m["weights_hash"].as_str().unwrap_or("?");
    let encoder = m["encoder_hash"].as_str().unwrap_or("?");
    Ok(format!("{weights}-{encoder}"))
}

/// Every job-ad attribute [`Advisor::advise_all`] reads (with [`advise`]): a command that
/// only advises can read just these of each ad (`scan` over a big queue does).
pub const ADVICE_ATTRS: &[&str] = &[
    "ClusterId",
    "ProcId",
    "JobStatus",
    "Owner",
    "EnteredCurrentStatus",
    "UserLog",
    "HoldReason",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "RequestMemory",
    "MemoryUsage",
    "RequestDisk",
    "DiskUsage",
    "ResidentSetSize",
];

/// One held job's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub advice: Advice,
    pub commands: Vec<String>,
    pub from_cache: bool,
    pub episode: i64,
}

/// What became of one job ad.
#[derive(Debug, Clone)]
pub enum Outcome {
    NotHeld {
        status: i64,
    },
    Advised(Answer),
    /// Held, but no advice could be made (no log, job not in its log, ...).
    Failed(String),
}

/// Holds the model (loaded on first need) and the caches.
pub struct Advisor<'a> {
    /// Where this process stores what it computes (and looks after `shared`).
    pub cache: &'a Cache,
    /// The shared cache `collect` writes, when this user may only read it: looked up first,
    /// and the pool's record of outcomes.
    pub shared: Option<&'a Cache>,
    pub model_dir: PathBuf,
    pub model_id: String,
    predictor: Option<Predictor>,
    /// A log to read instead of each job's UserLog (`-log FILE`, or the access point's
    /// global event log found in HTCondor's configuration): the pool-wide view.
    pub log_override: Option<PathBuf>,
    /// The override was found, not given: a job whose hold it does not hold (the log was
    /// rotated since) is answered from its own UserLog instead.
    pub fall_back_to_user_logs: bool,
    /// Jobs answered from their own log only, without the pool-wide view.
    pub partial_view_jobs: usize,
    /// Malformed events skipped in the logs read (each reported on stderr as it was read).
    pub malformed_events: u64,
    /// A log being read ahead ([`Advisor::read_ahead`]), and the flag that stops it.
    ahead: Option<ReadAhead>,
}

fn job_id(ad: &JobAd) -> String {
    format!("{}.{}", ad.cluster().unwrap_or(-1), ad.proc().unwrap_or(-1))
}

impl<'a> Advisor<'a> {
    pub fn new(
        cache: &'a Cache,
        model_dir: PathBuf,
        log_override: Option<PathBuf>,
    ) -> anyhow::Result<Advisor<'a>> {
        let model_id = model_id(&model_dir)?;
        Ok(Advisor {
            cache,
            shared: None,
            model_dir,
            model_id,
            predictor: None,
            log_override,
            fall_back_to_user_logs: false,
            partial_view_jobs: 0,
            malformed_events: 0,
            ahead: None,
        })
    }

    fn predictor(&mut self) -> anyhow::Result<&Predictor> {
        if self.predictor.is_none() {
            self.predictor = Some(Predictor::load(&self.model_dir)?);
        }
        Ok(self.predictor.as_ref().expect("loaded"))
    }

    /// Advice for each ad, in order. The cache is asked once for all of them; misses are
    /// grouped by event log and predicted in one batch per log.
    pub fn advise_all(&mut self, ads: &[JobAd]) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = vec![None; ads.len()];
        let mut misses: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        let held: Vec<usize> = (0..ads.len())
            .filter(|&i| {
                let status = ads[i].status().unwrap_or(0);
                if status != HELD {
                    out[i] = Some(Outcome::NotHeld { status });
                }
                status == HELD
            })
            .collect();
        let mut watch = crate::timing::Stopwatch::start();
        let cached = match self.cached_anywhere(&held.iter().map(|&i| &ads[i]).collect::<Vec<_>>())
        {
            Ok(answers) => answers,
            Err(e) => {
                let e = format!("{e:#}");
                held.iter().map(|_| Err(e.clone())).collect()
            }
        };
        for (i, answer) in held.into_iter().zip(cached) {
            let ad = &ads[i];
            match answer {
                Ok(Some(answer)) => {
                    if answer.advice.why.contains(PARTIAL_VIEW_MARK) {
                        self.partial_view_jobs += 1;
                    }
                    out[i] = Some(Outcome::Advised(answer));
                }
                Ok(None) => {
                    let log = self
                        .log_override
                        .clone()
                        .or_else(|| ad.string("UserLog").map(PathBuf::from));
                    match log {
                        Some(log) => misses.entry(log).or_default().push(i),
                        None => out[i] = Some(Outcome::Failed("no UserLog in its ad: give -log FILE (its user log or the global event log)".into())),
                    }
                }
                Err(e) => out[i] = Some(Outcome::Failed(e)),
            }
        }
        watch.mark("cache lookup");
        if self
            .ahead
            .as_ref()
            .is_some_and(|a| !misses.contains_key(&a.path))
        {
            self.ahead = None;
        }
        let mut retry: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
        let user_log = |i: usize| ads[i].string("UserLog").map(PathBuf::from);
        for (log, idx) in misses {
            let pool_wide = self.log_override.as_ref() == Some(&log);
            let fall_back = pool_wide && self.fall_back_to_user_logs;
            let subset: Vec<&JobAd> = idx.iter().map(|&i| &ads[i]).collect();
            let results = match self.compute(&log, &subset, !pool_wide) {
                Ok(results) => results,
                Err(e) => idx
                    .iter()
                    .map(|_| Outcome::Failed(format!("{e:#}")))
                    .collect(),
            };
            for (i, r) in idx.into_iter().zip(results) {
                match (&r, fall_back.then(|| user_log(i)).flatten()) {
                    (Outcome::Failed(_), Some(own)) => retry.entry(own).or_default().push(i),
                    _ => out[i] = Some(r),
                }
            }
        }
        for (log, idx) in retry {
            let subset: Vec<&JobAd> = idx.iter().map(|&i| &ads[i]).collect();
            match self.compute(&log, &subset, true) {
                Ok(results) => {
                    for (i, r) in idx.into_iter().zip(results) {
                        out[i] = Some(r);
                    }
                }
                Err(e) => {
                    for i in idx {
                        out[i] = Some(Outcome::Failed(format!("{e:#}")));
                    }
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or(Outcome::Failed("not processed".into())))
            .collect()
    }

    /// The cached answer for each held job's current hold: the shared cache's, else this
    /// user's own.
    #[allow(clippy::type_complexity)]
    fn cached_anywhere(
        &self,
        ads: &[&JobAd],
    ) -> anyhow::Result<Vec<Result<Option<Answer>, String>>> {
        let Some(shared) = self.shared else {
            return self.cached(self.cache, ads);
        };
        let mut answers = self.cached(shared, ads)?;
        let missing: Vec<usize> = (0..ads.len())
            .filter(|&i| matches!(answers[i], Ok(None)))
            .collect();
        let own = self.cached(
            self.cache,
            &missing.iter().map(|&i| ads[i]).collect::<Vec<_>>(),
        )?;
        for (i, answer) in missing.into_iter().zip(own) {
            answers[i] = answer;
        }
        Ok(answers)
    }

    /// The answer `cache` holds for each held job's current hold, if this model made one.
    #[allow(clippy::type_complexity)]
    fn cached(
        &self,
        cache: &Cache,
        ads: &[&JobAd],
    ) -> anyhow::Result<Vec<Result<Option<Answer>, String>>> {
        let jobs: Vec<(i64, i64)> = ads
            .iter()
            .filter_map(|ad| Some((ad.cluster()?, ad.proc()?)))
            .collect();
        let mut rows = cache.episodes_with_predictions(&jobs, &self.model_id)?;
        // Each job's rows side by side, in the order the cache gave them (stable: the choice
        // below takes the first match); a map from job to its run of rows, not to a Vec each.
        rows.sort_by_key(|r| (r.cluster, r.proc));
        let mut by_job: HashMap<(i64, i64), std::ops::Range<usize>> =
            HashMap::with_capacity(rows.len());
        let mut start = 0;
        for run in rows.chunk_by(|a, b| (a.cluster, a.proc) == (b.cluster, b.proc)) {
            by_job.insert((run[0].cluster, run[0].proc), start..start + run.len());
            start += run.len();
        }
        // The answer already made from each row: a job listed twice gets a copy of it, and
        // the first takes the row's texts instead of copying them.
        let mut made: Vec<Option<usize>> = vec![None; rows.len()];
        let mut answers: Vec<Result<Option<Answer>, String>> = Vec::with_capacity(ads.len());
        for ad in ads {
            let (Some(c), Some(p), Some(entered)) =
                (ad.cluster(), ad.proc(), ad.int("EnteredCurrentStatus"))
            else {
                answers.push(Ok(None));
                continue;
            };
            let Some(range) = by_job.get(&(c, p)) else {
                answers.push(Ok(None));
                continue;
            };
            let job_rows = &rows[range.clone()];
            // Recorded by an earlier `q` (which notes EnteredCurrentStatus), or by `collect`
            // (which knows the hold's time from the log: the same moment, give or take the
            // schedd's lag).
            let picked = job_rows
                .iter()
                .position(|r| r.entered == Some(entered))
                .or_else(|| {
                    job_rows
                        .iter()
                        .enumerate()
                        .max_by_key(|(_, r)| r.hold_time)
                        .filter(|(_, r)| r.hold_time.abs_diff(entered) <= 120)
                        .map(|(i, _)| i)
                });
            let Some(i) = picked.map(|i| range.start + i) else {
                answers.push(Ok(None));
                continue;
            };
            if let Some(earlier) = made[i] {
                let copy = answers[earlier].clone();
                answers.push(copy);
                continue;
            }
            let row = &mut rows[i];
            let Some(pred) = row.prediction.as_mut() else {
                answers.push(Ok(None));
                continue;
            };
            // A row this code cannot read back exactly (another version's, or altered) is
            // shown as an error for the job and never acted on. The commands are made anew
            // from the action and the job's id; the stored text is never used to act.
            let (Some(action), true) = (
                parse_action(&pred.advice),
                (0.0..=1.0).contains(&pred.probability),
            ) else {
                answers.push(Err(format!(
                    "the cache {} holds advice {:?} (P {}) for this hold, which this version does not write: not acted on (remove the cache, or run collect with a new cache, to advise it again)",
                    cache.path().display(),
                    pred.advice,
                    pred.probability
                )));
                continue;
            };
            // Made from the job's own log only: not an answer for a query that reads the
            // pool's log.
            if self.log_override.is_some() && pred.explanation.contains(PARTIAL_VIEW_MARK) {
                answers.push(Ok(None));
                continue;
            }
            // A raised request follows from the job's ad as it is now, by the same rule as a
            // fresh answer (`collect`, which stored it, had no ad).
            let mut why = std::mem::take(&mut pred.explanation);
            let action = match action {
                Action::RaiseMemory(_) | Action::RaiseDisk(_) => {
                    let resource = if matches!(action, Action::RaiseMemory(_)) {
                        Resource::Memory
                    } else {
                        Resource::Disk
                    };
                    let now = raise_target(resource, Some(ad), ad.string("HoldReason"), None);
                    if now.action != action && !why.contains(&now.derivation) {
                        why.push_str(&format!("; from the job's ad now: {}", now.derivation));
                    }
                    now.action
                }
                other => other,
            };
            let probability = pred.probability as f32;
            made[i] = Some(answers.len());
            answers.push(Ok(Some(Answer {
                commands: action.commands(&format!("{c}.{p}")),
                advice: Advice {
                    action,
                    probability,
                    confidence: confidence(probability),
                    why,
                },
                from_cache: true,
                episode: row.episode,
            })));
        }
        Ok(answers)
    }

    /// Starts reading and encoding `log` on another thread, for the next
    /// [`advise_all`](Self::advise_all) to use: a scan reads the global log while the queue's
    /// job ads are still being fetched.
    pub fn read_ahead(&mut self, log: &Path) -> anyhow::Result<()> {
        let encoder = self.predictor()?.encoder().clone();
        let path = log.to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || read_log(&path, encoder, None, &flag));
        self.ahead = Some(ReadAhead {
            path: log.to_path_buf(),
            handle: Some(handle),
            stop,
        });
        Ok(())
    }

    /// Reads `log` and advises the held jobs of `ads` from it; `partial_view` when it is
    /// the jobs' own log, not the pool's.
    fn compute(
        &mut self,
        log: &Path,
        ads: &[&JobAd],
        partial_view: bool,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut watch = crate::timing::Stopwatch::start();
        let read = match self.ahead.take() {
            Some(mut ahead) if ahead.path == log && ahead.handle.is_some() => ahead
                .handle
                .take()
                .expect("checked")
                .join()
                .map_err(|_| anyhow::anyhow!("reading {} failed", log.display()))??,
            _ => {
                let wanted: HashSet<(i64, i64)> = ads
                    .iter()
                    .filter_map(|ad| Some((ad.cluster()?, ad.proc()?)))
                    .collect();
                let encoder = self.predictor()?.encoder().clone();
                read_log(log, encoder, Some(&wanted), &AtomicBool::new(false))?
            }
        };
        self.malformed_events += read.malformed;
        let (episodes, memory) = (read.episodes, read.memory);
        watch.mark("read and encode the log");
        let pool_fit = fit_to_pool(self.predictor()?, &episodes, &read.resolved)?;
        watch.mark_with(|| match &pool_fit.calibration {
            Some(f) => format!(
                "refit to the pool's {} resolved holds, {} released successfully (newest fifth's log-loss {:.3} -> {:.3}; weights {:.3?}; remove below P {:.3})",
                f.episodes,
                read.resolved
                    .iter()
                    .filter(|&&i| episodes[i].label == Label::Positive)
                    .count(),
                f.held_out_log_loss.0,
                f.held_out_log_loss.1,
                f.weights,
                pool_fit.remove_below
            ),
            None => format!(
                "no refit: {} resolved holds, too few or it would not help; remove below P {:.3}",
                read.resolved.len(),
                pool_fit.remove_below
            ),
        });
        // The current hold of each job: its last open episode in the log.
        let mut current: HashMap<(i64, i64), &Episode> = HashMap::new();
        for e in episodes
            .iter()
            .filter(|e| e.label == Label::Open && !e.inputs.is_empty())
        {
            current.insert((e.job.cluster, e.job.proc), e);
        }
        let picked: Vec<Option<&Episode>> = ads
            .iter()
            .map(|ad| {
                let key = (ad.cluster().unwrap_or(-1), ad.proc().unwrap_or(-1));
                current.get(&key).copied()
            })
            .collect();
        let nearby = HoldsNearby::new(&episodes);
        let mates = ClusterMates::new(&episodes);
        // Every code's history before anything is stored: the advice must not count this
        // scan's own rows, whichever chunk a job falls in.
        let mut histories = Histories::new(self.shared.unwrap_or(self.cache));
        for ep in picked.iter().flatten() {
            histories.get(ep.code, ep.subcode)?;
        }
        self.predictor()?;
        let predictor = self.predictor.as_ref().expect("loaded above");
        let (store, model_id) = (self.cache, self.model_id.as_str());
        // Chunks predicted (on every core), advised and handed to a thread that stores them,
        // one transaction each, while the next chunk is predicted: storing is one thread's
        // work and would otherwise leave the other cores idle.
        let results = std::thread::scope(|scope| -> anyhow::Result<Vec<Outcome>> {
            let (stored, to_store) = std::sync::mpsc::sync_channel::<Vec<Stored>>(1);
            let storer = scope.spawn(move || -> anyhow::Result<()> {
                for batch in to_store {
                    store.store_predictions(&batch)?;
                }
                Ok(())
            });
            let mut results = Vec::with_capacity(ads.len());
            for (ads, picked) in ads.chunks(STORE_CHUNK).zip(picked.chunks(STORE_CHUNK)) {
                let inputs: Vec<_> = picked.iter().flatten().map(|e| &e.inputs[0]).collect();
                let mut probs = predictor.predict_refs(&inputs)?.into_iter();
                let mut batch = Vec::with_capacity(inputs.len());
                for (ad, ep) in ads.iter().zip(picked) {
                    let Some(ep) = ep else {
                        results.push(Outcome::Failed(format!(
                            "{} is held but its hold is not in {}",
                            job_id(ad),
                            log.display()
                        )));
                        continue;
                    };
                    let (p, calibrated_on) = fitted(&pool_fit, probs.next().unwrap_or(0.5), ep);
                    let reason = ad.string("HoldReason").map(str::to_string);
                    let facts = Facts {
                        code: ep.code,
                        subcode: ep.subcode,
                        reason: reason.as_deref(),
                        probability: p,
                        episode: i64::from(ep.index),
                        ad: Some(ad),
                        history: histories.get(ep.code, ep.subcode)?,
                        similar: nearby.others(ep),
                        cluster_mates: mates.of(ep),
                        partial_view,
                        log_memory_mb: memory.get(&(ep.job.cluster, ep.job.proc)).copied(),
                        missing_input: missing_input_now(ep.code, reason.as_deref()),
                        calibrated_on,
                        pool_table_only: pool_fit
                            .calibration
                            .as_ref()
                            .is_some_and(|f| f.table_only),
                        remove_below: Some(pool_fit.remove_below),
                        costs: CostModel::default(),
                    };
                    let advice = advise(&facts);
                    let commands = advice.action.commands(&job_id(ad));
                    let episode = new_episode(ep, reason, ad.int("EnteredCurrentStatus"));
                    batch.push(Stored {
                        episode,
                        prediction: prediction_row(model_id, &advice, &commands),
                        owner: ad.string("Owner").map(str::to_string),
                        user_log: ad.string("UserLog").map(str::to_string),
                    });
                    results.push(Outcome::Advised(Answer {
                        advice,
                        commands,
                        from_cache: false,
                        episode: i64::from(ep.index),
                    }));
                }
                if stored.send(batch).is_err() {
                    break; // the storer failed; its error is returned below
                }
            }
            drop(stored);
            storer
                .join()
                .map_err(|_| anyhow::anyhow!("storing predictions panicked"))??;
            Ok(results)
        })?;
        watch.mark("predict, advise and store in the cache");
        if partial_view {
            self.partial_view_jobs += results
                .iter()
                .filter(|o| matches!(o, Outcome::Advised(_)))
                .count();
        }
        Ok(results)
    }
}

/// What the pool's resolved holds in `resolved` (oldest first) say about serving the model
/// there: its refit, when that lowers the newest ones' log-loss, and the P below which their
/// record backs `remove`; see [`PoolFit`].
pub fn fit_to_pool(
    predictor: &Predictor,
    episodes: &[Episode],
    resolved: &[usize],
) -> anyhow::Result<PoolFit> {
    let inputs: Vec<_> = resolved.iter().map(|&i| &episodes[i].inputs[0]).collect();
    let probs = predictor.predict_refs(&inputs)?;
    let holds: Vec<ResolvedHold> = resolved
        .iter()
        .zip(probs)
        .map(|(&i, probability)| ResolvedHold::of(&episodes[i], probability))
        .collect();
    Ok(PoolFit::fit(&holds, &CostModel::default()))
}

/// The model's probability for `ep` as served on the pool, and the number of holds the refit
/// was made on when there is one (for the advice to say so).
pub fn fitted(fit: &PoolFit, p: f32, ep: &Episode) -> (f32, Option<usize>) {
    (
        fit.apply(p, ep.code, ep.subcode),
        fit.calibration.as_ref().map(|c| c.episodes),
    )
}

/// Jobs per chunk of a batch's predict-advise-store pipeline.
const STORE_CHUNK: usize = 8192;

/// A log read on another thread.
struct ReadAhead {
    path: PathBuf,
    handle: Option<std::thread::JoinHandle<anyhow::Result<ReadLog>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for ReadAhead {
    /// Not needed after all (every answer was in the cache): stop reading.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Events per batch handed from the parsing thread to the encoding one.
const PIPE_BATCH: usize = 4096;

/// An event log read and encoded: its hold episodes (the newest episode of each job still
/// keeps its tensor, and so do the resolved holds in `resolved`) and the largest MemoryUsage
/// each job showed.
pub struct ReadLog {
    pub episodes: Vec<Episode>,
    pub memory: BTreeMap<(i64, i64), i64>,
    /// The newest resolved holds (released, then succeeded or not), oldest first, with their
    /// tensors: what the model is refitted to the pool on.
    pub resolved: Vec<usize>,
    /// Malformed events skipped while reading it.
    pub malformed: u64,
}

/// Reads and encodes an event log, streamed (a global log has millions of events). The
/// newest open episode of each job in `wanted` (of every job, without it) keeps its tensor,
/// and so do the resolved holds returned in [`ReadLog::resolved`]; the others are dropped as
/// the log is read, to keep memory small.
pub fn read_log(
    log: &Path,
    encoder: holdadvisor_models::encode::EncoderConfig,
    wanted: Option<&HashSet<(i64, i64)>>,
    stop: &AtomicBool,
) -> anyhow::Result<ReadLog> {
    let mut memory: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    let mut stream = holdadvisor_models::encode::EpisodeStream::new(vec![encoder]);
    let options = ReadOptions {
        zone: Zone::Utc,
        ..Default::default()
    };
    check_event_log(log)?;
    let mut reader = EventReader::open_mapped(log, options)
        .with_context(|| format!("reading the event log {}", log.display()))?;
    // Parsing on its own thread, a batch of events at a time, while this one encodes: the
    // encoder is sequential (each event updates the pool's state), so parsing chunks in
    // parallel and then encoding would leave a core idle for the encoding.
    reader.set_threads(1);
    let (batches, received) = std::sync::mpsc::sync_channel::<Vec<Event>>(8);
    // Malformed events are skipped (reading resumes at the next event header), counted, and
    // the first one is reported.
    let parser = std::thread::spawn(move || -> Malformed {
        let mut malformed = Malformed::default();
        let mut batch = Vec::with_capacity(PIPE_BATCH);
        for item in reader {
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    malformed.note(e);
                    continue;
                }
            };
            batch.push(event);
            if batch.len() == PIPE_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(PIPE_BATCH));
                if batches.send(full).is_err() {
                    return malformed; // the encoder stopped
                }
            }
        }
        let _ = batches.send(batch);
        malformed
    });
    let mut newest: HashMap<(i64, i64), usize> = HashMap::new();
    // The newest holds, whatever is asked: their tensors are kept until they leave it.
    let mut recent: VecDeque<usize> = VecDeque::with_capacity(CALIBRATION_WINDOW + 1);
    let needed = |newest: &HashMap<(i64, i64), usize>, e: &Episode, i: usize| {
        newest.get(&(e.job.cluster, e.job.proc)) == Some(&i)
    };
    for event in received.iter().flatten() {
        if stop.load(Ordering::Relaxed) {
            drop(received);
            let _ = parser.join();
            anyhow::bail!("reading {} stopped: not needed", log.display());
        }
        note_memory(&mut memory, &event);
        let Some(index) = stream.push(&event) else {
            continue;
        };
        let key = (event.id.cluster, event.id.proc);
        let episodes = stream.episodes_mut();
        if wanted.is_none_or(|w| w.contains(&key))
            && let Some(older) = newest.insert(key, index)
            && recent.front().is_none_or(|&oldest| older < oldest)
        {
            episodes[older].inputs.clear();
        }
        recent.push_back(index);
        if recent.len() > CALIBRATION_WINDOW
            && let Some(gone) = recent.pop_front()
            && !needed(&newest, &episodes[gone], gone)
        {
            episodes[gone].inputs.clear();
        }
    }
    let malformed = parser
        .join()
        .map_err(|_| anyhow::anyhow!("parsing {} failed", log.display()))?;
    malformed.warn(log);
    let mut episodes = stream.finish();
    let resolved = newest_resolved(&episodes, None);
    let mut for_refit = vec![false; episodes.len()];
    for &i in &resolved {
        for_refit[i] = true;
    }
    for (i, e) in episodes.iter_mut().enumerate() {
        let keep = if e.label == Label::Open {
            needed(&newest, e, i)
        } else {
            for_refit[i]
        };
        if !keep {
            e.inputs = Vec::new();
        }
    }
    Ok(ReadLog {
        episodes,
        memory,
        resolved,
        malformed: malformed.count,
    })
}

/// Holds with the same code within an hour of a hold, as a log shows them: per code, the
/// hold times sorted, so each question is two binary searches (a scan asks it for every held
/// job, and one outage can hold tens of thousands with one code).
pub struct HoldsNearby {
    by_code: HashMap<i64, Vec<i64>>,
    by_job: HashMap<(JobId, i64), Vec<i64>>,
}

const NEARBY_SECONDS: i64 = 3600;

impl HoldsNearby {
    pub fn new(episodes: &[Episode]) -> HoldsNearby {
        let mut by_code: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut by_job: HashMap<(JobId, i64), Vec<i64>> = HashMap::new();
        for e in episodes {
            by_code.entry(e.code).or_default().push(e.hold_time);
            by_job.entry((e.job, e.code)).or_default().push(e.hold_time);
        }
        for times in by_code.values_mut() {
            times.sort_unstable();
        }
        HoldsNearby { by_code, by_job }
    }

    /// How many holds of other jobs had `ep`'s code within the hour around it.
    pub fn others(&self, ep: &Episode) -> i64 {
        let within = |t: &i64| (t - ep.hold_time).abs() <= NEARBY_SECONDS;
        let all = self.by_code.get(&ep.code).map_or(0, |times| {
            let from = times.partition_point(|&t| t < ep.hold_time - NEARBY_SECONDS);
            let to = times.partition_point(|&t| t <= ep.hold_time + NEARBY_SECONDS);
            to - from
        });
        let own = self
            .by_job
            .get(&(ep.job, ep.code))
            .map_or(0, |times| times.iter().filter(|t| within(t)).count());
        (all - own) as i64
    }
}

/// The released holds of each cluster's procs, by code, as a log shows them: what the
/// cluster's other procs, held the same way, did after a release is the best live evidence
/// for this one (a cluster's procs share their inputs, their code and often their fate).
pub struct ClusterMates {
    /// (ClusterId, HoldReasonCode) → (ProcId, recovered) of each labelled hold.
    by_cluster_code: HashMap<(i64, i64), Vec<(i64, bool)>>,
}

impl ClusterMates {
    pub fn new(episodes: &[Episode]) -> ClusterMates {
        let mut by_cluster_code: HashMap<(i64, i64), Vec<(i64, bool)>> = HashMap::new();
        for e in episodes {
            let recovered = match e.label {
                Label::Positive => true,
                Label::Negative => false,
                Label::Censored | Label::Open => continue,
            };
            by_cluster_code
                .entry((e.job.cluster, e.code))
                .or_default()
                .push((e.job.proc, recovered));
        }
        ClusterMates { by_cluster_code }
    }

    /// How many holds of `ep`'s cluster's other procs with its code were released and
    /// recovered, and how many did not.
    pub fn of(&self, ep: &Episode) -> Option<(i64, i64)> {
        let holds = self.by_cluster_code.get(&(ep.job.cluster, ep.code))?;
        let (mut recovered, mut failed) = (0, 0);
        for &(_, ok) in holds.iter().filter(|(proc, _)| *proc != ep.job.proc) {
            if ok {
                recovered += 1;
            } else {
                failed += 1;
            }
        }
        Some((recovered, failed))
    }
}

/// Each (code, subcode)'s outcomes in this pool, read from the cache once per batch.
pub struct Histories<'c> {
    cache: &'c Cache,
    seen: BTreeMap<(i64, i64), CodeHistory>,
}

impl<'c> Histories<'c> {
    pub fn new(cache: &'c Cache) -> Histories<'c> {
        Histories {
            cache,
            seen: BTreeMap::new(),
        }
    }

    pub fn get(&mut self, code: i64, subcode: i64) -> anyhow::Result<CodeHistory> {
        if let Some(h) = self.seen.get(&(code, subcode)) {
            return Ok(*h);
        }
        let h = self.cache.code_history(code, subcode)?;
        self.seen.insert((code, subcode), h);
        Ok(h)
    }
}

/// The cache's row for an advice given now by this model.
pub fn prediction_row(model_id: &str, advice: &Advice, commands: &[String]) -> PredictionRow {
    PredictionRow {
        episode_id: 0,
        model_id: model_id.to_string(),
        probability: f64::from(advice.probability),
        advice: encode_action(&advice.action),
        confidence: f64::from(advice.confidence),
        explanation: advice.why.clone(),
        commands: commands.join("\n"),
        created: chrono::Utc::now().timestamp(),
    }
}

/// The cache's record of a hold episode the models found in a log.
pub fn new_episode(ep: &Episode, reason: Option<String>, entered: Option<i64>) -> NewEpisode {
    NewEpisode {
        cluster: ep.job.cluster,
        proc: ep.job.proc,
        episode: i64::from(ep.index),
        hold_time: ep.hold_time,
        code: ep.code,
        subcode: ep.subcode,
        reason,
        site: None,
        entered,
    }
}

/// Whether the input file an access point failed to read exists now; `None` unless this
/// machine can see the directory it belongs in (that is, it is that access point).
pub fn missing_input_now(code: i64, reason: Option<&str>) -> Option<(String, bool)> {
    let path = crate::advice::missing_input_file(code, reason)?;
    let p = Path::new(&path);
    p.parent().filter(|d| d.is_dir())?;
    Some((path.clone(), p.exists()))
}

/// Keeps the largest MemoryUsage (MB) each job's image-size events showed.
pub fn note_memory(memory: &mut BTreeMap<(i64, i64), i64>, e: &holdadvisor_parsers::Event) {
    if let EventBody::ImageSize(i) = &e.body
        && let Some(m) = i.memory_usage_mb
    {
        let slot = memory.entry((e.id.cluster, e.id.proc)).or_default();
        *slot = (*slot).max(m);
    }
}

/// The `advice` column: a stable machine form of the action.
pub fn encode_action(a: &Action) -> String {
    match a {
        Action::Release => "release".into(),
        Action::ReleaseOnce => "release-once".into(),
        Action::Remove => "remove".into(),
        Action::RaiseMemory(mb) => format!("raise-memory:{mb}"),
        Action::RaiseDisk(kb) => format!("raise-disk:{kb}"),
        Action::Wait => "wait".into(),
    }
}

/// The action an `advice` column names; `None` for anything [`encode_action`] does not
/// write (an unknown word is never read as a removal, nor a bad size as 0 MB).
pub fn parse_action(s: &str) -> Option<Action> {
    let size = |v: &str, max: i64| {
        v.parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && *n <= max && v.bytes().all(|b| b.is_ascii_digit()))
    };
    match s.split_once(':') {
        Some(("raise-memory", v)) => size(v, MAX_MEMORY_MB).map(Action::RaiseMemory),
        Some(("raise-disk", v)) => size(v, MAX_DISK_KB).map(Action::RaiseDisk),
        Some(_) => None,
        None => match s {
            "release" => Some(Action::Release),
            "release-once" => Some(Action::ReleaseOnce),
            "remove" => Some(Action::Remove),
            "wait" => Some(Action::Wait),
            _ => None,
        },
    }
}

/// Adds the advice attributes to a job ad (for `-json` and `-af`).
pub fn annotate(ad: &mut JobAd, outcome: &Outcome) {
    match outcome {
        Outcome::Advised(a) => {
            ad.set("Advice", Value::Str(a.advice.action.describe()));
            ad.set(
                "ReleaseProbability",
                Value::Real(f64::from(a.advice.probability)),
            );
            ad.set(
                "AdviceConfidence",
                Value::Real(f64::from(a.advice.confidence)),
            );
            ad.set("AdviceReason", Value::Str(a.advice.why.clone()));
            ad.set(
                "AdviceCommands",
                Value::List(a.commands.iter().cloned().map(Value::Str).collect()),
            );
        }
        Outcome::Failed(e) => ad.set("AdviceError", Value::Str(e.clone())),
        Outcome::NotHeld { .. } => {}
    }
}

/// Job ads for the jobs held at the end of an event log (for `-log` without condor_q).
pub fn held_ads_from_log(log: &Path) -> anyhow::Result<Vec<JobAd>> {
    let (events, malformed) = holdadvisor_models::data::read_events(&[log.to_path_buf()])
        .with_context(|| format!("reading {}", log.display()))?;
    if malformed > 0 {
        eprintln!(
            "warning: {}: {malformed} malformed event(s) skipped",
            log.display()
        );
    }
    // The last hold of each job: code, subcode, time, reason.
    type LastHold = (i64, i64, i64, Option<String>);
    let mut last: BTreeMap<(i64, i64), LastHold> = BTreeMap::new();
    let mut held: BTreeMap<(i64, i64), bool> = BTreeMap::new();
    // Jobs whose story the log ends (removed or terminated): nothing after that holds them.
    let mut gone: HashSet<(i64, i64)> = HashSet::new();
    // Owners the log names (a 028 event's Owner attribute).
    let mut owners: HashMap<(i64, i64), String> = HashMap::new();
    for e in &events {
        let key = (e.id.cluster, e.id.proc);
        if gone.contains(&key) {
            continue;
        }
        match &e.body {
            EventBody::Held(h) => {
                held.insert(key, true);
                last.insert(key, (h.code, h.subcode, e.timestamp, h.reason.clone()));
            }
            EventBody::Aborted { .. } | EventBody::Terminated(_) => {
                held.insert(key, false);
                gone.insert(key);
            }
            EventBody::Released { .. } | EventBody::Execute(_) => {
                held.insert(key, false);
            }
            EventBody::JobAdInformation { attrs } => {
                if let Some((_, Value::Str(owner))) =
                    attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case("Owner"))
                {
                    owners.insert(key, owner.clone());
                }
            }
            _ => {}
        }
    }
    let mut ads = Vec::new();
    for ((c, p), (code, subcode, t, reason)) in last {
        if held.get(&(c, p)) != Some(&true) {
            continue;
        }
        let mut ad = JobAd::default();
        ad.set("ClusterId", Value::Int(c));
        ad.set("ProcId", Value::Int(p));
        ad.set("JobStatus", Value::Int(HELD));
        ad.set("HoldReasonCode", Value::Int(code));
        ad.set("HoldReasonSubCode", Value::Int(subcode));
        if let Some(r) = reason {
            ad.set("HoldReason", Value::Str(r));
        }
        ad.set("EnteredCurrentStatus", Value::Int(t));
        ad.set("UserLog", Value::Str(log.display().to_string()));
        if let Some(owner) = owners.remove(&(c, p)) {
            ad.set("Owner", Value::Str(owner));
        }
        ads.push(ad);
    }
    Ok(ads)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-only mode follows each job's story to its end: a removed job is not held, even
    /// when a hold follows its abort in the log; an owner the log names (028) is kept.
    #[test]
    fn held_jobs_from_a_log_are_the_ones_still_held_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("job.log");
        let hold = |id: &str, t: &str| {
            format!(
                "012 ({id}) 2024-01-01 {t} Job was held.\n\tTransfer input files failure\n\tCode 13 Subcode 2\n...\n"
            )
        };
        let mut text = String::new();
        for id in ["001.000.000", "002.000.000", "003.000.000"] {
            text.push_str(&format!(
                "000 ({id}) 2024-01-01 00:00:00 Job submitted from host: <127.0.0.1:9618>\n...\n"
            ));
        }
        text.push_str("028 (001.000.000) 2024-01-01 00:00:01 Job ad information event triggered.\nOwner = \"alice\"\n...\n");
        text.push_str(&hold("001.000.000", "00:01:00"));
        // 2: held, then removed.
        text.push_str(&hold("002.000.000", "00:01:00"));
        text.push_str("009 (002.000.000) 2024-01-01 00:02:00 Job was aborted.\n\tvia condor_rm (by user tester)\n...\n");
        // 3: removed, then a hold written after it.
        text.push_str("009 (003.000.000) 2024-01-01 00:02:00 Job was aborted.\n\tvia condor_rm (by user tester)\n...\n");
        text.push_str(&hold("003.000.000", "00:02:01"));
        std::fs::write(&log, text).unwrap();
        let ads = held_ads_from_log(&log).unwrap();
        let ids: Vec<(i64, i64)> = ads
            .iter()
            .map(|a| (a.cluster().unwrap(), a.proc().unwrap()))
            .collect();
        assert_eq!(ids, vec![(1, 0)]);
        assert_eq!(ads[0].string("Owner"), Some("alice"));
        assert_eq!(ads[0].int("HoldReasonCode"), Some(13));
    }

    #[test]
    fn actions_read_back_exactly_and_nothing_else_does() {
        for a in [
            Action::Release,
            Action::ReleaseOnce,
            Action::Remove,
            Action::RaiseMemory(4096),
            Action::RaiseDisk(3_145_728),
            Action::Wait,
        ] {
            assert_eq!(parse_action(&encode_action(&a)), Some(a));
        }
        for bad in [
            "relase",
            "",
            "REMOVE",
            "raise-memory:abc",
            "raise-memory:0",
            "raise-memory:-4611686018427387904",
            "raise-memory:+5",
            "raise-disk:99999999999999999999",
            "condor_rm -all",
            "remove:1",
        ] {
            assert_eq!(parse_action(bad), None, "{bad:?}");
        }
    }
}

/// Malformed events met while reading a log: how many, and the first one's error (it names
/// the file, line and byte offset, and what was expected).
#[derive(Debug, Default)]
pub struct Malformed {
    pub count: u64,
    pub first: Option<String>,
}

impl Malformed {
    pub fn note(&mut self, e: impl std::fmt::Display) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(e.to_string());
        }
    }

    /// Says on stderr what was skipped, if anything.
    pub fn warn(&self, log: &Path) {
        if let Some(first) = &self.first {
            eprintln!(
                "warning: {}: {} malformed event(s) skipped; the first: {first}",
                log.display(),
                self.count
            );
        }
    }
}

/// Checks that `log` can be an HTCondor event log before it is read as one: a directory, or a
/// non-empty file whose first events cannot be read in any of HTCondor's formats, is an error
/// naming the file and what was found (an empty file is a log with nothing in it yet).
pub fn check_event_log(log: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(log).with_context(|| format!("{}", log.display()))?;
    anyhow::ensure!(
        !meta.is_dir(),
        "{}: is a directory, not an event log file",
        log.display()
    );
    if meta.len() == 0 {
        return Ok(());
    }
    let options = ReadOptions {
        zone: Zone::Utc,
        ..Default::default()
    };
    let reader = EventReader::open(log, options)
        .with_context(|| format!("reading the event log {}", log.display()))?;
    let mut first_error = None;
    // An event read among the first few: it is a log (later errors are warned about).
    for item in reader.take(8) {
        match item {
            Ok(_) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    anyhow::bail!(
        "{}: not an HTCondor event log (text, JSON or XML): {}",
        log.display(),
        first_error.unwrap_or_else(|| "no event in it".into())
    )
}
