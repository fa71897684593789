//! The pool simulator: deterministic per seed, every log re-reads cleanly with the expected
//! event counts, the ground truth is learnable but not trivial, and the context signals a
//! model needs are in the logs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use holdadvisor_parsers::reader::{ReadOptions, read_path};
use holdadvisor_parsers::{Event, Zone};
use holdadvisor_simulate::{LogFormat, Scenario, simulate};

fn utc() -> ReadOptions {
    ReadOptions {
        zone: Zone::Utc,
        ..ReadOptions::default()
    }
}

fn run(dir: &Path, jobs: u64, seed: u64, format: LogFormat) -> holdadvisor_simulate::Summary {
    let sc = Scenario::from_toml(None).unwrap();
    simulate(&sc, jobs, seed, dir, format).unwrap()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn user_logs(dir: &Path) -> Vec<PathBuf> {
    files(&dir.join("home"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect()
}

fn truth(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    run(a.path(), 800, 7, LogFormat::Text);
    run(b.path(), 800, 7, LogFormat::Text);
    run(c.path(), 800, 8, LogFormat::Text);
    let fa = files(a.path());
    let rel = |d: &Path, f: &Path| f.strip_prefix(d).unwrap().to_path_buf();
    assert_eq!(
        fa.iter().map(|f| rel(a.path(), f)).collect::<Vec<_>>(),
        files(b.path())
            .iter()
            .map(|f| rel(b.path(), f))
            .collect::<Vec<_>>()
    );
    for f in &fa {
        let g = b.path().join(rel(a.path(), f));
        assert!(
            std::fs::read(f).unwrap() == std::fs::read(&g).unwrap(),
            "{} differs between two runs of one seed",
            f.display()
        );
    }
    assert_ne!(
        std::fs::read(a.path().join("EventLog")).unwrap(),
        std::fs::read(c.path().join("EventLog")).unwrap()
    );
}

fn check_logs(dir: &Path, summary: &holdadvisor_simulate::Summary) {
    let global = read_path(dir.join("EventLog"), utc(), false).unwrap();
    assert!(
        global.errors.is_empty(),
        "{:?}",
        &global.errors[..global.errors.len().min(3)]
    );
    assert!(global.incomplete.is_none());
    assert_eq!(
        global.events[0].number, 8,
        "the global log starts with its 008 header"
    );
    assert!(
        matches!(&global.events[0].body, holdadvisor_parsers::EventBody::Generic { info } if info.starts_with("Global JobLog: ctime="))
    );
    assert_eq!(global.events.len() as u64, summary.events + 1);
    assert!(
        global
            .events
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp),
        "global log out of time order"
    );
    // The user logs hold exactly the global log's job events, cluster by cluster.
    let mut per_cluster: HashMap<i64, usize> = HashMap::new();
    for e in &global.events[1..] {
        *per_cluster.entry(e.id.cluster).or_default() += 1;
    }
    let logs = user_logs(dir);
    assert_eq!(logs.len(), per_cluster.len());
    let mut total = 0;
    for log in &logs {
        let r = read_path(log, utc(), false).unwrap();
        assert!(
            r.errors.is_empty(),
            "{}: {:?}",
            log.display(),
            r.errors.first()
        );
        let cluster: i64 = log.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        assert!(r.events.iter().all(|e| e.id.cluster == cluster));
        assert_eq!(r.events.len(), per_cluster[&cluster], "{}", log.display());
        total += r.events.len();
    }
    assert_eq!(total as u64, summary.events);
    // One hold episode per 012 event.
    let holds = global.events.iter().filter(|e| e.number == 12).count();
    assert_eq!(holds, truth(dir).len());
    assert_eq!(holds as u64, summary.holds);
}

#[test]
fn logs_reread_without_errors_in_both_formats() {
    for format in [LogFormat::Text, LogFormat::Json] {
        let d = tempfile::tempdir().unwrap();
        let s = run(d.path(), 1500, 3, format);
        check_logs(d.path(), &s);
    }
}

#[test]
fn event_log_rotates_into_old() {
    let d = tempfile::tempdir().unwrap();
    let sc = Scenario::from_toml(Some(
        "[pool]\nevent_log_max_bytes = 200000\nevent_log_max_rotations = 3\n",
    ))
    .unwrap();
    simulate(&sc, 1500, 4, d.path(), LogFormat::Text).unwrap();
    for name in ["EventLog", "EventLog.1", "EventLog.2"] {
        let r = read_path(d.path().join(name), utc(), false).unwrap();
        assert!(r.errors.is_empty());
        assert_eq!(r.events[0].number, 8, "{name} starts with a header");
        assert!(std::fs::metadata(d.path().join(name)).unwrap().len() <= 200_000);
    }
}

#[test]
fn condor_q_snapshot_has_htcondor_layout() {
    let d = tempfile::tempdir().unwrap();
    run(d.path(), 1500, 5, LogFormat::Text);
    let text = std::fs::read_to_string(d.path().join("condor_q.json")).unwrap();
    assert!(text.starts_with("[\n{\n  \""));
    assert!(text.ends_with("}\n]\n"));
    assert!(text.contains("\n}\n,\n{\n"));
    assert!(text.contains("\"\\/Expr("));
    let ads: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let held: Vec<&serde_json::Value> = ads.iter().filter(|a| a["JobStatus"] == 5).collect();
    assert!(!held.is_empty());
    for a in &held {
        for k in [
            "HoldReason",
            "HoldReasonCode",
            "HoldReasonSubCode",
            "EnteredCurrentStatus",
            "NumJobStarts",
            "NumHolds",
            "NumHoldsByReason",
            "Owner",
            "RequestMemory",
            "RequestDisk",
            "DiskUsage",
            "UserLog",
            "Iwd",
            "Cmd",
            "QDate",
            "ClusterId",
            "ProcId",
            "GlobalJobId",
        ] {
            assert!(a.get(k).is_some(), "held ad lacks {k}");
        }
        assert!(
            d.path()
                .join(a["UserLog"].as_str().unwrap().trim_start_matches('/'))
                .exists()
        );
    }
    // Keys sorted case-insensitively, as condor_q prints them.
    for block in text.split("\n,\n") {
        let keys: Vec<String> = block
            .lines()
            .filter(|l| l.starts_with("  \""))
            .map(|l| l[3..].split('"').next().unwrap().to_ascii_lowercase())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "unsorted keys");
    }
}

/// The ground truth is learnable but not trivial: a plain release of a transfer hold works
/// sometimes and not other times, and the context that tells them apart is in the logs.
#[test]
fn truth_is_learnable_but_not_trivial() {
    let d = tempfile::tempdir().unwrap();
    run(d.path(), 20000, 11, LogFormat::Text);
    let t = truth(d.path());
    let mut rates: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for e in &t {
        let r = rates.entry(e["code"].as_i64().unwrap()).or_default();
        r.0 += 1;
        r.1 += usize::from(e["release_would_succeed"] == true);
    }
    for code in [12, 13] {
        let (n, ok) = rates[&code];
        let rate = ok as f64 / n as f64;
        assert!(
            n >= 20 && rate > 0.1 && rate < 0.9,
            "code {code}: {ok}/{n} = {rate}"
        );
    }
    // The same code and subcode is transient for some holds and persistent for others.
    let mut kinds: HashMap<(i64, i64), HashSet<bool>> = HashMap::new();
    for e in &t {
        kinds
            .entry((e["code"].as_i64().unwrap(), e["subcode"].as_i64().unwrap()))
            .or_default()
            .insert(e["transient"].as_bool().unwrap());
    }
    assert_eq!(
        kinds[&(13, 2)].len(),
        2,
        "13/2 must be both transient and persistent"
    );

    // Context signals in the logs themselves: several owners' jobs held with one code at one
    // site within an hour (the site comes from the slot name in the reason text), and
    // clusters with several procs held for the same code.
    let global = read_path(d.path().join("EventLog"), utc(), false).unwrap();
    let owner: HashMap<i64, String> = t
        .iter()
        .map(|e| {
            (
                e["cluster"].as_i64().unwrap(),
                e["owner"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let site_of = |reason: &str| {
        reason
            .split(".example.org")
            .next()
            .and_then(|s| s.rsplit('.').next())
            .map(str::to_string)
    };
    let mut windows: HashMap<(String, i64, i64), HashSet<String>> = HashMap::new();
    let mut siblings: HashMap<(i64, i64), HashSet<i64>> = HashMap::new();
    for e in global.events.iter().filter(|e: &&Event| e.number == 12) {
        let h = e.held().unwrap();
        if matches!(h.code, 12 | 13)
            && let Some(site) = site_of(h.reason.as_deref().unwrap_or(""))
        {
            windows
                .entry((site, h.code, e.timestamp / 3600))
                .or_default()
                .insert(owner[&e.id.cluster].clone());
        }
        siblings
            .entry((e.id.cluster, h.code))
            .or_default()
            .insert(e.id.proc);
    }
    let crowded = windows.values().filter(|owners| owners.len() >= 3).count();
    assert!(crowded >= 2, "no site-wide transfer hold waves");
    assert!(
        siblings.values().filter(|p| p.len() >= 3).count() >= 3,
        "no clusters with several procs held alike"
    );
}

/// Per owner, the first decision on each cluster held for memory or disk: `qedit_release`
/// (fixed, then released) or `release`. Owners with at least three such clusters.
fn fix_decisions(dir: &Path) -> Vec<Vec<bool>> {
    let mut first: BTreeMap<i64, (String, bool)> = BTreeMap::new();
    for e in truth(dir) {
        let action = e["user_action"].as_str().unwrap_or("");
        if matches!(e["code"].as_i64(), Some(21 | 34))
            && matches!(action, "release" | "qedit_release")
        {
            first.entry(e["cluster"].as_i64().unwrap()).or_insert((
                e["owner"].as_str().unwrap().to_string(),
                action == "qedit_release",
            ));
        }
    }
    let mut by_owner: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for (owner, fixed) in first.into_values() {
        by_owner.entry(owner).or_default().push(fixed);
    }
    by_owner.into_values().filter(|d| d.len() >= 3).collect()
}

#[test]
fn owner_habits_make_owners_decide_alike() {
    // Many memory holds and no periodic or default-off noise, so each owner decides often.
    let scenario = |spread: f64| {
        Scenario::from_toml(Some(&format!(
            "[users]\nhabit_spread = {spread}\n[causes]\nmemory_over = 0.5\n"
        )))
        .unwrap()
    };
    // The share of owners whose decisions were all of one kind.
    let unanimous = |spread: f64| {
        let d = tempfile::tempdir().unwrap();
        simulate(&scenario(spread), 20000, 21, d.path(), LogFormat::Text).unwrap();
        let owners = fix_decisions(d.path());
        assert!(
            owners.len() >= 15,
            "only {} owners decided 3+ times",
            owners.len()
        );
        let alike = owners
            .iter()
            .filter(|d| d.iter().all(|&f| f) || d.iter().all(|&f| !f))
            .count();
        alike as f64 / owners.len() as f64
    };
    let (without, with) = (unanimous(0.0), unanimous(2.0));
    // Without habits each decision is drawn afresh (2 in 3 fix), so few owners are unanimous;
    // with log-odds spread 4, most owners nearly always or nearly never fix.
    assert!(without < 0.5, "unanimous owners without habits: {without}");
    assert!(
        with > without + 0.25,
        "with habits {with}, without {without}"
    );
}
