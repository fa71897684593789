//! `holdadvisor scan`: every held job on the access point, predicted in batches, grouped so
//! that one decision covers many jobs; with the commands, and `--apply` to run them.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use holdadvisor_parsers::condor_q::JobAd;

use crate::advice::Action;
use crate::cache::Cache;
use crate::commands::q::Source;
use crate::groups::{GroupKey, group};
use crate::predict::{ADVICE_ATTRS, Outcome};
use crate::schedd;

/// The attributes of a job ad a scan reads besides [`ADVICE_ATTRS`]: its group keys.
const GROUP_ATTRS: &[&str] = &[
    "Owner",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "HoldReason",
    "LastRemoteHost",
    "RemoteHost",
];

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Group jobs by these keys.
    #[arg(
        long = "group-by",
        value_delimiter = ',',
        default_value = "code,reason"
    )]
    pub group_by: Vec<GroupKey>,
    /// Commands only for jobs whose advice is at least this confident (CONF, from 0.5 to 1:
    /// max(P, 1 - P)).
    #[arg(long = "min-confidence", default_value_t = 0.0, value_parser = confidence_bar)]
    pub min_confidence: f32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print, per group, the commands for the jobs above the confidence bar: one
    /// `-constraint` form per group that selects exactly those jobs.
    #[arg(long)]
    pub commands: bool,
    /// With --commands: one command per job instead of one per group.
    #[arg(long = "per-job")]
    pub per_job: bool,
    /// Run those commands (after showing them and asking; see --yes). Each is logged in the cache.
    #[arg(long)]
    pub apply: bool,
    /// With --apply: do not ask.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub source: Source,
}

/// `--min-confidence`: a CONF between 0 and 1 (90 or 1.5 would select nothing, silently).
fn confidence_bar(text: &str) -> Result<f32, String> {
    let v: f32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: expected a number from 0 to 1"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!(
            "{text}: CONF is max(P, 1 - P), from 0.5 to 1; give a number from 0 to 1"
        ));
    }
    Ok(v)
}

pub fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let mut watch = crate::timing::Stopwatch::start();
    let (caches, model_dir) = args.source.open()?;
    let mut advisor = args.source.advisor(&caches, model_dir)?;
    // A global log (`-log`) is read while condor_q gives the job ads. A snapshot is parsed
    // here, on every core: the log is read after it, while the cache is asked (with every
    // answer cached, as after `collect`, the reading stops there; started before the parse it
    // took a core from it and cost 1-3 CPU-seconds for nothing).
    let from_snapshot = args.source.snapshot.is_some();
    if let Some(log) = advisor.log_override.clone()
        && !from_snapshot
    {
        advisor.read_ahead(&log)?;
    }
    let attrs: Vec<&str> = ADVICE_ATTRS.iter().chain(GROUP_ATTRS).copied().collect();
    let ads = args.source.ads_keeping(Vec::new(), true, Some(&attrs))?;
    if let Some(log) = advisor.log_override.clone()
        && from_snapshot
    {
        advisor.read_ahead(&log)?;
    }
    watch.mark("job ads");
    let outcomes = advisor.advise_all(&ads);
    watch.mark("advice");
    let groups = group(&ads, &outcomes, &args.group_by, args.min_confidence);
    watch.mark("groups");
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let passing: usize = groups.iter().map(|g| g.passing).sum();
    let advised: usize = groups.iter().map(|g| g.jobs).sum();
    match args.format {
        Format::Json => {
            let jobs = job_rows(&ads, &outcomes, &args.group_by);
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "held": ads.len(),
                    "advised": advised,
                    "min_confidence": args.min_confidence,
                    "passing": passing,
                    "groups": groups,
                    "jobs": jobs,
                }))?
            )?
        }
        Format::Csv => {
            let mut w = csv_writer(&mut out);
            w(&[
                "id",
                "owner",
                "group",
                "advice",
                "probability",
                "confidence",
                "passes_min_confidence",
                "commands",
            ])?;
            for j in job_rows(&ads, &outcomes, &args.group_by) {
                let fmt = |v: Option<f32>| v.map_or(String::new(), |v| format!("{v:.4}"));
                w(&[
                    &j.id,
                    &j.owner,
                    &j.group,
                    &j.advice,
                    &fmt(j.probability),
                    &fmt(j.confidence),
                    &j.confidence
                        .is_some_and(|c| c >= args.min_confidence)
                        .to_string(),
                    &j.commands.join(" ; "),
                ])?;
            }
        }
        Format::Table => {
            writeln!(
                out,
                "{} held jobs in {} groups{}; {passing} of the {advised} advised have CONF >= {:.2} (the commands act on those)",
                ads.len(),
                groups.len(),
                if failed > 0 {
                    format!(" ({failed} without advice)")
                } else {
                    String::new()
                },
                args.min_confidence
            )?;
            writeln!(
                out,
                "{:>6} {:>6} {:>5} {:>5}  {:<42} GROUP",
                "JOBS", "PASS", "P", "CONF", "ADVICE"
            )?;
            for g in &groups {
                writeln!(
                    out,
                    "{:>6} {:>6} {:>5.2} {:>5.2}  {:<42} {}",
                    g.jobs,
                    g.passing,
                    g.mean_probability,
                    g.mean_confidence,
                    crate::advice::short_reason(&g.advice, 42),
                    g.key
                )?;
            }
            writeln!(out, "\n{LEGEND}")?;
        }
    }
    if args.commands || args.apply {
        for g in groups.iter().filter(|g| g.passing > 0) {
            writeln!(
                out,
                "\n# {} ({} of {} jobs, CONF >= {:.2}): {}",
                g.key, g.passing, g.jobs, args.min_confidence, g.advice
            )?;
            let commands = if args.per_job {
                &g.job_commands
            } else {
                &g.commands
            };
            for c in commands {
                writeln!(out, "{c}")?;
            }
        }
    }
    if matches!(args.format, Format::Table) {
        crate::commands::q::note_partial_view(&mut out, advisor.partial_view_jobs)?;
    } else {
        crate::commands::q::note_partial_view(&mut std::io::stderr(), advisor.partial_view_jobs)?;
    }
    if args.apply {
        drop(out);
        let actions: Vec<&(String, Action)> = groups
            .iter()
            .flat_map(|g| &g.actions)
            .filter(|(_, a)| *a != Action::Wait)
            .collect();
        let actions = own_held_jobs(&args.source, &ads, actions)?;
        apply(&caches.own, &actions, args.yes)?;
    }
    crate::commands::q::incomplete(&outcomes, advisor.malformed_events)
}

