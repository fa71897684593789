//! `holdadvisor scan`: every held job on the access point, predicted in batches, grouped so
//! that one decision covers many jobs; with the commands, and `--apply` to run them.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use holdadvisor_parsers::condor_q::JobAd;

use crate::advice::Action;
use crate::cache::Cache;
use crate::commands::q::Source;
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

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKey {
    Owner,
    Code,
    Site,
    Reason,
}

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
    /// Print, per group, the commands for the jobs above the confidence bar.
    #[arg(long)]
    pub commands: bool,
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

/// A reason text with its numbers and addresses masked, so that the same cause groups together.
pub fn reason_pattern(reason: &str) -> String {
    let mut out = String::new();
    let mut in_token = false;
    for word in reason.split_whitespace() {
        let masked = if word.contains('@') || word.starts_with('<') || word.starts_with('/') {
            "…"
        } else if word.chars().any(|c| c.is_ascii_digit()) {
            "N"
        } else {
            word
        };
        if in_token {
            out.push(' ');
        }
        out.push_str(masked);
        in_token = true;
        if out.len() > 60 {
            out.push('…');
            break;
        }
    }
    out
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

fn key_of(ad: &JobAd, keys: &[GroupKey]) -> String {
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

#[derive(Debug, Default, serde::Serialize)]
pub struct Group {
    pub key: String,
    pub jobs: usize,
    pub advised: usize,
    pub release_share: f64,
    pub mean_confidence: f64,
    /// The most common advice in the group.
    pub advice: String,
    pub commands: Vec<String>,
    /// The job ids and actions behind `commands`, which `--apply` carries out.
    #[serde(skip)]
    pub actions: Vec<(String, Action)>,
}

/// Groups advised jobs; sorted by how many jobs one decision covers.
pub fn group(
    ads: &[JobAd],
    outcomes: &[Outcome],
    keys: &[GroupKey],
    min_confidence: f32,
) -> Vec<Group> {
    let mut groups: BTreeMap<String, (Group, BTreeMap<String, usize>, f64)> = BTreeMap::new();
    for (ad, o) in ads.iter().zip(outcomes) {
        let Outcome::Advised(a) = o else { continue };
        // Most jobs join a group that exists: the key is copied only for a new group.
        let entry = groups.entry(key_of(ad, keys)).or_insert_with_key(|key| {
            let group = Group {
                key: key.clone(),
                ..Default::default()
            };
            (group, BTreeMap::new(), 0.0)
        });
        entry.0.jobs += 1;
        entry.0.advised += 1;
        if matches!(a.advice.action, Action::Release | Action::ReleaseOnce) {
            entry.0.release_share += 1.0;
        }
        entry.2 += f64::from(a.advice.confidence);
        let kind = match a.advice.action {
            Action::RaiseMemory(_) => "raise memory".to_string(),
            Action::RaiseDisk(_) => "raise disk".to_string(),
            ref other => other.describe(),
        };
        *entry.1.entry(kind).or_default() += 1;
        if a.advice.confidence >= min_confidence {
            entry.0.commands.extend(a.commands.iter().cloned());
            if let (Some(c), Some(p)) = (ad.cluster(), ad.proc()) {
                entry
                    .0
                    .actions
                    .push((format!("{c}.{p}"), a.advice.action.clone()));
            }
        }
    }
    let mut out: Vec<Group> = groups
        .into_values()
        .map(|(mut g, kinds, conf)| {
            let n = g.advised.max(1) as f64;
            g.release_share /= n;
            g.mean_confidence = conf / n;
            g.advice = kinds
                .into_iter()
                .max_by_key(|(_, c)| *c)
                .map(|(k, _)| k)
                .unwrap_or_default();
            g
        })
        .collect();
    out.sort_by(|a, b| b.jobs.cmp(&a.jobs).then(a.key.cmp(&b.key)));
    out
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
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&groups)?)?,
        Format::Csv => {
            writeln!(out, "group,jobs,release_share,mean_confidence,advice")?;
            for g in &groups {
                writeln!(
                    out,
                    "\"{}\",{},{:.3},{:.3},\"{}\"",
                    g.key.replace('"', "\"\""),
                    g.jobs,
                    g.release_share,
                    g.mean_confidence,
                    g.advice
                )?;
            }
        }
        Format::Table => {
            writeln!(
                out,
                "{} held jobs in {} groups{}",
                ads.len(),
                groups.len(),
                if failed > 0 {
                    format!(" ({failed} without advice)")
                } else {
                    String::new()
                }
            )?;
            writeln!(
                out,
                "{:>6} {:>8} {:>6}  {:<28} GROUP",
                "JOBS", "RELEASE", "CONF", "ADVICE"
            )?;
            for g in &groups {
                writeln!(
                    out,
                    "{:>6} {:>7.0}% {:>6.2}  {:<28} {}",
                    g.jobs,
                    g.release_share * 100.0,
                    g.mean_confidence,
                    g.advice,
                    g.key
                )?;
            }
        }
    }
    if args.commands || args.apply {
        for g in groups.iter().filter(|g| !g.commands.is_empty()) {
            writeln!(out, "\n# {} ({} jobs): {}", g.key, g.jobs, g.advice)?;
            for c in &g.commands {
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
