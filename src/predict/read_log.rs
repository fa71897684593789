//! Reading event logs for advice: one job's log or the global one, on a thread ahead of
//! the encoder; the held jobs a log shows at its end; what was malformed in it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use holdadvisor_models::encode::Episode;
use holdadvisor_models::labels::Label;
use holdadvisor_models::pool_calibration::{CALIBRATION_WINDOW, newest_resolved};
use holdadvisor_parsers::Value;
use holdadvisor_parsers::condor_q::{HELD, JobAd};
use holdadvisor_parsers::{Event, EventBody, EventReader, ReadOptions, Zone};

use super::evidence::note_memory;

/// A log read on another thread.
pub(super) struct ReadAhead {
    pub(super) path: PathBuf,
    pub(super) handle: Option<std::thread::JoinHandle<anyhow::Result<ReadLog>>>,
    pub(super) stop: Arc<AtomicBool>,
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
