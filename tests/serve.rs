//! `holdadvisor serve` on a collected simulated cache: every page and API answers GET, every
//! route refuses POST, PUT and DELETE with 405, the cache is opened read-only (served by an
//! unprivileged user, whose server may not write it, and left byte for byte as it was), and
//! a real browser (headless Chromium through chromedriver, `tests/browser/dashboard.py`)
//! drives the pages.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{bin, ok, reachable_copies, skip, unprivileged};

/// A simulated pool, scanned from its condor_q snapshot (which names each held job's owner
/// and UserLog), then collected into the same cache (outcomes, feedback), as a facilitator
/// would. (The simulator's global log names no owners: `collect` alone would show none.)
fn collected_cache(dir: &Path) -> std::path::PathBuf {
    let sim = dir.join("sim");
    let cache = dir.join("shared/cache.sqlite");
    ok(Command::new(bin())
        .args(["simulate", "--jobs", "3000", "--seed", "12", "--out"])
        .arg(&sim));
    ok(Command::new(bin())
        .args(["scan", "-allusers", "-schedd-snapshot"])
        .arg(sim.join("condor_q.json"))
        .arg("-log")
        .arg(sim.join("EventLog"))
        .arg("-cache")
        .arg(&cache));
    ok(Command::new(bin())
        .args(["collect", "--log"])
        .arg(sim.join("EventLog"))
        .arg("--cache")
        .arg(&cache));
    // Only its owner (root in CI) may write it; the server runs as nobody.
    for p in [cache.parent().unwrap(), dir] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    cache
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, cache: &Path) -> Server {
    let (binary, model) = reachable_copies(dir);
    let mut cmd = Command::new(&binary);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--cache"])
        .arg(cache)
        .arg("--model")
        .arg(&model)
        .env("HOME", dir);
    // The wrapper keeps the program, its arguments and environment; the pipes are set on it.
    let child = unprivileged(&mut cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        addr: String::new(),
    };
    let mut line = String::new();
    BufReader::new(server.child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("serving http://")
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("serve said {line:?}"))
        .to_string();
    server.addr = addr;
    server
}

/// One HTTP/1.1 request; the status and the body.
fn request(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_dashboard_serves_reads_only_and_works_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let cache = collected_cache(dir.path());
    let before = std::fs::read(&cache).unwrap();
    let server = serve(dir.path(), &cache);
    let addr = server.addr.clone();

    let (status, body) = request(&addr, "GET", "/api/overview");
    assert_eq!(status, 200, "{body}");
    let overview: serde_json::Value = serde_json::from_str(&body).unwrap();
    let jobs = overview["jobs"].as_array().unwrap();
    assert!(overview["open_holds"].as_u64().unwrap() >= 10, "{body}");
    assert!(!overview["groups"].as_array().unwrap().is_empty());
    let job = &jobs[0];
    let id = format!("{}.{}", job["cluster"], job["proc"]);
    let owner = jobs
        .iter()
        .find_map(|j| j["owner"].as_str())
        .expect("the scan named owners")
        .to_string();

    let (status, page) = request(&addr, "GET", "/");
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("href=\"/job/{id}\"")),
        "the overview lists {id}"
    );
    let (status, job_json) = request(&addr, "GET", &format!("/api/jobs/{id}"));
    assert_eq!(status, 200, "{job_json}");
    let job_page: serde_json::Value = serde_json::from_str(&job_json).unwrap();
    let last = job_page["holds"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["advice"], job["advice"], "{job_json}");
    let routes = [
        "/".to_string(),
        format!("/owner/{owner}"),
        format!("/job/{id}"),
        "/feedback".into(),
        "/model".into(),
        "/static/style.css".into(),
        "/plot/holds-per-day.svg".into(),
        "/plot/reliability.svg".into(),
        "/api/overview".into(),
        format!("/api/owners/{owner}"),
        format!("/api/jobs/{id}"),
        "/api/feedback".into(),
        "/api/model".into(),
    ];
    for route in &routes {
        let (status, body) = request(&addr, "GET", route);
        assert_eq!(status, 200, "GET {route}: {body}");
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let (status, _) = request(&addr, method, route);
            assert_eq!(status, 405, "{method} {route}");
        }
    }
    assert_eq!(request(&addr, "GET", "/job/12x").0, 400);
    assert_eq!(request(&addr, "GET", "/job/999999.0").0, 404);
    let (_, model) = request(&addr, "GET", "/model");
    assert!(
        model.contains("SIMULATED"),
        "the shipped model's page flags its data"
    );

    browser(&addr, &id);
    drop(server);
    assert!(
        std::fs::read(&cache).unwrap() == before,
        "serving changed the cache"
    );
}

