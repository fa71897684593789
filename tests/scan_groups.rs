//! `scan` as a facilitator uses it, on a seeded simulated pool (synthetic data) with the
//! shipped model: every group's advice is unanimous; each group's `-constraint` commands
//! select exactly its jobs when HTCondor's own ClassAd evaluator (the `classad2` module of
//! the official bindings) evaluates them on every ad of the snapshot; exports have one row
//! per job; the confidence bar is checked and counted.

mod common;

use common::{bin, skip};

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scan(dir: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .args(["scan", "-allusers", "-schedd-snapshot"])
        .arg(dir.join("sim/condor_q.json"))
        .arg("-cache")
        .arg(dir.join("cache.sqlite"))
        .args(extra)
        .env_remove("HOLDADVISOR_MODEL")
        .output()
        .unwrap()
}

/// A seeded 3,000-job pool of the scan scenario (owners who never come back) in `dir/sim`.
fn simulate_pool(dir: &Path) {
    let out = Command::new(bin())
        .args(["simulate", "--jobs", "3000", "--seed", "7", "--scenario"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/scan-scenario.toml"
        ))
        .arg("--out")
        .arg(dir.join("sim"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// The constraint of a command: the text between `-constraint '` and the next `'`.
fn constraint_of(command: &str) -> &str {
    let from = command.find("-constraint '").expect("a -constraint form") + 13;
    let len = command[from..].find('\'').expect("closing quote");
    &command[from..from + len]
}

#[test]
fn groups_are_unanimous_and_their_constraints_select_exactly_their_jobs() {
    let dir = tempfile::tempdir().unwrap();
    simulate_pool(dir.path());

    let out = scan(dir.path(), &["--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = report["groups"].as_array().unwrap();
    let jobs = report["jobs"].as_array().unwrap();
    assert!(groups.len() >= 5, "{} groups", groups.len());
    // Unanimous: every job's own advice is its group's.
    let advice_of: HashMap<&str, &str> = jobs
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j["advice"].as_str().unwrap()))
        .collect();
    let mut in_groups = 0;
    for g in groups {
        let advice = g["advice"].as_str().unwrap();
        for id in g["job_ids"].as_array().unwrap() {
            let own = advice_of[id.as_str().unwrap()];
            let same = own == advice
                || (advice.starts_with("release after raising memory")
                    && own.starts_with("release after raising memory to"))
                || (advice.starts_with("release after raising disk")
                    && own.starts_with("release after raising disk to"));
            assert!(same, "{id} advised {own:?} in a group advised {advice:?}");
            in_groups += 1;
        }
    }
    assert_eq!(in_groups, report["advised"].as_u64().unwrap() as usize);

    // The constraints, judged by HTCondor's ClassAd evaluator on every ad of the snapshot.
    let mut cases = Vec::new();
    for g in groups {
        let commands: Vec<&str> = g["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let ids: BTreeSet<String> = g["job_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        // The last command acts on the whole group (for raised requests: the release after
        // the per-target edits, whose constraints split the group).
        let whole = constraint_of(commands.last().unwrap()).to_string();
        cases.push((whole, ids));
        if commands.len() > 1 {
            for c in &commands[..commands.len() - 1] {
                assert!(c.starts_with("condor_qedit -constraint"), "{c}");
                cases.push((constraint_of(c).to_string(), BTreeSet::new()));
            }
        }
    }
    let cases_file = dir.path().join("constraints.json");
    let list: Vec<&str> = cases.iter().map(|(c, _)| c.as_str()).collect();
    std::fs::write(&cases_file, serde_json::to_string(&list).unwrap()).unwrap();
    let script = r#"
import json, sys
import classad2
ads = json.load(open(sys.argv[1]))
exprs = [classad2.ExprTree(c) for c in json.load(open(sys.argv[2]))]
plain = [classad2.ClassAd({k: v for k, v in a.items() if isinstance(v, (bool, int, float, str))}) for a in ads]
out = []
for e in exprs:
    out.append(sorted("%d.%d" % (a["ClusterId"], a["ProcId"]) for a, ca in zip(ads, plain) if e.eval(ca) is True))
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("sim/condor_q.json"))
        .arg(&cases_file)
        .env("CONDOR_CONFIG", "ONLY_ENV")
        .output()
        .unwrap();
    if !out.status.success() && text(&out).contains("No module named") {
        skip("python3 module classad2 (pip install htcondor) is not importable");
        return;
    }
    assert!(out.status.success(), "{}", text(&out));
    let selected: Vec<BTreeSet<String>> = serde_json::from_slice(&out.stdout).unwrap();
    let mut per_target = BTreeSet::new();
    for ((constraint, ids), got) in cases.iter().zip(&selected) {
        if ids.is_empty() {
            // A per-target edit: a part of its group, and no job twice.
            assert!(!got.is_empty(), "{constraint} selects nothing");
            for id in got {
                assert!(per_target.insert(id.clone()), "{id} edited twice");
            }
        } else {
            assert_eq!(got, ids, "{constraint}");
        }
    }

    // Exports: one row per held job, with its id and advice.
    let out = scan(dir.path(), &["--format", "csv"]);
    assert!(out.status.success(), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,owner,group,advice,probability,confidence,passes_min_confidence,commands"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), report["held"].as_u64().unwrap() as usize);
    for row in &rows {
        let id = row.split(',').next().unwrap();
        assert!(advice_of.contains_key(id), "{row}");
    }

    // The bar: checked as a probability, and the header says how many pass it.
    let out = scan(dir.path(), &["--min-confidence", "90"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--min-confidence"), "{}", text(&out));
    let out = scan(dir.path(), &["--min-confidence", "0.85"]);
    assert!(out.status.success(), "{}", text(&out));
    let passing = jobs
        .iter()
        .filter(|j| j["confidence"].as_f64().is_some_and(|c| c as f32 >= 0.85))
        .count();
    let header = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        header.contains(&format!(
            "; {passing} of the {} advised have CONF >= 0.85",
            in_groups
        )),
        "{header}"
    );
}

#[test]
fn raised_requests_are_the_same_fresh_and_after_collect() {
    let dir = tempfile::tempdir().unwrap();
    simulate_pool(dir.path());
    let log = dir.path().join("sim/EventLog");
    let raised = |cache: &str| -> HashMap<String, Vec<String>> {
        let out = Command::new(bin())
            .args(["scan", "-allusers", "--format", "json", "-schedd-snapshot"])
            .arg(dir.path().join("sim/condor_q.json"))
            .arg("-log")
            .arg(&log)
            .arg("-cache")
            .arg(dir.path().join(cache))
            .env_remove("HOLDADVISOR_MODEL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| {
                j["advice"]
                    .as_str()
                    .unwrap()
                    .starts_with("release after raising")
            })
            .map(|j| {
                let commands = j["commands"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect();
                (j["id"].as_str().unwrap().to_string(), commands)
            })
            .collect()
    };
    // Computed by scan itself, with every job's ad.
    let fresh = raised("fresh.sqlite");
    // Stored by collect (which has no job ads), then answered from the cache.
    let out = Command::new(bin())
        .args(["collect", "--log"])
        .arg(&log)
        .arg("--cache")
        .arg(dir.path().join("collected.sqlite"))
        .env_remove("HOLDADVISOR_MODEL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let cached = raised("collected.sqlite");
    let both: Vec<&String> = fresh.keys().filter(|id| cached.contains_key(*id)).collect();
    assert!(
        both.len() >= 20,
        "{} jobs advised a raise both ways",
        both.len()
    );
    for id in both {
        assert_eq!(fresh[id], cached[id], "{id}");
    }
}