/// What the table's columns mean (also in `scan --help`).
pub const LEGEND: &str = "JOBS   held jobs with this cause and this advice (every job of a group got the same advice)
PASS   of those, the ones with CONF at least --min-confidence: the commands act on these
P      mean P(release succeeds)
CONF   mean confidence, max(P, 1 - P)
GROUP  the --group-by keys (default: code/subcode and the HoldReason, numbers, paths and slots masked)";

/// One held job as `--format csv` and `json` export it.
#[derive(serde::Serialize)]
struct JobRow {
    id: String,
    owner: String,
    group: String,
    advice: String,
    probability: Option<f32>,
    confidence: Option<f32>,
    commands: Vec<String>,
}

fn job_rows(ads: &[JobAd], outcomes: &[Outcome], keys: &[GroupKey]) -> Vec<JobRow> {
    ads.iter()
        .zip(outcomes)
        .map(|(ad, o)| {
            let (advice, probability, confidence, commands) = match o {
                Outcome::Advised(a) => (
                    a.advice.action.describe(),
                    Some(a.advice.probability),
                    Some(a.advice.confidence),
                    a.commands.clone(),
                ),
                Outcome::Failed(e) => (format!("no advice: {e}"), None, None, Vec::new()),
                Outcome::NotHeld { .. } => ("not held".into(), None, None, Vec::new()),
            };
            JobRow {
                id: format!("{}.{}", ad.cluster().unwrap_or(-1), ad.proc().unwrap_or(-1)),
                owner: ad.string("Owner").unwrap_or("").to_string(),
                group: crate::groups::key_of(ad, keys),
                advice,
                probability,
                confidence,
                commands,
            }
        })
        .collect()
}

/// A writer of CSV records (RFC 4180: fields with commas, quotes or line breaks quoted).
fn csv_writer(out: &mut impl Write) -> impl FnMut(&[&str]) -> std::io::Result<()> + '_ {
    move |fields: &[&str]| {
        let line: Vec<String> = fields
            .iter()
            .map(|f| {
                if f.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.to_string()
                }
            })
            .collect();
        writeln!(out, "{}", line.join(","))
    }
}