/// Headless Chromium through chromedriver drives the pages (`tests/browser/dashboard.py`).
fn browser(addr: &str, id: &str) {
    let found = |p: &str| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|p| found(p));
    let driver = ["chromedriver", "chromium-driver"]
        .into_iter()
        .find(|p| found(p));
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        skip(
            "headless Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
        );
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.py");
    let out = Command::new("python3")
        .args([script, &format!("http://{addr}"), id, driver, chromium])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser test failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn listening_beyond_loopback_warns_and_a_missing_cache_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = collected_cache(dir.path());
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--cache"])
        .arg(&cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(line.starts_with("serving http://0.0.0.0:"), "{line}");
    assert!(
        err.contains("warning") && err.contains("not loopback"),
        "{err}"
    );

    let missing = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--cache"])
        .arg(dir.path().join("nothing-here.sqlite"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("nothing-here.sqlite"), "{err}");
}

/// `collect` records what the dashboard groups by when the event log names it: the
/// HoldReason, the site of the execution, and the owner and UserLog from job ad information
/// events (`EVENT_LOG_JOB_AD_INFORMATION_ATTRS = Owner, UserLog`).
#[test]
fn collect_records_owner_user_log_reason_and_site_named_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("EventLog");
    std::fs::write(
        &log,
        "000 (042.000.000) 2026-11-24 02:20:57 Job submitted from host: <10.0.0.1:9618>
...
028 (042.000.000) 2026-11-24 02:20:57 Job ad information event triggered.
Owner = \"dana\"
UserLog = \"/home/dana/run/42.log\"
TriggerEventTypeNumber = 0
...
001 (042.000.000) 2026-11-24 02:21:15 Job executing on host: <10.0.0.7:9618>
\tSlotName: slot1@ep7.site-c.example.org
\tGLIDEIN_Site = \"SiteC\"
...
012 (042.000.000) 2026-11-24 02:21:27 Job was held.
\tTransfer input files failure at access point ap1 while sending files to execution point slot1@ep7.site-c.example.org. Details: reading from file /home/dana/run/in.txt: (errno 2) No such file or directory
\tCode 13 Subcode 2
...
",
    )
    .unwrap();
    let cache = dir.path().join("cache.sqlite");
    ok(Command::new(bin())
        .args(["collect", "--log"])
        .arg(&log)
        .arg("--cache")
        .arg(&cache));
    let c = holdadvisor::cache::Cache::open_read_only(&cache).unwrap();
    let open = c.open_holds().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let h = &open[0];
    assert_eq!((h.cluster, h.proc, h.code, h.subcode), (42, 0, 13, 2));
    assert_eq!(h.owner.as_deref(), Some("dana"));
    assert!(
        h.reason.as_deref().unwrap_or("").contains("in.txt"),
        "{h:?}"
    );
    assert_eq!(h.site.as_deref(), Some("SiteC"), "{h:?}");
    assert!(h.advice.is_some(), "collect predicted the open hold");
    let job = c.job(42, 0).unwrap().unwrap();
    assert_eq!(job.user_log.as_deref(), Some("/home/dana/run/42.log"));
}
