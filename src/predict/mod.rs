//! Advice for held jobs, answered from the cache when it can be and computed otherwise:
//! read the job's event log, encode its current hold episode, predict in one batch, store.
//! `q` and `scan` both go through here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use holdadvisor_models::encode::Episode;
use holdadvisor_models::inference::Predictor;
use holdadvisor_models::labels::Label;
use holdadvisor_parsers::Value;
use holdadvisor_parsers::condor_q::{HELD, JobAd};

use crate::advice::{Action, Advice, Facts, PARTIAL_VIEW_MARK, Resource, advise, raise_target};
use crate::cache::{Cache, Stored};
use holdadvisor_models::decision::{CostModel, confidence};

mod evidence;
mod pool_fit;
mod read_log;
mod rows;

pub use evidence::*;
pub use pool_fit::*;
pub use read_log::*;
pub use rows::*;

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

/// Jobs per chunk of a batch's predict-advise-store pipeline.
const STORE_CHUNK: usize = 8192;

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
