//! Job ads from the schedd: `condor_q -json` run as an argv (never through a shell), or a
//! saved snapshot of its output.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use holdadvisor_parsers::condor_q::{JobAd, parse_job_ads};

use crate::jobspec::JobSpec;

/// What to ask for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub specs: Vec<JobSpec>,
    pub all_users: bool,
    pub constraint: Option<String>,
    pub held_only: bool,
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

    /// Applies the query to ads from a snapshot (the constraint cannot be evaluated here).
    pub fn filter(&self, ads: Vec<JobAd>) -> Vec<JobAd> {
        ads.into_iter()
            .filter(|ad| !self.held_only || ad.is_held())
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

/// Finds a program on PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
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
    Ok(parse_job_ads(&text, "condor_q -json")?)
}

/// Reads a saved `condor_q -json` snapshot and applies the query to it.
pub fn snapshot(path: &Path, query: &Query) -> anyhow::Result<Vec<JobAd>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(query.filter(parse_job_ads(&text, &path.display().to_string())?))
}
