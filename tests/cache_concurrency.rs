//! Many holdadvisor processes on one cache: 8 running `q` and `scan` while `collect
//! --follow` ingests a growing global event log, which is then killed with SIGKILL and
//! restarted. No "database is locked" reaches a user; every hold episode is recorded once.

mod common;

use common::{bin, ok, skip};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn sql(db: &Path, query: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(query)
        .output()
        .expect("the sqlite3 shell");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn collect(log: &Path, cache: &Path, model: &Path, follow: bool) -> Child {
    let mut cmd = Command::new(bin());
    cmd.args(["collect", "--quiet", "--log"])
        .arg(log)
        .arg("--cache")
        .arg(cache)
        .arg("--model")
        .arg(model);
    if follow {
        cmd.args(["--follow", "--interval", "0.05"]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn eight_readers_and_a_killed_collector_lose_and_double_nothing() {
    if Command::new("sqlite3").arg("-version").output().is_err() {
        skip("the sqlite3 shell is not installed (apt-get install sqlite3)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sim = root.join("sim");
    let model = root.join("model");
    ok(Command::new(bin())
        .args(["simulate", "--jobs", "1500", "--seed", "11", "--out"])
        .arg(&sim));
    ok(Command::new(bin())
        .args([
            "train",
            "--epochs",
            "2",
            "--no-reference",
            "--quiet",
            "--data",
        ])
        .arg(&sim)
        .arg("--out")
        .arg(&model));
    let full = std::fs::read_to_string(sim.join("EventLog")).unwrap();
    let holds = full.lines().filter(|l| l.starts_with("012 (")).count();
    assert!(holds > 50, "{holds} holds");
    // The growing log: events appended in chunks at event boundaries.
    let boundaries: Vec<usize> = full.match_indices("\n...\n").map(|(i, _)| i + 5).collect();
    let growing = root.join("EventLog");
    let cache = root.join("cache.sqlite");
    let mut w = std::fs::File::create(&growing).unwrap();
    let mut written = 0;
    let mut append = |upto: usize, w: &mut std::fs::File| {
        w.write_all(&full.as_bytes()[written..upto]).unwrap();
        w.flush().unwrap();
        written = upto;
    };
    append(boundaries[boundaries.len() / 4], &mut w);
    let mut collector = collect(&growing, &cache, &model, true);

    // Eight readers, each running q and scan against the same cache, in a loop.
    let snapshot = sim.join("condor_q.json");
    let readers: Vec<Child> = (0..8)
        .map(|i| {
            let script = format!(
                "for n in 1 2 3; do '{bin}' {cmd} -allusers -schedd-snapshot '{snap}' -cache '{cache}' -model '{model}' >/dev/null || exit 1; done",
                bin = bin(),
                cmd = if i % 2 == 0 { "q -hold" } else { "scan" },
                snap = snapshot.display(),
                cache = cache.display(),
                model = model.display()
            );
            Command::new("sh").arg("-c").arg(script).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();

    // The log grows while they run; half-way, the collector is killed and restarted.
    let steps = 12;
    for k in 1..=steps {
        let at = boundaries.len() / 4 + (boundaries.len() - boundaries.len() / 4) * k / steps;
        append(boundaries[at.min(boundaries.len() - 1)], &mut w);
        std::thread::sleep(Duration::from_millis(60));
        if k == steps / 2 {
            collector.kill().unwrap(); // SIGKILL
            collector.wait().unwrap();
            collector = collect(&growing, &cache, &model, true);
        }
    }
    append(full.len(), &mut w);
    for r in readers {
        let out = r.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.to_lowercase().contains("locked"),
            "a reader saw: {err}"
        );
        assert!(out.status.success(), "a reader failed: {err}");
    }
    // Let the follower catch up, then stop it the hard way too, and finish with one pass.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sql(&cache, "SELECT COUNT(*) FROM hold_episodes")
        .parse::<usize>()
        .unwrap_or(0)
        < holds
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    collector.kill().unwrap();
    let out = collector.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("locked")
    );
    let last = collect(&growing, &cache, &model, false)
        .wait_with_output()
        .unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );

    let episodes: usize = sql(&cache, "SELECT COUNT(*) FROM hold_episodes")
        .parse()
        .unwrap();
    let distinct: usize = sql(
        &cache,
        "SELECT COUNT(DISTINCT cluster || '.' || proc || '@' || hold_time) FROM hold_episodes",
    )
    .parse()
    .unwrap();
    assert_eq!(episodes, holds, "every hold recorded exactly once");
    assert_eq!(distinct, episodes);
    let dup_predictions = sql(
        &cache,
        "SELECT COUNT(*) FROM (SELECT episode_id, model_id FROM predictions GROUP BY 1, 2 HAVING COUNT(*) > 1)",
    );
    assert_eq!(dup_predictions, "0");
    let position: u64 = sql(&cache, "SELECT offset FROM ingest_positions")
        .parse()
        .unwrap();
    assert_eq!(
        position,
        full.len() as u64,
        "the stored position is the end of the log"
    );
    assert_eq!(sql(&cache, "PRAGMA integrity_check"), "ok");
    let _: PathBuf = growing;
}
