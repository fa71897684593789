//! From P(release succeeds) and what is known of the hold, the advice a person acts on:
//! release, release once and watch, remove, raise a request and then release, or wait; with
//! the reasons and the exact commands. Release or remove is decided by the cost model of
//! [`holdadvisor_models::decision`], not at P 0.5.

use holdadvisor_parsers::condor_q::JobAd;
use holdadvisor_parsers::hold_code::{SUBCODE_OUT_OF_DISK, SUBCODE_OUT_OF_MEMORY, hold_code};

use holdadvisor_models::decision::{Band, CostModel, confidence};

use crate::cache::CodeHistory;

/// What to do with a held job.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Release,
    /// Releasing is the cheaper bet but more likely than not to fail: release once, and
    /// remove the job if it is held again for the same reason.
    ReleaseOnce,
    Remove,
    /// Raise RequestMemory to this many MB, then release.
    RaiseMemory(i64),
    /// Raise RequestDisk to this many KB, then release.
    RaiseDisk(i64),
    /// A person (or the job's own submit settings) put it on hold: release when ready.
    Wait,
}

/// The largest request a raise advises: 16 TB of memory, 1 PB of disk. An ad's usage beyond
/// that is a broken counter, not a job to size for.
pub const MAX_MEMORY_MB: i64 = 16 << 20;
pub const MAX_DISK_KB: i64 = 1 << 40;

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Release => "release".into(),
            Action::ReleaseOnce => "uncertain: release once and watch".into(),
            Action::Remove => "remove".into(),
            Action::RaiseMemory(mb) => format!("release after raising memory to {mb} MB"),
            Action::RaiseDisk(kb) => {
                format!("release after raising disk to {} MB", (kb + 1023) / 1024)
            }
            Action::Wait => "wait (held on purpose)".into(),
        }
    }

    /// Whether carrying it out releases the job.
    pub fn releases(&self) -> bool {
        !matches!(self, Action::Remove | Action::Wait)
    }

    /// The programs and arguments that carry it out for job `id` (`CLUSTER.PROC`), in order,
    /// each to run only if the one before succeeded; none for [`Action::Wait`] (the owner
    /// decides when). Built from the action alone: nothing stored as text is ever run.
    pub fn argvs(&self, id: &str) -> Vec<Vec<String>> {
        let v = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        match self {
            Action::Release | Action::ReleaseOnce => vec![v(&["condor_release", id])],
            Action::Remove => vec![v(&["condor_rm", id])],
            Action::RaiseMemory(mb) => vec![
                v(&["condor_qedit", id, "RequestMemory", &mb.to_string()]),
                v(&["condor_release", id]),
            ],
            Action::RaiseDisk(kb) => vec![
                v(&["condor_qedit", id, "RequestDisk", &kb.to_string()]),
                v(&["condor_release", id]),
            ],
            Action::Wait => Vec::new(),
        }
    }

    /// The commands that carry it out for job `id` (`CLUSTER.PROC`), as a person types them.
    pub fn commands(&self, id: &str) -> Vec<String> {
        match self {
            Action::Wait => vec![format!("condor_release {id}   # when you are ready")],
            Action::ReleaseOnce => vec![format!(
                "condor_release {id}   # if it is held again for this reason: condor_rm {id}"
            )],
            other => vec![
                other
                    .argvs(id)
                    .iter()
                    .map(|a| a.join(" "))
                    .collect::<Vec<_>>()
                    .join(" && "),
            ],
        }
    }
}

impl Action {
    /// The commands that carry it out for every job `constraint` selects (a ClassAd
    /// expression of integers and attribute names only, so single quotes hold it).
    pub fn constraint_commands(&self, constraint: &str) -> Vec<String> {
        let c = format!("-constraint '{constraint}'");
        match self {
            Action::Release => vec![format!("condor_release {c}")],
            Action::ReleaseOnce => vec![format!(
                "condor_release {c}   # those held again for this reason: condor_rm them"
            )],
            Action::Remove => vec![format!("condor_rm {c}")],
            Action::RaiseMemory(mb) => vec![format!(
                "condor_qedit {c} RequestMemory {mb} && condor_release {c}"
            )],
            Action::RaiseDisk(kb) => vec![format!(
                "condor_qedit {c} RequestDisk {kb} && condor_release {c}"
            )],
            Action::Wait => vec![format!("condor_release {c}   # when you are ready")],
        }
    }
}

