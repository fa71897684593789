//! Held jobs grouped so that one decision covers many: by cause (the `--group-by` keys) and
//! by the advice itself, so every group's advice is unanimous; with the commands that carry
//! a group's decision out as `-constraint` forms that select exactly its jobs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use holdadvisor_parsers::condor_q::JobAd;

use crate::advice::Action;
use crate::predict::Outcome;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKey {
    Owner,
    Code,
    Site,
    Reason,
}

/// A reason text with what differs from job to job masked (numbers, addresses, paths, slot
/// names), so that the same cause groups together; host names and the words around the
/// numbers are kept.
pub fn reason_pattern(reason: &str) -> String {
    let mut out = String::new();
    for word in reason.split_whitespace() {
        let masked = mask_word(word);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&masked);
        if out.chars().count() > 72 {
            out.push('…');
            break;
        }
    }
    out
}

/// One word of a reason, masked: `(1024` → `(N`, `2.5GB).` → `NGB).`, a path → `…`, a
/// sinful string `<1.2.3.4:9618?…>` → `<…>`, a slot `slot1_2@exec7.site.edu` → `…`; a host
/// name such as the access point's `ap40.chtc.wisc.edu` is kept.
fn mask_word(word: &str) -> String {
    let core_start = word
        .find(|c: char| c.is_alphanumeric() || c == '/' || c == '<' || c == '$')
        .unwrap_or(word.len());
    let core_end = word
        .rfind(|c: char| c.is_alphanumeric() || c == '>')
        .map_or(core_start, |i| {
            i + word[i..].chars().next().map_or(1, char::len_utf8)
        })
        .max(core_start);
    let (lead, core, tail) = (
        &word[..core_start],
        &word[core_start..core_end],
        &word[core_end..],
    );
    let masked = if core.starts_with('<') {
        "<…>".to_string()
    } else if core.starts_with('/') || core.starts_with('$') {
        "…".to_string()
    } else if core.contains('@') {
        // `slot1_2@exec7.site.edu`: the execute point differs from job to job.
        "…".to_string()
    } else if is_number_with_unit(core) {
        let unit: String = core
            .chars()
            .skip_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',' || *c == '-')
            .collect();
        format!("N{unit}")
    } else if core.chars().any(|c| c.is_ascii_digit())
        && !core.contains('.')
        && core
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && core.chars().filter(char::is_ascii_digit).count() > 3
    {
        // An identifier made mostly of a number (a job id, an errno-like code is kept short).
        "N".to_string()
    } else {
        core.to_string()
    };
    format!("{lead}{masked}{tail}")
}

/// `1024`, `2.5`, `-1`, `1,024`, `2.5GB`, `100%`, `12s`: digits first, then at most a short
/// unit of letters.
fn is_number_with_unit(s: &str) -> bool {
    let digits: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',' || *c == '-')
        .collect();
    let unit = &s[digits.len()..];
    digits.chars().any(|c| c.is_ascii_digit())
        && unit.len() <= 3
        && unit.chars().all(|c| c.is_ascii_alphabetic() || c == '%')
}

fn site_of(ad: &JobAd) -> String {
    let host = ad
        .string("LastRemoteHost")
        .or(ad.string("RemoteHost"))
        .unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    match host.split_once('.') {
        Some((_, domain)) if !domain.is_empty() => domain.to_string(),
        _ if !host.is_empty() => host.to_string(),
        _ => "-".into(),
    }
}

