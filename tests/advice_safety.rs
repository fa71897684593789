//! Advice that cannot harm: `scan --apply` runs only what it makes from an action and a job
//! id (never text read back from the cache), only on the caller's own held jobs; an advice
//! word it does not know is never read as a removal; the partial view says so and never
//! removes with high confidence; a shared cache only readable still answers; bad input and a
//! damaged or newer cache are named and fail; `collect` refuses timings it cannot keep and
//! counts only what it stored. On a small simulated pool (synthetic data) with the
//! shipped model, and stand-ins for condor_release, condor_rm and condor_qedit on PATH that
//! record their arguments.

mod common;

use common::{bin, ok, reachable_copies, unprivileged};

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Pool {
    _dir: tempfile::TempDir,
    sim: PathBuf,
    cache: PathBuf,
    fakebin: PathBuf,
    calls: PathBuf,
}

fn pool() -> Pool {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(Command::new(bin())
        // Owners who never come back: most jobs are still held at the end.
        .args(["simulate", "--jobs", "1500", "--seed", "9", "--scenario"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/scan-scenario.toml"
        ))
        .arg("--out")
        .arg(&sim));
    let fakebin = dir.path().join("bin");
    std::fs::create_dir_all(&fakebin).unwrap();
    let calls = dir.path().join("calls.log");
    for program in ["condor_release", "condor_rm", "condor_qedit"] {
        let script = fakebin.join(program);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n# A stand-in: records its name and arguments, one per line.\nprintf '%s' '{program}' >> '{log}'\nfor a in \"$@\"; do printf ' [%s]' \"$a\" >> '{log}'; done\necho >> '{log}'\n",
                log = calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    Pool {
        cache: dir.path().join("cache.sqlite"),
        _dir: dir,
        sim,
        fakebin,
        calls,
    }
}

impl Pool {
    fn holdadvisor(&self, args: &[&str]) -> Output {
        self.holdadvisor_with(args, &self.cache)
    }

    fn holdadvisor_with(&self, args: &[&str], cache: &Path) -> Output {
        let path = format!(
            "{}:{}",
            self.fakebin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(bin())
            .args(args)
            .arg("-schedd-snapshot")
            .arg(self.sim.join("condor_q.json"))
            .arg("-cache")
            .arg(cache)
            .env("PATH", path)
            .env_remove("HOLDADVISOR_MODEL")
            .env_remove("HOLDADVISOR_CACHE")
            .output()
            .unwrap()
    }

    /// `holdadvisor collect ARGS... --cache <the pool's cache>`.
    fn collect(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("collect")
            .args(args)
            .arg("--cache")
            .arg(&self.cache)
            .output()
            .unwrap()
    }

    fn sql(&self, statement: &str) -> String {
        let out = Command::new("sqlite3")
            .arg(&self.cache)
            .arg(statement)
            .output()
            .expect("the sqlite3 shell (CI installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `CLUSTER.PROC` with both parts digits.
fn is_job_id(s: &str) -> bool {
    s.split_once('.').is_some_and(|(c, p)| {
        !c.is_empty()
            && !p.is_empty()
            && c.bytes().all(|b| b.is_ascii_digit())
            && p.bytes().all(|b| b.is_ascii_digit())
    })
}

#[test]
fn apply_runs_only_commands_made_from_the_advice() {
    let p = pool();
    let first = p.holdadvisor(&["scan", "-allusers"]);
    assert!(first.status.success(), "{}", text(&first));
    let advised: i64 = p.sql("SELECT COUNT(*) FROM predictions").parse().unwrap();
    assert!(advised > 10, "{advised} predictions stored");
    // What a hostile user of a shared cache could plant: commands for another user's
    // `--apply`, an advice word no version writes, and a size no job has.
    p.sql(
        "UPDATE predictions SET commands = 'condor_rm -all && condor_qedit 1.0 Cmd /tmp/evil.sh && condor_release 1.0'",
    );
    p.sql("UPDATE predictions SET advice = 'relase' WHERE id IN (SELECT id FROM predictions ORDER BY id LIMIT 3)");
    p.sql("UPDATE predictions SET advice = 'raise-memory:-4611686018427387904' WHERE id IN (SELECT id FROM predictions ORDER BY id LIMIT 3 OFFSET 3)");
    let applied = p.holdadvisor(&["scan", "-allusers", "--apply", "--yes"]);
    // Six jobs have no advice it can act on: the answer is incomplete, and says so.
    assert_eq!(applied.status.code(), Some(1), "{}", text(&applied));
    assert!(
        text(&applied).contains("6 held jobs without advice"),
        "{}",
        text(&applied)
    );
    let calls = p.calls();
    assert!(!calls.is_empty(), "nothing was run: {}", text(&applied));
    for call in &calls {
        let words: Vec<&str> = call
            .split(' ')
            .skip(1)
            .map(|w| w.trim_start_matches('[').trim_end_matches(']'))
            .collect();
        assert!(!call.contains("-all") && !call.contains("evil"), "{call}");
        assert!(is_job_id(words[0]), "{call}");
        match call.split(' ').next().unwrap() {
            "condor_release" | "condor_rm" => assert_eq!(words.len(), 1, "{call}"),
            "condor_qedit" => {
                assert_eq!(words.len(), 3, "{call}");
                assert!(
                    matches!(words[1], "RequestMemory" | "RequestDisk"),
                    "{call}"
                );
                let size: i64 = words[2].parse().unwrap();
                assert!(size > 0, "{call}");
            }
            other => panic!("ran {other}"),
        }
    }
    // The rows this version cannot read back get no command, and say why.
    let unknown: Vec<String> = p
        .sql("SELECT e.cluster || '.' || e.proc FROM predictions p JOIN hold_episodes e ON e.id = p.episode_id WHERE p.advice = 'relase' OR p.advice LIKE 'raise-memory:-%'")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(unknown.len(), 6);
    for id in &unknown {
        assert!(
            !calls.iter().any(|c| c.contains(&format!("[{id}]"))),
            "{id} was acted on: {calls:?}"
        );
    }
    let q = p.holdadvisor(&["q", unknown[0].as_str()]);
    assert_eq!(q.status.code(), Some(1));
    let answer = text(&q);
    assert!(
        answer.contains("which this version does not write: not acted on"),
        "{answer}"
    );
}

#[test]
fn own_logs_only_says_so_and_never_removes_with_high_confidence() {
    let p = pool();
    let out = p.holdadvisor(&["q", "-allusers", "-hold"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("No pool-wide view for"), "{table}");
    assert!(table.contains("HOLD_REASON"), "{table}");
    let json = p.holdadvisor(&["q", "-allusers", "-hold", "-json"]);
    let ads: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let ads = ads.as_array().unwrap();
    let advised: Vec<&serde_json::Value> = ads.iter().filter(|a| a["Advice"].is_string()).collect();
    assert!(advised.len() > 10, "{}", advised.len());
    for ad in &advised {
        let p = ad["ReleaseProbability"].as_f64().unwrap();
        let conf = ad["AdviceConfidence"].as_f64().unwrap();
        // One meaning of CONF for every advice.
        assert!((conf - p.max(1.0 - p)).abs() < 1e-6, "{ad}");
        let why = ad["AdviceReason"].as_str().unwrap();
        assert!(why.contains("no pool-wide view"), "{why}");
        if ad["Advice"] == "remove" && !why.contains("does not exist on this access point") {
            assert!(conf <= 0.9 + 1e-6, "{ad}");
        }
    }
    // With the global log the view is whole: no such note, in the same cache (answers made
    // from a partial view are not served to a query that has the whole one).
    let log = p.sim.join("EventLog");
    let whole = p.holdadvisor(&[
        "q",
        "-allusers",
        "-hold",
        "-json",
        "-log",
        log.to_str().unwrap(),
    ]);
    assert!(whole.status.success(), "{}", text(&whole));
    let ads: serde_json::Value = serde_json::from_slice(&whole.stdout).unwrap();
    let reasons: Vec<&str> = ads
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["AdviceReason"].as_str())
        .collect();
    assert!(reasons.len() > 10);
    assert!(
        reasons.iter().all(|r| !r.contains("pool-wide")),
        "{reasons:?}"
    );
}

#[test]
fn collect_refuses_timings_it_cannot_keep_and_leaves_no_wal() {
    let p = pool();
    let log = p.sim.join("EventLog");
    let done = p.collect(&["--log", log.to_str().unwrap()]);
    assert!(done.status.success(), "{}", text(&done));
    let wal = p.cache.with_extension("sqlite-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "{} holds {} bytes after collect ended",
        wal.display(),
        std::fs::metadata(&wal).unwrap().len()
    );
    for (flag, value) in [
        ("--interval", "inf"),
        ("--interval", "NaN"),
        ("--interval", "-1"),
        ("--for-seconds", "NaN"),
        ("--for-seconds", "inf"),
    ] {
        let setting = format!("{flag}={value}");
        let out = p.collect(&["--follow", "--log", log.to_str().unwrap(), &setting]);
        assert!(!out.status.success(), "{flag} {value}: {}", text(&out));
        assert!(text(&out).contains(flag), "{flag} {value}: {}", text(&out));
    }
}

#[test]
fn a_log_that_is_not_one_is_an_error_naming_it() {
    let p = pool();
    let dir = p.sim.parent().unwrap();
    let binary = dir.join("binary.log");
    std::fs::write(
        &binary,
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let prose = dir.join("notes.log");
    std::fs::write(&prose, "hello\nthis is not an event log\n").unwrap();
    let folder = dir.join("logs.d");
    std::fs::create_dir_all(&folder).unwrap();
    let first = p.holdadvisor(&["scan", "-allusers"]);
    assert!(first.status.success(), "{}", text(&first));
    let stored = p.sql("SELECT COUNT(*) || ' ' || SUM(probability) FROM predictions");
    for bad in [&binary, &prose, &folder] {
        let name = bad.to_str().unwrap();
        for args in [
            vec!["q", "-allusers", "-log", name],
            vec!["scan", "-allusers", "-log", name],
        ] {
            let out = p.holdadvisor(&args);
            assert!(!out.status.success(), "{args:?}: {}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(name), "{args:?}: {err}");
        }
        let out = p.collect(&["--log", name]);
        assert!(!out.status.success(), "collect {name}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(name));
    }
    assert_eq!(
        p.sql("SELECT COUNT(*) || ' ' || SUM(probability) FROM predictions"),
        stored
    );
    // A log with one damaged event in the middle is read, and the damage is reported.
    let log = std::fs::read_to_string(p.sim.join("EventLog")).unwrap();
    let cut = log.len() / 2;
    let cut = cut + log[cut..].find("\n...\n").unwrap() + 5;
    let damaged = dir.join("damaged.log");
    std::fs::write(
        &damaged,
        format!(
            "{}012 (garbage) not a date\n...\n{}",
            &log[..cut],
            &log[cut..]
        ),
    )
    .unwrap();
    let out = p.holdadvisor(&["scan", "-allusers", "-log", damaged.to_str().unwrap()]);
    // Advice is still given from what could be read, and the exit status says it is
    // incomplete.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("held jobs in"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("malformed event") && err.contains("damaged.log:") && err.contains("byte"),
        "{err}"
    );
    let stored = p.sql("SELECT COUNT(*) FROM predictions");
    let out = p.collect(&["--log", damaged.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("malformed event") && err.contains("damaged.log"),
        "{err}"
    );
    // What the cache held is all still there.
    let now: i64 = p.sql("SELECT COUNT(*) FROM predictions").parse().unwrap();
    assert!(now >= stored.parse::<i64>().unwrap(), "{now} < {stored}");
}

#[test]
fn a_constraint_is_never_silently_ignored_on_a_snapshot() {
    let p = pool();
    for command in ["q", "scan"] {
        let out = p.holdadvisor(&[command, "-allusers", "-constraint", "Owner == \"dmitri\""]);
        assert!(!out.status.success(), "{command}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("-constraint is not evaluated"),
            "{command}: {}",
            text(&out)
        );
    }
    let applied = p.holdadvisor(&[
        "scan",
        "-allusers",
        "-constraint",
        "Owner == \"dmitri\"",
        "--apply",
        "--yes",
    ]);
    assert!(!applied.status.success());
    assert!(p.calls().is_empty(), "{:?}", p.calls());
}

#[test]
fn a_shared_cache_only_readable_still_answers_and_is_left_untouched() {
    let p = pool();
    let root = p.sim.parent().unwrap();
    let (binary, model) = reachable_copies(root);
    // The facilitator's cache, filled by a scan with the same model.
    let filled = p.holdadvisor(&["scan", "-allusers", "-model", model.to_str().unwrap()]);
    assert!(filled.status.success(), "{}", text(&filled));
    // One job's advice is not in it: that one the user computes into their own cache.
    let ids: Vec<String> = p
        .sql("SELECT e.cluster || '.' || e.proc FROM predictions p JOIN hold_episodes e ON e.id = p.episode_id ORDER BY p.id LIMIT 2")
        .lines()
        .map(str::to_string)
        .collect();
    p.sql(&format!(
        "DELETE FROM predictions WHERE episode_id IN (SELECT id FROM hold_episodes WHERE cluster || '.' || proc = '{}')",
        ids[1]
    ));
    let shared = root.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let shared_cache = shared.join("cache.sqlite");
    std::fs::copy(&p.cache, &shared_cache).unwrap();
    let before = std::fs::read(&shared_cache).unwrap();
    std::fs::set_permissions(&shared_cache, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o555)).unwrap();
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
    for d in [root, p.sim.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let q = |id: &str| {
        let mut cmd = Command::new(&binary);
        cmd.args(["q", id, "-schedd-snapshot"])
            .arg(p.sim.join("condor_q.json"))
            .arg("-model")
            .arg(&model)
            .env("HOLDADVISOR_CACHE", &shared_cache)
            .env("XDG_CACHE_HOME", &home)
            .env("HOME", &home);
        unprivileged(&mut cmd).output().unwrap()
    };
    for id in &ids {
        let out = q(id);
        assert!(out.status.success(), "q {id}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("To act on this advice:"),
            "q {id}: {}",
            text(&out)
        );
    }
    // The shared cache is as it was; the job it lacked is in the user's own.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(std::fs::read(&shared_cache).unwrap(), before);
    let own = home.join("holdadvisor/cache.sqlite");
    let rows = Command::new("sqlite3")
        .arg(&own)
        .arg("SELECT e.cluster || '.' || e.proc FROM predictions p JOIN hold_episodes e ON e.id = p.episode_id")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&rows.stdout).trim(), ids[1]);
}

#[test]
fn a_damaged_or_newer_cache_is_named_and_the_answer_fails() {
    let p = pool();
    let filled = p.holdadvisor(&["scan", "-allusers"]);
    assert!(filled.status.success(), "{}", text(&filled));
    let id = p.sql("SELECT cluster || '.' || proc FROM hold_episodes LIMIT 1");
    let name = p.cache.to_str().unwrap();
    // Written by a newer version: its schema has a migration this one does not know.
    p.sql("INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (9999, 'from the future', CURRENT_TIMESTAMP, 1, x'00', 0)");
    for args in [vec!["q", id.as_str()], vec!["scan", "-allusers"]] {
        let out = p.holdadvisor(&args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("written by a newer version of holdadvisor") && err.contains(name),
            "{args:?}: {err}"
        );
    }
    p.sql("DELETE FROM _sqlx_migrations WHERE version = 9999");
    // A damaged page: overwrite the middle of the file (past the schema on page 1).
    p.sql("PRAGMA wal_checkpoint(TRUNCATE)");
    let mut bytes = std::fs::read(&p.cache).unwrap();
    let len = bytes.len();
    assert!(len > 64 * 1024, "{len} bytes");
    for b in &mut bytes[len / 2..len / 2 + 16 * 4096] {
        *b = 0x5a;
    }
    std::fs::write(&p.cache, &bytes).unwrap();
    for args in [vec!["q", id.as_str()], vec!["scan", "-allusers"]] {
        let out = p.holdadvisor(&args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "{args:?}: {err}");
    }
}

#[test]
fn apply_without_allusers_acts_only_on_your_own_jobs() {
    let p = pool();
    // The user running the tests owns a few of the held jobs.
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let snap = p.sim.join("condor_q.json");
    let mut ads: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    let mut mine = Vec::new();
    for ad in ads.iter_mut().filter(|a| a["JobStatus"] == 5).take(3) {
        ad["Owner"] = serde_json::Value::String(me.clone());
        mine.push(format!("{}.{}", ad["ClusterId"], ad["ProcId"]));
    }
    std::fs::write(&snap, serde_json::to_string(&ads).unwrap()).unwrap();
    let applied = p.holdadvisor(&["scan", "--apply", "--yes"]);
    assert!(applied.status.success(), "{}", text(&applied));
    let calls = p.calls();
    assert!(!calls.is_empty(), "{}", text(&applied));
    for call in &calls {
        assert!(
            mine.iter().any(|id| call.contains(&format!("[{id}]"))),
            "{call} is not for one of {mine:?}"
        );
    }
}

#[test]
fn concurrent_collects_count_only_what_each_stored_and_nothing_after_the_fact() {
    let p = pool();
    let log = p.sim.join("EventLog");
    let spawn = || {
        Command::new(bin())
            .args(["collect", "--log", log.to_str().unwrap(), "--cache"])
            .arg(&p.cache)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let predictions = |o: Output| -> i64 {
        assert!(o.status.success(), "{}", text(&o));
        let line = String::from_utf8_lossy(&o.stdout).to_string();
        let before = line.split(" predictions").next().unwrap();
        before.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let counted =
        predictions(a.wait_with_output().unwrap()) + predictions(b.wait_with_output().unwrap());
    let stored: i64 = p.sql("SELECT COUNT(*) FROM predictions").parse().unwrap();
    assert!(stored > 0);
    assert_eq!(
        counted, stored,
        "the two runs reported {counted}, the cache holds {stored}"
    );
    // A copy of the log cut before some holds were resolved: those holds look open in it,
    // but the cache already knows how they ended. No prediction is made for them now.
    let text_log = std::fs::read_to_string(&log).unwrap();
    let cut = text_log.len() * 3 / 5;
    let cut = cut + text_log[cut..].find("\n...\n").unwrap() + 5;
    let early = p.sim.join("EventLog.early-copy");
    std::fs::write(&early, &text_log[..cut]).unwrap();
    let out = p.collect(&["--log", early.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let late: i64 = p
        .sql("SELECT COUNT(*) FROM predictions p JOIN outcomes o ON o.episode_id = p.episode_id WHERE p.created > o.observed")
        .parse()
        .unwrap();
    assert_eq!(late, 0, "{}", text(&out));
}
