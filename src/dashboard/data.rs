//! What each page shows, read from the cache: the same structs are the JSON API's answers.

use std::collections::BTreeMap;
use std::path::Path;

use holdadvisor_parsers::condor_q::JobAd;
use holdadvisor_parsers::{ReadOptions, Value, read_path};
use serde::Serialize;

use crate::advice::short_reason;
use crate::cache::{Cache, JobHold, JobRow, OpenHold};
use crate::feedback;
use crate::groups::{Advised, GroupKey, group_advised};
use crate::predict::parse_action;

/// Jobs listed by name on the overview; the counts and groups cover all of them.
pub const LISTED_JOBS: usize = 500;
/// Job ids named per group; `jobs` counts them all.
pub const IDS_PER_GROUP: usize = 50;

/// What "open holds" means, said on every page that counts them.
pub const OPEN_HOLDS: &str = "each job's newest hold with no outcome in the event log yet: held now, or released and not yet ended";

#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub name: String,
    pub jobs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    /// HoldReasonCode/SubCode and the reason with job-specific parts masked.
    pub cause: String,
    pub advice: String,
    pub jobs: usize,
    pub mean_probability: f64,
    pub mean_confidence: f64,
    /// `-constraint` commands that act on exactly this group's jobs (shown, never run).
    pub commands: Vec<String>,
    pub job_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC) the holds began.
    pub day: String,
    pub holds: i64,
    pub open: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub cache: String,
    pub open_holds_means: &'static str,
    pub open_holds: usize,
    /// Open holds with advice (the others have no prediction stored yet).
    pub advised: usize,
    pub advice_mix: Vec<Count>,
    pub groups: Vec<GroupView>,
    pub owners: Vec<Count>,
    pub sites: Vec<Count>,
    pub codes: Vec<Count>,
    pub holds_per_day: Vec<Day>,
    /// The newest [`LISTED_JOBS`] open holds.
    pub jobs: Vec<OpenHold>,
}

fn counts<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Count> {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for n in names {
        *by.entry(n).or_default() += 1;
    }
    let mut out: Vec<Count> = by
        .into_iter()
        .map(|(name, jobs)| Count {
            name: name.to_string(),
            jobs,
        })
        .collect();
    out.sort_by(|a, b| b.jobs.cmp(&a.jobs).then(a.name.cmp(&b.name)));
    out
}

/// The ad condor_q would show of an open hold, as far as the cache knows it: what grouping
/// and the constraints read.
fn ad_of(h: &OpenHold) -> JobAd {
    let mut attrs = vec![
        ("ClusterId".to_string(), Value::Int(h.cluster)),
        ("ProcId".to_string(), Value::Int(h.proc)),
        ("JobStatus".to_string(), Value::Int(5)),
        ("HoldReasonCode".to_string(), Value::Int(h.code)),
        ("HoldReasonSubCode".to_string(), Value::Int(h.subcode)),
    ];
    if let Some(o) = &h.owner {
        attrs.push(("Owner".into(), Value::Str(o.clone())));
    }
    if let Some(r) = &h.reason {
        attrs.push(("HoldReason".into(), Value::Str(r.clone())));
    }
    JobAd { attrs }
}

/// What the overview pages are computed from, read from the cache once per change of it.
pub struct Snapshot {
    pub cache: String,
    pub holds: Vec<OpenHold>,
    pub holds_per_day: Vec<Day>,
}

pub fn snapshot(cache: &Cache) -> anyhow::Result<Snapshot> {
    let mut watch = crate::timing::Stopwatch::start();
    let holds = cache.open_holds()?;
    watch.mark("overview: open holds read");
    let holds_per_day = cache
        .holds_per_day()?
        .into_iter()
        .map(|(day, holds, open)| Day {
            day: chrono::DateTime::from_timestamp(day * 86_400, 0)
                .map_or_else(|| day.to_string(), |d| d.format("%Y-%m-%d").to_string()),
            holds,
            open,
        })
        .collect();
    Ok(Snapshot {
        cache: cache.path().display().to_string(),
        holds,
        holds_per_day,
    })
}