/// Everything the advice is made from.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub code: i64,
    pub subcode: i64,
    pub reason: Option<&'a str>,
    /// P(a plain release succeeds), from the model.
    pub probability: f32,
    /// 0 for the job's first hold.
    pub episode: i64,
    pub ad: Option<&'a JobAd>,
    pub history: CodeHistory,
    /// Holds of other jobs with the same code within the hour around this one.
    pub similar: i64,
    /// Other procs of the job's cluster held with the same code and released since: how
    /// many recovered and how many did not (held again, failed or removed).
    pub cluster_mates: Option<(i64, i64)>,
    /// The largest MemoryUsage (MB) the log showed for the job.
    pub log_memory_mb: Option<i64>,
    /// An input file the access point could not read (errno 2), and whether it exists now,
    /// when this machine can see the directory it should be in.
    pub missing_input: Option<(String, bool)>,
    /// The model was refitted to this many of the pool's resolved holds.
    pub calibrated_on: Option<usize>,
    /// The refit serves the pool's own (code, subcode) table alone: on the newest holds it
    /// did better than the model.
    pub pool_table_only: bool,
    /// Only the job's own log was read: no global event log, no collected cache. Outages
    /// at other sites and other users' holds cannot be seen.
    pub partial_view: bool,
    pub costs: CostModel,
    /// The P below which the pool's own record backs `remove`
    /// ([`holdadvisor_models::decision::removal_bar`]); `None`: the cost model's threshold.
    pub remove_below: Option<f64>,
}

/// With only a job's own log, P(release succeeds) is kept at least this high: a site outage
/// that the pool's log would show looks like a broken job from one log, so `remove` from
/// such a view is never given with CONF above 1 − this.
pub const PARTIAL_VIEW_FLOOR: f32 = 0.1;

/// The words in WHY that mark advice made from a job's own log only.
pub const PARTIAL_VIEW_MARK: &str = "no pool-wide view";

/// With the access point's word that an input file is not there, P(release succeeds) is at
/// most this: a release cannot succeed until someone creates the file.
const MISSING_INPUT_CEILING: f32 = 0.02;

/// The input file named by an access point's "No such file" transfer failure.
pub fn missing_input_file(code: i64, reason: Option<&str>) -> Option<String> {
    let r = reason?;
    if code != 13 || !r.contains("failure at access point") || !r.contains("(errno 2)") {
        return None;
    }
    let start = r.find("reading from file ")? + "reading from file ".len();
    let rest = &r[start..];
    let end = rest.find(": (errno 2)")?;
    Some(rest[..end].to_string())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub action: Action,
    /// P(a plain release succeeds), as served (after the pool fit and the limits above).
    pub probability: f32,
    /// [`confidence`] of `probability`: the same function for every advice.
    pub confidence: f32,
    pub why: String,
}

fn mentions(reason: Option<&str>, word: &str) -> bool {
    reason.is_some_and(|r| r.to_ascii_lowercase().contains(word))
}

/// The first number before "megabytes"/"MB" in a reason text ("memory limit of 2048 megabytes").
fn limit_in_reason(reason: Option<&str>) -> Option<i64> {
    let r = reason?;
    let words: Vec<&str> = r
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).find_map(|w| {
        let unit = w[1].trim_end_matches('.').to_ascii_lowercase();
        (unit == "megabytes" || unit == "mb")
            .then(|| w[0].parse::<i64>().ok())
            .flatten()
    })
}

/// `v` rounded up to a multiple of `step`, between `step` and `max` (a multiple of `step`).
fn round_up(v: f64, step: i64, max: i64) -> i64 {
    if !v.is_finite() || v >= max as f64 {
        return max;
    }
    ((v / step as f64).ceil() as i64).clamp(1, max / step) * step
}

/// A text cut to `n` characters (the last one `…`), on one line: HoldReasons and table cells.
pub fn short_reason(reason: &str, n: usize) -> String {
    let one_line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!(
            "{}…",
            one_line
                .chars()
                .take(n.saturating_sub(1))
                .collect::<String>()
        )
    }
}