/// The actions `--apply` may carry out: only for jobs that condor_q (or the snapshot) shows
/// held now, and, without `-allusers`, only for the caller's own jobs (condor_q shows only
/// those by default, but a site can configure it to show all; the schedd's own authorization
/// is what finally decides).
fn own_held_jobs<'a>(
    source: &Source,
    ads: &[JobAd],
    actions: Vec<&'a (String, Action)>,
) -> anyhow::Result<Vec<&'a (String, Action)>> {
    if source.snapshot.is_none() && schedd::find_on_path("condor_q").is_none() {
        bail!(
            "--apply acts only on jobs condor_q shows held now, and condor_q was not found on PATH (the held jobs here come from {})",
            source
                .log
                .as_deref()
                .map_or("an event log".into(), |l| l.display().to_string())
        );
    }
    let me = if source.allusers {
        None
    } else {
        Some(schedd::current_user().context(
            "--apply without -allusers acts on your own jobs, and your user name could not be found",
        )?)
    };
    let held: HashMap<String, Option<&str>> = ads
        .iter()
        .filter(|ad| ad.is_held())
        .map(|ad| {
            (
                format!("{}.{}", ad.cluster().unwrap_or(-1), ad.proc().unwrap_or(-1)),
                ad.string("Owner"),
            )
        })
        .collect();
    let (kept, left): (Vec<_>, Vec<_>) = actions.into_iter().partition(|(id, _)| {
        held.get(id)
            .is_some_and(|owner| me.is_none() || *owner == me.as_deref())
    });
    if !left.is_empty() {
        eprintln!(
            "holdadvisor: {} job{} left out of --apply: not held now, or not yours (give -allusers to act on every owner's jobs)",
            left.len(),
            if left.len() == 1 { "" } else { "s" }
        );
    }
    Ok(kept)
}

/// Carries out each job's action, after asking: the programs and arguments are made from
/// the action and the job's id alone (never from stored text, never through a shell), each
/// step only after the one before it succeeded. Each run is logged in the cache.
fn apply(cache: &Cache, actions: &[&(String, Action)], yes: bool) -> anyhow::Result<()> {
    let count: usize = actions.iter().map(|(id, a)| a.argvs(id).len()).sum();
    if count == 0 {
        println!("Nothing to apply.");
        return Ok(());
    }
    if !yes {
        print!("\nRun these {count} commands? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Nothing run.");
            return Ok(());
        }
    }
    for (id, action) in actions {
        for argv in action.argvs(id) {
            let Some((program, rest)) = argv.split_first() else {
                continue;
            };
            if !matches!(
                program.as_str(),
                "condor_release" | "condor_rm" | "condor_qedit"
            ) {
                bail!(
                    "refusing to run {program:?}: only condor_release, condor_rm and condor_qedit"
                );
            }
            let line = argv.join(" ");
            let output = Command::new(program).args(rest).output();
            let (status, text) = match output {
                Ok(o) => (
                    o.status.code(),
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    ),
                ),
                Err(e) => (None, e.to_string()),
            };
            cache.log_action(&line, status, text.trim())?;
            println!(
                "{line}: {}",
                if status == Some(0) {
                    "done".to_string()
                } else {
                    format!("FAILED ({})", text.trim())
                }
            );
            if status != Some(0) {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::{Facts, advise};
    use crate::groups::key_of;
    use holdadvisor_parsers::condor_q::{parse_job_ads, parse_job_ads_keeping};
    use holdadvisor_parsers::hold_code::{SUBCODE_OUT_OF_DISK, SUBCODE_OUT_OF_MEMORY};

    /// A scan reads only ADVICE_ATTRS and GROUP_ATTRS of each ad: on the real pool's
    /// condor_q output, its groups and advice are what the whole ads give.
    #[test]
    fn the_attributes_a_scan_keeps_give_the_same_answers() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pool/condor_q.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let full = parse_job_ads(&text, "q.json").unwrap();
        let attrs: Vec<&str> = ADVICE_ATTRS.iter().chain(GROUP_ATTRS).copied().collect();
        let some = parse_job_ads_keeping(&text, "q.json", &attrs).unwrap();
        assert_eq!(full.len(), some.len());
        assert!(some.iter().any(JobAd::is_held));
        let keys = [
            GroupKey::Owner,
            GroupKey::Code,
            GroupKey::Site,
            GroupKey::Reason,
        ];
        for (a, b) in full.iter().zip(&some) {
            assert_eq!(key_of(a, &keys), key_of(b, &keys));
            assert_eq!(
                (a.cluster(), a.proc(), a.status()),
                (b.cluster(), b.proc(), b.status())
            );
            for name in ["EnteredCurrentStatus", "UserLog", "HoldReason"] {
                assert_eq!(a.get(name), b.get(name), "{name}");
            }
            // Memory and disk holds read the ad's requests and usage.
            for (code, subcode) in [
                (34, i64::from(SUBCODE_OUT_OF_MEMORY)),
                (34, i64::from(SUBCODE_OUT_OF_DISK)),
                (13, 2),
            ] {
                let facts = |ad| Facts {
                    code,
                    subcode,
                    reason: a.string("HoldReason"),
                    probability: 0.4,
                    ad: Some(ad),
                    ..Default::default()
                };
                assert_eq!(advise(&facts(a)), advise(&facts(b)));
            }
        }
    }
}