/// The overview of every open hold, or of one owner's.
pub fn overview(snapshot: &Snapshot, owner: Option<&str>) -> Overview {
    let mut watch = crate::timing::Stopwatch::start();
    let holds: Vec<&OpenHold> = snapshot
        .holds
        .iter()
        .filter(|h| owner.is_none() || h.owner.as_deref() == owner)
        .collect();
    let ads: Vec<JobAd> = holds.iter().map(|h| ad_of(h)).collect();
    let advised: Vec<Advised> = holds
        .iter()
        .zip(&ads)
        .filter_map(|(h, ad)| {
            Some(Advised {
                ad,
                action: parse_action(h.advice.as_deref()?)?,
                probability: h.probability? as f32,
                confidence: h.confidence? as f32,
            })
        })
        .collect();
    let groups = group_advised(&advised, &ads, &[GroupKey::Code, GroupKey::Reason], 0.0)
        .into_iter()
        .map(|g| GroupView {
            cause: g.key,
            advice: g.advice,
            jobs: g.jobs,
            mean_probability: g.mean_probability,
            mean_confidence: g.mean_confidence,
            commands: g.commands,
            job_ids: g.job_ids.into_iter().take(IDS_PER_GROUP).collect(),
        })
        .collect();
    watch.mark("overview: grouped");
    let advice_word = |h: &&OpenHold| {
        h.advice
            .as_deref()
            .map_or("not advised yet", |a| a.split(':').next().unwrap_or(a))
            .to_string()
    };
    let words: Vec<String> = holds.iter().map(advice_word).collect();
    let codes: Vec<String> = holds
        .iter()
        .map(|h| format!("{}/{}", h.code, h.subcode))
        .collect();
    Overview {
        cache: snapshot.cache.clone(),
        open_holds_means: OPEN_HOLDS,
        open_holds: holds.len(),
        advised: advised.len(),
        advice_mix: counts(words.iter().map(String::as_str)),
        groups,
        owners: counts(holds.iter().map(|h| h.owner.as_deref().unwrap_or("-"))),
        sites: counts(holds.iter().map(|h| h.site.as_deref().unwrap_or("-"))),
        codes: counts(codes.iter().map(String::as_str)),
        holds_per_day: snapshot.holds_per_day.clone(),
        jobs: holds.into_iter().take(LISTED_JOBS).cloned().collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub time: i64,
    pub number: u16,
    pub name: String,
    /// The event's reason or other one-line detail, when it has one.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobPage {
    pub id: String,
    pub job: Option<JobRow>,
    pub holds: Vec<JobHold>,
    /// The job's events from its UserLog, when this process can read it.
    pub timeline: Vec<TimelineEvent>,
    /// Why there is no timeline, when there is none.
    pub timeline_note: Option<String>,
}

/// Parses `C.P` (a job id as condor_q prints it).
pub fn job_id(id: &str) -> Option<(i64, i64)> {
    let (c, p) = id.split_once('.')?;
    let all_digits =
        |s: &str| !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
    (all_digits(c) && all_digits(p)).then(|| Some((c.parse().ok()?, p.parse().ok()?)))?
}

pub fn job(cache: &Cache, cluster: i64, proc: i64) -> anyhow::Result<JobPage> {
    let row = cache.job(cluster, proc)?;
    let holds = cache.job_holds(cluster, proc)?;
    let (timeline, timeline_note) = match row.as_ref().and_then(|r| r.user_log.clone()) {
        Some(log) => match user_log_events(Path::new(&log), cluster, proc) {
            Ok(events) => (events, None),
            Err(e) => (
                Vec::new(),
                Some(format!("its UserLog {log} could not be read here: {e}")),
            ),
        },
        None => (Vec::new(), Some("the cache names no UserLog for it".into())),
    };
    Ok(JobPage {
        id: format!("{cluster}.{proc}"),
        job: row,
        holds,
        timeline,
        timeline_note,
    })
}

/// Events of one job from its user log, oldest first.
fn user_log_events(path: &Path, cluster: i64, proc: i64) -> anyhow::Result<Vec<TimelineEvent>> {
    let read = read_path(path, ReadOptions::default(), false)?;
    Ok(read
        .events
        .iter()
        .filter(|e| e.id.cluster == cluster && e.id.proc == proc)
        .map(|e| {
            let json = e.to_json();
            let detail = ["HoldReason", "Reason", "ExecuteHost", "ReturnValue"]
                .iter()
                .find_map(|k| json.get(*k).map(|v| (k, v)))
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    format!("{k}: {}", short_reason(&text, 160))
                })
                .unwrap_or_default();
            TimelineEvent {
                time: e.timestamp,
                number: e.number,
                name: e
                    .event_type()
                    .map_or_else(|| format!("event {}", e.number), |t| t.name().to_string()),
                detail,
            }
        })
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct FeedbackPage {
    #[serde(flatten)]
    pub report: feedback::Report,
    /// Predictions made after their hold's outcome was recorded: never judged.
    pub after_the_fact: i64,
}

pub fn feedback(cache: &Cache) -> anyhow::Result<(FeedbackPage, Vec<f32>, Vec<bool>)> {
    let judged = cache.judged_predictions()?;
    let (probs, labels) = feedback::scored_probabilities(&judged);
    Ok((
        FeedbackPage {
            report: feedback::report(&judged),
            after_the_fact: cache.after_the_fact_predictions()?,
        },
        probs,
        labels,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_as_condor_q_prints_them() {
        assert_eq!(job_id("1234.0"), Some((1234, 0)));
        assert_eq!(job_id("7.12"), Some((7, 12)));
        for bad in [
            "1234",
            "1234.",
            ".0",
            "a.0",
            "1.-1",
            "1.0.0",
            "99999999999999999999.0",
        ] {
            assert_eq!(job_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn counts_are_sorted_by_size_then_name() {
        let c = counts(["b", "a", "b", "c", "a", "b"].into_iter());
        let got: Vec<(&str, usize)> = c.iter().map(|c| (c.name.as_str(), c.jobs)).collect();
        assert_eq!(got, vec![("b", 3), ("a", 2), ("c", 1)]);
    }
}