/// A HoldReason short enough for WHY, keeping what a person needs: HTCondor's transfer
/// failures put the cause after "Details:", and its errno at the very end, so the start of
/// the text and of a long detail are what is cut.
pub fn reason_gist(reason: &str) -> String {
    match reason.split_once("Details: ") {
        Some((head, details)) => {
            // The errno and its words come last: keep the end of a long detail.
            let details = details.split_whitespace().collect::<Vec<_>>().join(" ");
            let n = details.chars().count();
            let details = if n > 70 {
                format!("…{}", details.chars().skip(n - 69).collect::<String>())
            } else {
                details
            };
            format!("{} Details: {details}", short_reason(head, 32))
        }
        None => short_reason(reason, 90),
    }
}

/// What a raise is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Memory,
    Disk,
}

/// A raised request and how it was derived, in words for WHY.
#[derive(Debug, Clone, PartialEq)]
pub struct RaiseTarget {
    pub action: Action,
    pub derivation: String,
}

/// The one rule for a raised request, whatever path asks (a fresh `q`, an answer from the
/// cache, `scan`): 1.25 × the usage the job's ad shows, at least 1.5 × its request; twice
/// the request when the usage only reached the request (the job was stopped at its limit,
/// so the usage does not show its need: `bench/targets.sh` found 1.25 × usage too small for
/// 90 of 95 such disk holds) or is unknown; with neither, 4 GB. Memory usage comes from the ad's
/// MemoryUsage (or ResidentSetSize, the peak it is computed from), or, without the ad,
/// from the largest MemoryUsage the log showed; a memory
/// request missing from the ad is read from the HoldReason. Rounded up to 256 MB or 1 MB,
/// bounded by [`MAX_MEMORY_MB`] and [`MAX_DISK_KB`]. A guess with a margin, not a measure of
/// what the job needs: the derivation says so.
pub fn raise_target(
    resource: Resource,
    ad: Option<&JobAd>,
    reason: Option<&str>,
    log_memory_mb: Option<i64>,
) -> RaiseTarget {
    let ad_int = |name: &str| ad.and_then(|a| a.int(name));
    let (request, usage, unit, step, max) = match resource {
        Resource::Memory => (
            ad_int("RequestMemory").or_else(|| limit_in_reason(reason)),
            // MemoryUsage is usually an expression over ResidentSetSize (the peak, in KiB).
            ad_int("MemoryUsage")
                .or_else(|| ad_int("ResidentSetSize").map(|kib| (kib + 1023) / 1024))
                .or(log_memory_mb),
            "MB",
            256,
            MAX_MEMORY_MB,
        ),
        Resource::Disk => (
            ad_int("RequestDisk"),
            ad_int("DiskUsage"),
            "KB",
            1024,
            MAX_DISK_KB,
        ),
    };
    let (usage_name, request_name) = match resource {
        Resource::Memory => ("MemoryUsage", "RequestMemory"),
        Resource::Disk => ("DiskUsage", "RequestDisk"),
    };
    let default = match resource {
        Resource::Memory => 4096.0,
        Resource::Disk => 4.0 * 1024.0 * 1024.0,
    };
    let (target, how) = match (usage, request) {
        // Stopped at its limit: the usage says only that the need is above the request.
        (Some(u), Some(r)) if r > 0 && (u as f64) <= r as f64 * 1.05 => (
            r as f64 * 2.0,
            format!(
                "{usage_name} {u} {unit} reached its {request_name} of {r} {unit}: stopped at the limit, so its need is not known: target 2 × request, doubled again if it is held again"
            ),
        ),
        (Some(u), Some(r)) => (
            (u as f64 * 1.25).max(r as f64 * 1.5),
            format!(
                "{usage_name} {u} {unit} against {request_name} {r} {unit}: target the larger of 1.25 × usage and 1.5 × request"
            ),
        ),
        (Some(u), None) => (
            u as f64 * 1.25,
            format!("{usage_name} {u} {unit}: target 1.25 × usage"),
        ),
        (None, Some(r)) => (
            r as f64 * 2.0,
            format!("over its {request_name} of {r} {unit}, usage unknown: target 2 × request"),
        ),
        (None, None) => (
            default,
            format!("over its {request_name}, usage and request unknown: target 4 GB"),
        ),
    };
    let rounded = round_up(target, step, max);
    let action = match resource {
        Resource::Memory => Action::RaiseMemory(rounded),
        Resource::Disk => Action::RaiseDisk(rounded),
    };
    RaiseTarget {
        action,
        derivation: format!("{how} (a guess with a margin)"),
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn advise(f: &Facts) -> Advice {
    let memory_hold = (f.code == 34 && f.subcode == i64::from(SUBCODE_OUT_OF_MEMORY))
        || (f.code == 34 && f.subcode == 0 && mentions(f.reason, "memory"))
        || (matches!(f.code, 21 | 26 | 3)
            && (f.subcode == i64::from(SUBCODE_OUT_OF_MEMORY) || mentions(f.reason, "memory")));
    let disk_hold = (f.code == 34 && f.subcode == i64::from(SUBCODE_OUT_OF_DISK))
        || (matches!(f.code, 21 | 26 | 34) && mentions(f.reason, "disk"));
    let mut p = if f.probability.is_finite() {
        f.probability.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let mut why = Vec::new();
    let name = usize::try_from(f.code)
        .ok()
        .and_then(|c| hold_code(c as i32))
        .map_or("unknown code", |h| h.name);
    why.push(format!("{}/{} {name}", f.code, f.subcode));
    if let Some(r) = f.reason.filter(|r| !r.trim().is_empty()) {
        why.push(format!("\"{}\"", reason_gist(r)));
    }
    if f.partial_view && p < PARTIAL_VIEW_FLOOR {
        p = PARTIAL_VIEW_FLOOR;
    }
    if matches!(f.missing_input, Some((_, false))) {
        p = p.min(MISSING_INPUT_CEILING);
    }

    let action = if memory_hold {
        let target = raise_target(Resource::Memory, f.ad, f.reason, f.log_memory_mb);
        why.push(target.derivation);
        target.action
    } else if disk_hold {
        let target = raise_target(Resource::Disk, f.ad, f.reason, None);
        why.push(target.derivation);
        target.action
    } else if let Some((path, false)) = &f.missing_input {
        why.push(format!("input file {path} does not exist on this access point: create it and release, or remove"));
        Action::Remove
    } else if matches!(f.code, 1 | 15 | 16) {
        why.push(match f.code {
            1 => "held with condor_hold".into(),
            15 => "submitted on hold".into(),
            _ => "input still being spooled".into(),
        });
        Action::Wait
    } else {
        match f
            .costs
            .band_with_bar(f64::from(p), f.remove_below.unwrap_or(1.0))
        {
            Band::Release => Action::Release,
            Band::Uncertain => Action::ReleaseOnce,
            Band::Remove => Action::Remove,
        }
    };

    // What sets this job apart from other holds with its code.
    if let Some((recovered, failed)) = f.cluster_mates.filter(|(r, n)| r + n > 0) {
        why.push(format!(
            "{} of this cluster with this code {} released: {recovered} recovered, {failed} held again or failed",
            plural(recovered + failed, "other proc", "other procs"),
            if recovered + failed == 1 { "was" } else { "were" },
        ));
    }
    if f.similar > 0 {
        why.push(format!(
            "{} with code {} within the hour",
            plural(f.similar, "other hold", "other holds"),
            f.code
        ));
    }
    if f.episode > 0 {
        why.push(format!(
            "held {} before",
            plural(f.episode, "time", "times")
        ));
    }
    let judged = f.history.positive + f.history.negative;
    if judged >= 3 {
        why.push(format!(
            "{} of {judged} such holds here recovered after release",
            f.history.positive
        ));
    }
    if f.partial_view {
        why.push(format!(
            "only this job's own log was read: {PARTIAL_VIEW_MARK} (give -log with the global event log, or run collect)"
        ));
    }
    let threshold = f.costs.release_threshold();
    if matches!(action, Action::ReleaseOnce)
        && f64::from(p) < threshold
        && let Some(bar) = f.remove_below
    {
        why.push(if bar > 0.0 {
            format!("this pool's recent holds back a removal only below P {bar:.2}")
        } else {
            "this pool's recent holds do not back a removal on P alone: those served a P this low recovered too often".into()
        });
    }
    if matches!(action, Action::Remove) && !matches!(f.missing_input, Some((_, false))) {
        why.push(format!(
            "remove only below P {:.2}, where a failed release costs more than a lost job",
            f.costs.release_threshold()
        ));
    }
    why.push(match f.calibrated_on {
        Some(n) if f.pool_table_only => format!(
            "P(release succeeds) {p:.2}, the pool's own rate for this code over the last {n} resolved holds in its log (it did better there than the model)"
        ),
        Some(n) => {
            format!("P(release succeeds) {p:.2}, fitted to the last {n} resolved holds in its log")
        }
        None => format!("P(release succeeds) {p:.2}"),
    });
    Advice {
        action,
        probability: p,
        confidence: confidence(p),
        why: why.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdadvisor_parsers::Value;

    fn ad(attrs: &[(&str, i64)]) -> JobAd {
        JobAd {
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::Int(*v)))
                .collect(),
        }
    }

    #[test]
    fn memory_holds_name_a_request_above_usage() {
        let a = ad(&[("RequestMemory", 2048), ("MemoryUsage", 2301)]);
        let f = Facts {
            code: 34,
            subcode: 102,
            probability: 0.1,
            ad: Some(&a),
            ..Default::default()
        };
        let adv = advise(&f);
        let Action::RaiseMemory(mb) = adv.action else {
            panic!("{adv:?}")
        };
        assert!(mb > 2301 && mb % 256 == 0, "{mb}");
        assert_eq!(
            adv.action.commands("7.3"),
            vec![format!(
                "condor_qedit 7.3 RequestMemory {mb} && condor_release 7.3"
            )]
        );
        let f = Facts {
            code: 21,
            subcode: 102,
            reason: Some("memory usage exceeded request_memory"),
            probability: 0.9,
            log_memory_mb: Some(409),
            ..Default::default()
        };
        assert!(matches!(advise(&f).action, Action::RaiseMemory(mb) if mb > 409));
        assert_eq!(
            limit_in_reason(Some(
                "Job has gone over cgroup memory limit of 2048 megabytes."
            )),
            Some(2048)
        );
    }

    #[test]
    fn probability_decides_release_or_remove() {
        let f = Facts {
            code: 13,
            subcode: 2,
            probability: 0.8,
            ..Default::default()
        };
        assert_eq!(advise(&f).action, Action::Release);
        let f = Facts {
            code: 13,
            subcode: 2,
            probability: 0.2,
            episode: 2,
            ..Default::default()
        };
        let a = advise(&f);
        assert_eq!(a.action, Action::Remove);
        assert!((a.confidence - 0.8).abs() < 1e-6);
        assert!(a.why.contains("held 2 times before"), "{}", a.why);
        let f = Facts {
            code: 1,
            subcode: 0,
            probability: 0.9,
            ..Default::default()
        };
        assert_eq!(advise(&f).action, Action::Wait);
    }

    #[test]
    fn a_missing_input_file_is_not_released() {
        let reason = "Transfer input files failure at access point vm while sending files to execution point slot1_2@vm. Details: reading from file /home/t/run/does-not-exist.txt: (errno 2) No such file or directory";
        assert_eq!(
            missing_input_file(13, Some(reason)).as_deref(),
            Some("/home/t/run/does-not-exist.txt")
        );
        assert_eq!(missing_input_file(12, Some(reason)), None);
        let gone = Facts {
            code: 13,
            subcode: 2,
            probability: 0.9,
            missing_input: Some(("/x".into(), false)),
            ..Default::default()
        };
        assert_eq!(advise(&gone).action, Action::Remove);
        let back = Facts {
            code: 13,
            subcode: 2,
            probability: 0.9,
            missing_input: Some(("/x".into(), true)),
            ..Default::default()
        };
        assert_eq!(advise(&back).action, Action::Release);
    }

    #[test]
    fn remove_needs_strong_evidence_and_between_is_uncertain() {
        let at = |p: f32| {
            advise(&Facts {
                code: 12,
                subcode: 2,
                probability: p,
                ..Default::default()
            })
        };
        // 0.51 used to be a remove at CONF 0.51: it is a release now, and 0.4 an uncertain one.
        assert_eq!(at(0.51).action, Action::Release);
        assert_eq!(at(0.4).action, Action::ReleaseOnce);
        assert!(commands_are_releases(&at(0.4)));
        let removed = at(0.1);
        assert_eq!(removed.action, Action::Remove);
        assert!(
            removed.why.contains("remove only below P 0.24"),
            "{}",
            removed.why
        );
        // The pool's record does not back a removal: release once and watch, and say why.
        let unbacked = advise(&Facts {
            code: 12,
            subcode: 2,
            probability: 0.1,
            remove_below: Some(0.0),
            ..Default::default()
        });
        assert_eq!(unbacked.action, Action::ReleaseOnce);
        assert!(
            unbacked.why.contains("do not back a removal"),
            "{}",
            unbacked.why
        );
        let backed_lower = advise(&Facts {
            code: 12,
            subcode: 2,
            probability: 0.1,
            remove_below: Some(0.06),
            ..Default::default()
        });
        assert_eq!(backed_lower.action, Action::ReleaseOnce);
        assert!(
            backed_lower.why.contains("only below P 0.06"),
            "{}",
            backed_lower.why
        );
    }

    #[test]
    fn conf_is_the_same_function_of_p_for_every_advice() {
        let a = ad(&[("RequestMemory", 2048), ("MemoryUsage", 2301)]);
        for p in [0.02f32, 0.2, 0.4, 0.5, 0.66, 0.83, 0.99] {
            for (code, subcode) in [(34, 102), (34, 104), (12, 2), (1, 0), (13, 2)] {
                let adv = advise(&Facts {
                    code,
                    subcode,
                    probability: p,
                    ad: Some(&a),
                    ..Default::default()
                });
                assert_eq!(adv.probability, p);
                assert_eq!(
                    adv.confidence,
                    p.max(1.0 - p),
                    "{code}/{subcode} at {p}: {adv:?}"
                );
            }
        }
    }

    #[test]
    fn a_partial_view_never_removes_with_high_confidence() {
        let f = Facts {
            code: 13,
            subcode: 2,
            probability: 0.01,
            partial_view: true,
            ..Default::default()
        };
        let a = advise(&f);
        assert_eq!(a.action, Action::Remove);
        assert!(a.confidence <= 1.0 - PARTIAL_VIEW_FLOOR + 1e-6, "{a:?}");
        assert!(a.why.contains("no pool-wide view"), "{}", a.why);
        let full = advise(&Facts {
            partial_view: false,
            ..f
        });
        assert!(full.confidence > 0.98 && !full.why.contains("pool-wide"));
    }

    #[test]
    fn absurd_usage_gives_a_bounded_positive_request() {
        let a = ad(&[("RequestMemory", 2048), ("MemoryUsage", i64::MAX)]);
        let adv = advise(&Facts {
            code: 34,
            subcode: 102,
            probability: 0.5,
            ad: Some(&a),
            ..Default::default()
        });
        assert_eq!(adv.action, Action::RaiseMemory(MAX_MEMORY_MB));
        let a = ad(&[("RequestDisk", i64::MAX), ("DiskUsage", -5)]);
        let adv = advise(&Facts {
            code: 34,
            subcode: 104,
            probability: 0.5,
            ad: Some(&a),
            ..Default::default()
        });
        assert!(
            matches!(adv.action, Action::RaiseDisk(kb) if kb > 0 && kb <= MAX_DISK_KB),
            "{adv:?}"
        );
    }

    #[test]
    fn why_says_what_sets_the_job_apart() {
        let reason = "Transfer output files failure at execution point slot1@node7 while sending files to access point ap1. Details: HTTP 503";
        let a = advise(&Facts {
            code: 12,
            subcode: 2,
            reason: Some(reason),
            probability: 0.1,
            cluster_mates: Some((0, 7)),
            ..Default::default()
        });
        assert!(
            a.why.contains("\"Transfer output files failure"),
            "{}",
            a.why
        );
        // The cause after "Details:" is kept whole however long the start is.
        assert!(a.why.contains("Details: HTTP 503\""), "{}", a.why);
        assert!(
            a.why.contains("7 other procs of this cluster with this code were released: 0 recovered, 7 held again or failed"),
            "{}",
            a.why
        );
    }

    /// Whether the advice's last command is a release.
    fn commands_are_releases(a: &Advice) -> bool {
        a.action
            .argvs("1.0")
            .last()
            .is_some_and(|argv| argv[0] == "condor_release")
    }
}