/// The cause a job is grouped by: the `--group-by` keys' values, joined.
pub fn key_of(ad: &JobAd, keys: &[GroupKey]) -> String {
    keys.iter()
        .map(|k| match k {
            GroupKey::Owner => ad.string("Owner").unwrap_or("-").to_string(),
            GroupKey::Code => format!(
                "{}/{}",
                ad.int("HoldReasonCode").unwrap_or(0),
                ad.int("HoldReasonSubCode").unwrap_or(0)
            ),
            GroupKey::Site => site_of(ad),
            GroupKey::Reason => reason_pattern(ad.string("HoldReason").unwrap_or("")),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Held jobs with one cause and one advice.
#[derive(Debug, serde::Serialize)]
pub struct Group {
    /// The cause: the `--group-by` keys' values.
    pub key: String,
    /// The advice every job of the group got.
    pub advice: String,
    pub jobs: usize,
    /// Jobs whose CONF is at least the bar: the ones the commands act on.
    pub passing: usize,
    pub mean_probability: f64,
    pub mean_confidence: f64,
    /// The group's decision for its passing jobs, as `-constraint` commands.
    pub commands: Vec<String>,
    /// The same, one job at a time.
    pub job_commands: Vec<String>,
    /// The ids of the group's jobs (all of them, passing or not).
    pub job_ids: Vec<String>,
    /// The passing jobs' ids and the action behind the commands, which `--apply` carries out.
    #[serde(skip)]
    pub actions: Vec<(String, Action)>,
}

/// One advised held job, as grouping needs it.
pub struct Advised<'a> {
    pub ad: &'a JobAd,
    pub action: Action,
    pub probability: f32,
    pub confidence: f32,
}

/// Groups advised jobs by cause and advice; sorted by cause, then by how many jobs one
/// decision covers. The commands' constraints are made to select no held job of `ads`
/// outside the group.
pub fn group(
    ads: &[JobAd],
    outcomes: &[Outcome],
    keys: &[GroupKey],
    min_confidence: f32,
) -> Vec<Group> {
    let advised: Vec<Advised> = ads
        .iter()
        .zip(outcomes)
        .filter_map(|(ad, o)| match o {
            Outcome::Advised(a) => Some(Advised {
                ad,
                action: a.advice.action.clone(),
                probability: a.advice.probability,
                confidence: a.advice.confidence,
            }),
            _ => None,
        })
        .collect();
    group_advised(&advised, ads, keys, min_confidence)
}

/// [`group`] for advice from elsewhere (the cache, for the dashboard): `held` is every held
/// job the constraints must tell the groups' jobs from.
pub fn group_advised(
    advised: &[Advised],
    held: &[JobAd],
    keys: &[GroupKey],
    min_confidence: f32,
) -> Vec<Group> {
    let mut groups: BTreeMap<(String, String), Vec<&Advised>> = BTreeMap::new();
    for a in advised {
        groups
            .entry((key_of(a.ad, keys), kind_of(&a.action)))
            .or_default()
            .push(a);
    }
    let held = HeldIndex::new(held);
    let id = |ad: &JobAd| Some(format!("{}.{}", ad.cluster()?, ad.proc()?));
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|((key, advice), members)| {
            let n = members.len() as f64;
            let passing: Vec<&&Advised> = members
                .iter()
                .filter(|m| m.confidence >= min_confidence)
                .collect();
            let actions: Vec<(String, Action)> = passing
                .iter()
                .filter_map(|m| Some((id(m.ad)?, m.action.clone())))
                .collect();
            Group {
                commands: group_commands(
                    &held,
                    &passing
                        .iter()
                        .map(|m| (m.ad, &m.action))
                        .collect::<Vec<_>>(),
                ),
                job_commands: actions.iter().flat_map(|(id, a)| a.commands(id)).collect(),
                actions,
                job_ids: members.iter().filter_map(|m| id(m.ad)).collect(),
                key,
                advice,
                jobs: members.len(),
                passing: passing.len(),
                mean_probability: members
                    .iter()
                    .map(|m| f64::from(m.probability))
                    .sum::<f64>()
                    / n,
                mean_confidence: members.iter().map(|m| f64::from(m.confidence)).sum::<f64>() / n,
            }
        })
        .collect();
    // Causes in order of their size; within a cause, its advice in order of size.
    let mut cause_size: HashMap<String, usize> = HashMap::new();
    for g in &out {
        *cause_size.entry(g.key.clone()).or_default() += g.jobs;
    }
    out.sort_by(|a, b| {
        cause_size[&b.key]
            .cmp(&cause_size[&a.key])
            .then(a.key.cmp(&b.key))
            .then(b.jobs.cmp(&a.jobs))
            .then(a.advice.cmp(&b.advice))
    });
    out
}

/// A hold's (HoldReasonCode, HoldReasonSubCode).
type Codes = (i64, i64);

/// The advice a group shares: the action, or for raised requests the kind of raise (each
/// job keeps its own target).
fn kind_of(action: &Action) -> String {
    match action {
        Action::RaiseMemory(_) => "release after raising memory (target per job)".into(),
        Action::RaiseDisk(_) => "release after raising disk (target per job)".into(),
        other => other.describe(),
    }
}

/// The commands that carry out a group's advice for `jobs` by constraint: one command for
/// the group, or for raised requests one `condor_qedit` per target and then one release.
fn group_commands(held: &HeldIndex, jobs: &[(&JobAd, &Action)]) -> Vec<String> {
    let Some((_, first)) = jobs.first() else {
        return Vec::new();
    };
    let all: Vec<&JobAd> = jobs.iter().map(|(ad, _)| *ad).collect();
    let (attribute, targets) = match first {
        Action::RaiseMemory(_) | Action::RaiseDisk(_) => {
            let mut targets: BTreeMap<i64, Vec<&JobAd>> = BTreeMap::new();
            let mut attribute = "RequestMemory";
            for (ad, action) in jobs {
                let value = match action {
                    Action::RaiseMemory(mb) => *mb,
                    Action::RaiseDisk(kb) => {
                        attribute = "RequestDisk";
                        *kb
                    }
                    _ => continue,
                };
                targets.entry(value).or_default().push(ad);
            }
            (attribute, targets)
        }
        other => return other.constraint_commands(&held.constraint_for(&all)),
    };
    let mut commands: Vec<String> = targets
        .iter()
        .map(|(value, ads)| {
            format!(
                "condor_qedit -constraint '{}' {attribute} {value}",
                held.constraint_for(ads)
            )
        })
        .collect();
    commands.push(format!(
        "condor_release -constraint '{}'   # after the edits above succeeded",
        held.constraint_for(&all)
    ));
    commands
}

/// Every held job of the scan by cluster (its procs, with their codes): what a constraint
/// must tell apart.
struct HeldIndex {
    by_cluster: HashMap<i64, Vec<(i64, Codes)>>,
}

fn codes(ad: &JobAd) -> Codes {
    (
        ad.int("HoldReasonCode").unwrap_or(0),
        ad.int("HoldReasonSubCode").unwrap_or(0),
    )
}

impl HeldIndex {
    fn new(ads: &[JobAd]) -> HeldIndex {
        let mut by_cluster: HashMap<i64, Vec<(i64, Codes)>> = HashMap::new();
        for ad in ads.iter().filter(|ad| ad.is_held()) {
            if let (Some(c), Some(p)) = (ad.cluster(), ad.proc()) {
                by_cluster.entry(c).or_default().push((p, codes(ad)));
            }
        }
        HeldIndex { by_cluster }
    }

    /// A ClassAd constraint that selects exactly `jobs` among the held jobs of the scan:
    /// `JobStatus == 5`, their (code, subcode) when they share one, and per cluster either the
    /// whole cluster (when every held proc of it with those codes is in `jobs`) or its procs,
    /// as ranges.
    fn constraint_for(&self, jobs: &[&JobAd]) -> String {
        let shared_codes = {
            let all: BTreeSet<Codes> = jobs.iter().map(|ad| codes(ad)).collect();
            (all.len() == 1).then(|| *all.iter().next().expect("one"))
        };
        let mut wanted: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
        for ad in jobs {
            if let (Some(c), Some(p)) = (ad.cluster(), ad.proc()) {
                wanted.entry(c).or_default().insert(p);
            }
        }
        let clauses: Vec<String> = wanted
            .iter()
            .map(|(&cluster, procs)| {
                let others = self.by_cluster.get(&cluster).map_or(0, |held| {
                    held.iter()
                        .filter(|(p, c)| !procs.contains(p) && shared_codes.is_none_or(|s| s == *c))
                        .count()
                });
                if others == 0 {
                    format!("ClusterId == {cluster}")
                } else {
                    format!("ClusterId == {cluster} && ({})", proc_ranges(procs))
                }
            })
            .collect();
        let mut parts = vec!["JobStatus == 5".to_string()];
        if let Some((code, subcode)) = shared_codes {
            parts.push(format!("HoldReasonCode == {code}"));
            parts.push(format!("HoldReasonSubCode == {subcode}"));
        }
        parts.push(if clauses.len() == 1 {
            clauses.into_iter().next().expect("one")
        } else {
            format!(
                "({})",
                clauses
                    .iter()
                    .map(|c| if c.contains("&&") {
                        format!("({c})")
                    } else {
                        c.clone()
                    })
                    .collect::<Vec<_>>()
                    .join(" || ")
            )
        });
        parts.join(" && ")
    }
}

/// `ProcId == 3 || ProcId >= 5 && ProcId <= 9`: sorted procs as single ids and runs.
pub fn proc_ranges(procs: &BTreeSet<i64>) -> String {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &p in procs {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => runs.push((p, p)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                format!("ProcId == {a}")
            } else {
                format!("ProcId >= {a} && ProcId <= {b}")
            }
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_keep_hosts_and_units_and_mask_what_varies() {
        assert_eq!(
            reason_pattern(
                "Job has gone over memory limit of 2048 megabytes. Peak usage: 3100 megabytes."
            ),
            "Job has gone over memory limit of N megabytes. Peak usage: N megabytes."
        );
        assert_eq!(
            reason_pattern(
                "Transfer input files failure at access point ap40.uw.osg-htc.org while receiving files from the execution point. Details: reading from file /home/u/in_7.dat: (errno 2) No such file or directory"
            ),
            reason_pattern(
                "Transfer input files failure at access point ap40.uw.osg-htc.org while receiving files from the execution point. Details: reading from file /home/v/in_9.dat: (errno 2) No such file or directory"
            ),
        );
        assert!(
            reason_pattern("failure at access point ap40.uw.osg-htc.org")
                .contains("ap40.uw.osg-htc.org")
        );
        assert_eq!(
            reason_pattern("allocated disk 2.5GB). Consider raising"),
            "allocated disk NGB). Consider raising"
        );
        assert_eq!(
            reason_pattern(
                "Error from slot1_2@exec7.site.edu: from <10.0.0.1:9618?addrs=10.0.0.1-9618>"
            ),
            "Error from …: from <…>"
        );
    }

    #[test]
    fn proc_ranges_are_compact() {
        let procs: BTreeSet<i64> = [0, 1, 2, 5, 7, 8].into_iter().collect();
        assert_eq!(
            proc_ranges(&procs),
            "ProcId >= 0 && ProcId <= 2 || ProcId == 5 || ProcId >= 7 && ProcId <= 8"
        );
    }
}
