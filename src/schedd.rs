//! Job ads from the schedd: `condor_q -json` run as an argv (never through a shell), or a
//! saved snapshot of its output.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use holdadvisor_parsers::condor_q::{JobAd, parse_job_ads, parse_job_ads_keeping};

use crate::jobspec::JobSpec;

/// What to ask for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub specs: Vec<JobSpec>,
    pub all_users: bool,
    pub constraint: Option<String>,
    pub held_only: bool,
    /// Only this owner's jobs: condor_q's default without `-allusers`, applied to snapshots
    /// (condor_q applies it itself).
    pub owner: Option<String>,
    /// Read only these attributes of each ad (all without); the ones [`Query::filter`] and
    /// the constraint use are added. condor_q is still asked for whole ads.
    pub attrs: Option<Vec<String>>,
}

impl Query {
    /// condor_q's arguments for this query.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec!["-json".to_string()];
        if self.all_users {
            argv.push("-allusers".into());
        }
        if self.held_only {
            argv.extend(["-constraint".into(), "JobStatus == 5".into()]);
        }
        if let Some(c) = &self.constraint {
            argv.extend(["-constraint".into(), c.clone()]);
        }
        argv.extend(self.specs.iter().map(JobSpec::to_string));
        argv
    }

    /// Reads condor_q's output for this query: whole ads, or the attributes it asks for.
    pub fn parse(&self, text: &str, source: &str) -> anyhow::Result<Vec<JobAd>> {
        let Some(attrs) = &self.attrs else {
            return Ok(parse_job_ads(text, source)?);
        };
        let mut keep: Vec<&str> = attrs.iter().map(String::as_str).collect();
        keep.extend(["ClusterId", "ProcId", "JobStatus", "Owner"]);
        if let Some(c) = &self.constraint {
            keep.extend(constraint_names(c));
        }
        Ok(parse_job_ads_keeping(text, source, &keep)?)
    }

    /// Applies the query to ads from a snapshot (the constraint cannot be evaluated here).
    pub fn filter(&self, ads: Vec<JobAd>) -> Vec<JobAd> {
        ads.into_iter()
            .filter(|ad| !self.held_only || ad.is_held())
            .filter(|ad| {
                self.owner
                    .as_deref()
                    .is_none_or(|me| ad.string("Owner") == Some(me))
            })
            .filter(|ad| {
                self.specs.is_empty()
                    || self.specs.iter().any(|s| {
                        s.matches(
                            ad.cluster().unwrap_or(-1),
                            ad.proc().unwrap_or(-1),
                            ad.string("Owner"),
                        )
                    })
            })
            .collect()
    }
}

/// The names a ClassAd expression may refer to attributes by (every word outside string
/// literals, `MY.` and `TARGET.` prefixes split off); keywords and function names come along,
/// which costs nothing but keeping an attribute that happens to share the name.
pub fn constraint_names(expr: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            // Skip the string literal, honouring backslash escapes.
            let mut escaped = false;
            let end = rest[1..]
                .char_indices()
                .find(|&(_, ch)| {
                    let close = ch == '"' && !escaped;
                    escaped = ch == '\\' && !escaped;
                    close
                })
                .map_or(rest.len(), |(i, _)| i + 2);
            rest = &rest[end..];
        } else if c.is_ascii_alphabetic() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            names.push(&rest[..end]);
            rest = &rest[end..];
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    names
}

