//! From P(release succeeds) and what is known of the hold, the advice a person acts on:
//! release, remove, raise a request and then release, or wait; with the reasons and the
//! exact commands.

use holdadvisor_parsers::condor_q::JobAd;
use holdadvisor_parsers::hold_code::{SUBCODE_OUT_OF_DISK, SUBCODE_OUT_OF_MEMORY, hold_code};

use crate::cache::CodeHistory;

/// What to do with a held job.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Release,
    Remove,
    /// Raise RequestMemory to this many MB, then release.
    RaiseMemory(i64),
    /// Raise RequestDisk to this many KB, then release.
    RaiseDisk(i64),
    /// A person (or the job's own submit settings) put it on hold: release when ready.
    Wait,
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Release => "release".into(),
            Action::Remove => "remove".into(),
            Action::RaiseMemory(mb) => format!("release after raising memory to {mb} MB"),
            Action::RaiseDisk(kb) => {
                format!("release after raising disk to {} MB", (kb + 1023) / 1024)
            }
            Action::Wait => "wait (held on purpose)".into(),
        }
    }

    /// The commands that carry it out for job `id` (`CLUSTER.PROC`).
    pub fn commands(&self, id: &str) -> Vec<String> {
        match self {
            Action::Release => vec![format!("condor_release {id}")],
            Action::Remove => vec![format!("condor_rm {id}")],
            Action::RaiseMemory(mb) => vec![format!(
                "condor_qedit {id} RequestMemory {mb} && condor_release {id}"
            )],
            Action::RaiseDisk(kb) => vec![format!(
                "condor_qedit {id} RequestDisk {kb} && condor_release {id}"
            )],
            Action::Wait => vec![format!("condor_release {id}   # when you are ready")],
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
    /// The largest MemoryUsage (MB) the log showed for the job.
    pub log_memory_mb: Option<i64>,
    /// An input file the access point could not read (errno 2), and whether it exists now,
    /// when this machine can see the directory it should be in.
    pub missing_input: Option<(String, bool)>,
    /// The model was refitted to this many of the pool's resolved holds.
    pub calibrated_on: Option<usize>,
}

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
    pub probability: f32,
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

fn round_up(v: f64, step: i64) -> i64 {
    ((v / step as f64).ceil() as i64).max(1) * step
}

pub fn advise(f: &Facts) -> Advice {
    let ad_int = |name: &str| f.ad.and_then(|a| a.int(name));
    let memory_hold = (f.code == 34 && f.subcode == i64::from(SUBCODE_OUT_OF_MEMORY))
        || (f.code == 34 && f.subcode == 0 && mentions(f.reason, "memory"))
        || (matches!(f.code, 21 | 26 | 3)
            && (f.subcode == i64::from(SUBCODE_OUT_OF_MEMORY) || mentions(f.reason, "memory")));
    let disk_hold = (f.code == 34 && f.subcode == i64::from(SUBCODE_OUT_OF_DISK))
        || (matches!(f.code, 21 | 26 | 34) && mentions(f.reason, "disk"));
    let p = f.probability;
    let mut why = Vec::new();
    let name = usize::try_from(f.code)
        .ok()
        .and_then(|c| hold_code(c as i32))
        .map_or("unknown code", |h| h.name);
    why.push(format!("{}/{} {name}", f.code, f.subcode));

    let action = if memory_hold {
        let request = ad_int("RequestMemory").or_else(|| limit_in_reason(f.reason));
        let usage = ad_int("MemoryUsage")
            .into_iter()
            .chain(f.log_memory_mb)
            .max();
        let target = match (usage, request) {
            (Some(u), Some(r)) => (u as f64 * 1.25).max(r as f64 * 1.5),
            (Some(u), None) => u as f64 * 1.25,
            (None, Some(r)) => r as f64 * 2.0,
            (None, None) => 4096.0,
        };
        match (usage, request) {
            (Some(u), Some(r)) => {
                why.push(format!("MemoryUsage {u} MB against RequestMemory {r} MB"))
            }
            (None, Some(r)) => why.push(format!("over its {r} MB memory request")),
            _ => why.push("over its memory request".into()),
        }
        Action::RaiseMemory(round_up(target, 256))
    } else if disk_hold {
        let request = ad_int("RequestDisk");
        let usage = ad_int("DiskUsage");
        let target = match (usage, request) {
            (Some(u), Some(r)) => (u as f64 * 1.25).max(r as f64 * 1.5),
            (Some(u), None) => u as f64 * 1.25,
            (None, Some(r)) => r as f64 * 2.0,
            (None, None) => 4.0 * 1024.0 * 1024.0,
        };
        why.push("over its disk request".into());
        Action::RaiseDisk(round_up(target, 1024))
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
    } else if p >= 0.5 {
        Action::Release
    } else {
        Action::Remove
    };

    let judged = f.history.positive + f.history.negative;
    if judged >= 3 {
        why.push(format!(
            "{} of {judged} such holds here recovered after release",
            f.history.positive
        ));
    }
    if f.similar > 0 {
        why.push(format!(
            "{} other {} with code {} within the hour",
            f.similar,
            if f.similar == 1 { "hold" } else { "holds" },
            f.code
        ));
    }
    if f.episode > 0 {
        why.push(format!(
            "held {} time{} before",
            f.episode,
            if f.episode == 1 { "" } else { "s" }
        ));
    }
    why.push(match f.calibrated_on {
        Some(n) => {
            format!("P(release succeeds) {p:.2}, fitted to the last {n} resolved holds in its log")
        }
        None => format!("P(release succeeds) {p:.2}"),
    });
    let confidence = match action {
        Action::Release => p,
        // The access point itself says the file is not there: a release cannot succeed.
        Action::Remove if matches!(f.missing_input, Some((_, false))) => (1.0 - p).max(0.95),
        Action::Remove => 1.0 - p,
        // Raising a request is advised from the hold's cause; the model's P is for a plain
        // release, so confidence is how sure it is that a plain release would fail.
        Action::RaiseMemory(_) | Action::RaiseDisk(_) => (1.0 - p).max(0.5),
        Action::Wait => 1.0,
    };
    Advice {
        action,
        probability: p,
        confidence,
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
}
