//! `collect --publish`: the advice in each held job's own ad, so that `condor_q -af
//! HoldAdvice` and `condor_q -json` show it to every user, and a `periodic_release` or
//! `SYSTEM_PERIODIC_RELEASE` expression can act on it (README, "Advice in the job ads").
//!
//! Edits are `condor_qedit -constraint EXPR ATTR VALUE ...` run as argument lists (never a
//! shell), one per set of jobs whose attributes are all equal, so thousands of held jobs take
//! a few calls: the reason published is the hold's code and the advice, not the per-job WHY
//! (`holdadvisor q ID` gives that). Every constraint includes `JobStatus == 5`, so a job that
//! left hold since is not labelled; the attributes of jobs no longer held are cleared by one
//! constraint.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;

use anyhow::Context;

use crate::advice::Action;
use crate::groups::proc_ranges;

/// The attributes set in a held job's ad.
pub const ATTRIBUTES: [&str; 5] = [
    "HoldAdvice",
    "HoldAdviceReleaseProbability",
    "HoldAdviceReason",
    "HoldAdviceModel",
    "HoldAdviceTime",
];

/// `HoldAdvice`'s values: release, release-once, remove, raise-memory, raise-disk, wait.
pub fn advice_word(action: &Action) -> &'static str {
    match action {
        Action::Release => "release",
        Action::ReleaseOnce => "release-once",
        Action::Remove => "remove",
        Action::RaiseMemory(_) => "raise-memory",
        Action::RaiseDisk(_) => "raise-disk",
        Action::Wait => "wait",
    }
}

/// What is published for one job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Published {
    pub advice: &'static str,
    /// P(release succeeds) in hundredths.
    pub percent: u8,
    pub reason: String,
}

/// A ClassAd string literal.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `JobStatus == 5 && (ClusterId == 7 && (ProcId >= 0 && ProcId <= 3) || ...)`.
pub fn constraint_of(jobs: &BTreeSet<(i64, i64)>) -> String {
    let mut by_cluster: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for &(c, p) in jobs {
        by_cluster.entry(c).or_default().insert(p);
    }
    let clauses: Vec<String> = by_cluster
        .iter()
        .map(|(c, procs)| format!("ClusterId == {c} && ({})", proc_ranges(procs)))
        .collect();
    format!("JobStatus == 5 && ({})", clauses.join(" || "))
}

/// The `condor_qedit` argument lists that publish `wanted` (job → what to publish), skipping
/// jobs whose published values have not changed since `before`; at `now` (Unix seconds).
pub fn edits(
    wanted: &HashMap<(i64, i64), Published>,
    before: &HashMap<(i64, i64), Published>,
    model_id: &str,
    now: i64,
) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<&Published, BTreeSet<(i64, i64)>> = BTreeMap::new();
    for (job, p) in wanted {
        if before.get(job) != Some(p) {
            groups.entry(p).or_default().insert(*job);
        }
    }
    // condor_qedit takes one constraint a call: a very long one is split so the argument list
    // stays far below the system's limit.
    const JOBS_PER_CALL: usize = 2000;
    let mut calls = Vec::new();
    for (p, jobs) in groups {
        let jobs: Vec<(i64, i64)> = jobs.into_iter().collect();
        for chunk in jobs.chunks(JOBS_PER_CALL) {
            let set: BTreeSet<(i64, i64)> = chunk.iter().copied().collect();
            calls.push(vec![
                "condor_qedit".to_string(),
                "-constraint".to_string(),
                constraint_of(&set),
                "HoldAdvice".to_string(),
                quoted(p.advice),
                "HoldAdviceReleaseProbability".to_string(),
                format!("{:.2}", f64::from(p.percent) / 100.0),
                "HoldAdviceReason".to_string(),
                quoted(&p.reason),
                "HoldAdviceModel".to_string(),
                quoted(model_id),
                "HoldAdviceTime".to_string(),
                now.to_string(),
            ]);
        }
    }
    calls
}

/// The one call that clears the attributes of every job no longer held.
pub fn clear_call() -> Vec<String> {
    let mut argv = vec![
        "condor_qedit".to_string(),
        "-constraint".to_string(),
        "JobStatus != 5 && HoldAdvice =!= undefined".to_string(),
    ];
    for a in ATTRIBUTES {
        argv.push(a.to_string());
        argv.push("undefined".to_string());
    }
    argv
}

/// How a round of edits went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub calls: usize,
    pub succeeded: usize,
    /// Calls whose constraint set nothing: no job matched (they left hold since), or this
    /// user may not edit them (not a queue super user); condor_qedit does not say which.
    pub set_nothing: usize,
}

/// Runs the calls, each as an argument list.
pub fn run(calls: &[Vec<String>]) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        calls: calls.len(),
        ..Default::default()
    };
    for argv in calls {
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .with_context(|| format!("running {}", argv[0]))?;
        let text = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            outcome.succeeded += 1;
        } else if text.contains("by constraint") {
            outcome.set_nothing += 1;
        } else {
            eprintln!(
                "holdadvisor collect --publish: condor_qedit failed ({}): {}",
                out.status,
                text.trim()
            );
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_with_equal_values_share_one_call_and_unchanged_ones_none() {
        let p = |advice, percent| Published {
            advice,
            percent,
            reason: "13/2 TransferInputError: remove".into(),
        };
        let mut wanted = HashMap::new();
        for proc in 0..500 {
            wanted.insert((7, proc), p("remove", 3));
        }
        wanted.insert((9, 0), p("release", 81));
        let calls = edits(&wanted, &HashMap::new(), "m1", 1_700_000_000);
        assert_eq!(calls.len(), 2);
        let remove = calls.iter().find(|c| c[4] == "\"remove\"").unwrap();
        assert_eq!(
            remove[2],
            "JobStatus == 5 && (ClusterId == 7 && (ProcId >= 0 && ProcId <= 499))"
        );
        assert_eq!(remove[6], "0.03");
        // Published before with the same values: nothing to do for them.
        let again = edits(&wanted, &wanted, "m1", 1_700_000_100);
        assert!(again.is_empty());
        // A quote in a reason stays inside the ClassAd string.
        assert_eq!(quoted("a \"b\" \\ c\n"), "\"a \\\"b\\\" \\\\ c \"");
    }
}