/// The name of the user running this process (its real uid's), as condor_q names the owner
/// whose jobs it shows without `-allusers`.
pub fn current_user() -> Option<String> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: getpwuid_r writes into `pwd` and `buf` (both ours, sized as passed) and sets
    // `found` to `pwd` or null; the name is copied out before either goes away.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return std::env::var("USER").ok().filter(|u| !u.is_empty());
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Finds a program on PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The access point's global event log, as HTCondor's configuration names it (`EVENT_LOG`).
pub fn global_event_log() -> anyhow::Result<PathBuf> {
    let Some(program) = find_on_path("condor_config_val") else {
        bail!("condor_config_val was not found on PATH: give the global event log with --log PATH");
    };
    let out = Command::new(program)
        .arg("EVENT_LOG")
        .output()
        .context("running condor_config_val EVENT_LOG")?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || path.is_empty() || path.contains("Not defined") {
        bail!(
            "EVENT_LOG is not set in HTCondor's configuration: the access point keeps no global event log"
        );
    }
    Ok(PathBuf::from(path))
}

/// Runs `condor_q` for the query.
pub fn condor_q(query: &Query) -> anyhow::Result<Vec<JobAd>> {
    let Some(program) = find_on_path("condor_q") else {
        bail!(
            "condor_q was not found on PATH: without HTCondor here, answer from an event log with \
             -log FILE or from saved `condor_q -json` output with -schedd-snapshot FILE"
        );
    };
    let output = Command::new(&program)
        .args(query.argv())
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        bail!("condor_q failed ({}): {first}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    query.parse(&text, "condor_q -json")
}

/// Reads a saved `condor_q -json` snapshot and applies the query to it.
pub fn snapshot(path: &Path, query: &Query) -> anyhow::Result<Vec<JobAd>> {
    let mut watch = crate::timing::Stopwatch::start();
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    // Mapped, not read: a queue of 100,000 jobs is 200 MB, and copying it into fresh memory
    // cost more than parsing the attributes scan needs. Snapshots are saved files that
    // nothing rewrites in place while they are read.
    // SAFETY: the map is only read, and dropped before this function returns.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("reading {}", path.display()))?;
    let text = std::str::from_utf8(&map).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 at byte offset {} (condor_q -json writes UTF-8 text)",
            path.display(),
            e.valid_up_to()
        )
    })?;
    watch.mark("read the snapshot");
    let ads = query.parse(text, &path.display().to_string())?;
    watch.mark("parse the snapshot");
    drop(map);
    let ads = query.filter(ads);
    watch.mark("select");
    Ok(ads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_constraint() {
        assert_eq!(
            constraint_names(r#"Owner == "al\"ice" && MY.RequestMemory > 2_048 || x1"#),
            ["Owner", "MY", "RequestMemory", "_048", "x1"]
        );
        assert_eq!(
            constraint_names(r#""unterminated \" Owner"#),
            Vec::<&str>::new()
        );
        assert_eq!(constraint_names("é+JobStatus"), ["JobStatus"]);
    }

    #[test]
    fn a_bad_snapshot_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let query = Query::default();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, b"[\n{\"Owner\": \"\xff\"}\n]\n").unwrap();
        let err = snapshot(&bad, &query).unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("byte offset 13"),
            "{err}"
        );
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, b"").unwrap();
        // condor_q -json prints nothing at all for an empty queue.
        assert!(snapshot(&empty, &query).unwrap().is_empty());
        let missing = dir.path().join("missing.json");
        let err = snapshot(&missing, &query).unwrap_err().to_string();
        assert!(err.contains("missing.json"), "{err}");
    }

    #[test]
    fn a_query_with_attributes_keeps_what_it_filters_on() {
        let text = "[\n{\"ClusterId\": 1, \"ProcId\": 0, \"JobStatus\": 5, \"Owner\": \"a\", \"Cmd\": \"x\", \"Site\": \"s\"}\n]\n";
        let query = Query {
            attrs: Some(vec!["HoldReason".into()]),
            constraint: Some("Site == \"s\"".into()),
            held_only: true,
            ..Default::default()
        };
        let ads = query.filter(query.parse(text, "t").unwrap());
        let names: Vec<&str> = ads[0].attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["ClusterId", "ProcId", "JobStatus", "Owner", "Site"]);
        let all = Query::default().parse(text, "t").unwrap();
        assert_eq!(all[0].attrs.len(), 6);
    }
}
