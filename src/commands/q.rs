//! `holdadvisor q [JOBID ...] [-hold] [-allusers] [-constraint EXPR] [-json] [-af ATTR ...]
//! [-log FILE] [-schedd-snapshot FILE]`: condor_q for held jobs, with advice.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use holdadvisor_parsers::Value;
use holdadvisor_parsers::condor_q::{JobAd, format_job_ads, job_status_name};

use crate::advice::short_reason;
use crate::cache::Cache;
use crate::jobspec::{JobSpec, validate_constraint};
use crate::predict::{Advisor, Outcome, annotate, held_ads_from_log};
use crate::schedd::{self, Query};
use crate::{config, predict};

/// Options shared by `q` and `scan`: where jobs, logs, the cache and the model come from.
#[derive(clap::Args, Debug, Clone)]
pub struct Source {
    /// All users' jobs, not only yours (as condor_q -allusers).
    #[arg(long)]
    pub allusers: bool,
    /// A ClassAd constraint, passed to condor_q as one argument.
    #[arg(long)]
    pub constraint: Option<String>,
    /// Answer from this event log (a user log or the global event log) instead of each job's UserLog;
    /// without -schedd-snapshot, the held jobs are those held at the end of this log.
    #[arg(long = "log", value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Saved `condor_q -json` output to use instead of running condor_q.
    #[arg(long = "schedd-snapshot", value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The prediction cache (default: HOLDADVISOR_CACHE, the config file, or ~/.cache/holdadvisor/cache.sqlite).
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    /// The model directory (default: HOLDADVISOR_MODEL, the config file, or the shipped model).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

impl Source {
    /// The job ads of the query: from a snapshot, from condor_q, or from a log's held jobs.
    pub fn ads(&self, specs: Vec<JobSpec>, held_only: bool) -> anyhow::Result<Vec<JobAd>> {
        self.ads_keeping(specs, held_only, None)
    }

    /// As [`ads`](Self::ads), keeping only the attributes `attrs` names (all without) of ads
    /// read from condor_q or a snapshot.
    pub fn ads_keeping(
        &self,
        specs: Vec<JobSpec>,
        held_only: bool,
        attrs: Option<&[&str]>,
    ) -> anyhow::Result<Vec<JobAd>> {
        // A log given by name that is not one is the user's mistake: say so, do not advise.
        // Checked here, once, before the job ads are read or the log is.
        if let Some(log) = &self.log {
            predict::check_event_log(log)?;
        }
        let constraint = self
            .constraint
            .as_deref()
            .map(validate_constraint)
            .transpose()
            .map_err(anyhow::Error::msg)?
            .map(str::to_string);
        // As condor_q without -allusers or job ids: only the caller's jobs. condor_q does
        // this itself; a snapshot holds every owner's.
        let owner = (self.snapshot.is_some() && !self.allusers && specs.is_empty())
            .then(schedd::current_user)
            .flatten();
        let query = Query {
            specs,
            all_users: self.allusers,
            constraint,
            held_only,
            owner,
            attrs: attrs.map(|a| a.iter().map(|s| s.to_string()).collect()),
        };
        if let Some(snap) = &self.snapshot {
            // A ClassAd constraint is condor_q's to evaluate; silently ignoring it offered
            // commands for jobs it would have left out.
            if query.constraint.is_some() {
                anyhow::bail!(
                    "-constraint is not evaluated on a saved snapshot ({}): give job ids or an owner instead, or save `condor_q -json -constraint ...` as the snapshot",
                    snap.display()
                );
            }
            let mut ads = schedd::snapshot(snap, &query)?;
            if let (Some(me), true) = (&query.owner, ads.is_empty()) {
                eprintln!(
                    "holdadvisor: no jobs of {me} in {}: as condor_q, only your own jobs are shown without -allusers",
                    snap.display()
                );
            }
            relocate_user_logs(&mut ads, snap.parent().unwrap_or(std::path::Path::new(".")));
            return Ok(ads);
        }
        if let Some(log) = &self.log
            && schedd::find_on_path("condor_q").is_none()
        {
            return Ok(query.filter(held_ads_from_log(log)?));
        }
        // condor_q already selected these; filtering again costs nothing and guards against
        // a wrapper or an older condor_q that ignores part of the selection.
        Ok(query.filter(schedd::condor_q(&query)?))
    }

    /// The event log that gives the pool-wide view: `-log FILE`, else the access point's
    /// global event log (`condor_config_val EVENT_LOG`) when this user can read it. The flag
    /// says it was found, not given (jobs it does not hold fall back to their own logs).
    pub fn pool_log(&self) -> (Option<PathBuf>, bool) {
        if let Some(log) = &self.log {
            return (Some(log.clone()), false);
        }
        if self.snapshot.is_some() || schedd::find_on_path("condor_q").is_none() {
            return (None, false);
        }
        let readable = |p: &PathBuf| {
            std::fs::File::open(p).is_ok_and(|f| f.metadata().is_ok_and(|m| m.is_file()))
        };
        match schedd::global_event_log() {
            Ok(log) if readable(&log) => (Some(log), true),
            _ => (None, false),
        }
    }

    /// An Advisor over `caches` reading the pool-wide log when there is one.
    pub fn advisor<'c>(
        &self,
        caches: &'c Caches,
        model_dir: PathBuf,
    ) -> anyhow::Result<Advisor<'c>> {
        let (log, found) = self.pool_log();
        let mut advisor = Advisor::new(&caches.own, model_dir, log)?;
        advisor.shared = caches.shared.as_ref();
        advisor.fall_back_to_user_logs = found;
        Ok(advisor)
    }

    /// The caches and the model directory.
    pub fn open(&self) -> anyhow::Result<(Caches, PathBuf)> {
        let caches = Caches::open(&config::cache_path(self.cache.as_deref())?)?;
        let model = config::model_dir(self.model.as_deref())?;
        Ok((caches, model))
    }
}

/// The caches `q` and `scan` use. The trust model (README, "Security"): the configured cache
/// is written by whoever may write it (the facilitator's `collect`, on a shared access
/// point); a user who may only read it keeps what they compute in their own cache, so
/// nothing one user stores is read back as advice for another.
pub struct Caches {
    /// Where this process stores: the configured cache when it may write it, else its own.
    pub own: Cache,
    /// The configured cache, opened read-only, when this process may not write it.
    pub shared: Option<Cache>,
}

impl Caches {
    pub fn open(path: &std::path::Path) -> anyhow::Result<Caches> {
        if Cache::writable(path) {
            return Ok(Caches {
                own: Cache::open(path)?,
                shared: None,
            });
        }
        let own_path = config::own_cache_path()?;
        if own_path == path {
            anyhow::bail!(
                "the cache {} is not writable by you: give --cache PATH",
                path.display()
            );
        }
        let shared = if path.exists() {
            Some(Cache::open_read_only(path)?)
        } else {
            eprintln!(
                "holdadvisor: the configured cache {} does not exist yet (`holdadvisor collect` makes it); using your own, {}",
                path.display(),
                own_path.display()
            );
            None
        };
        Ok(Caches {
            own: Cache::open(&own_path)?,
            shared,
        })
    }
}

/// A snapshot copied off its access point (or written by the simulator) names user logs by
/// their paths there; where such a path is missing here but exists under the snapshot's
/// directory, use that copy.
fn relocate_user_logs(ads: &mut [JobAd], base: &std::path::Path) {
    // A cluster's procs share one log: look each path up once.
    let mut seen: std::collections::HashMap<String, Option<String>> = Default::default();
    for ad in ads {
        let Some(log) = ad.string("UserLog") else {
            continue;
        };
        let moved = seen.entry(log.to_string()).or_insert_with(|| {
            let log = std::path::Path::new(log);
            if log.exists() {
                return None;
            }
            let moved = base.join(log.strip_prefix("/").unwrap_or(log));
            moved.exists().then(|| moved.display().to_string())
        });
        if let Some(moved) = moved.clone() {
            ad.set("UserLog", Value::Str(moved));
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct QArgs {
    /// Jobs: CLUSTER, CLUSTER.PROC or an owner name.
    pub jobs: Vec<String>,
    /// Only held jobs (also -held).
    #[arg(long, visible_alias = "held")]
    pub hold: bool,
    /// Print a JSON list of job ads (as condor_q -json) with Advice, ReleaseProbability, AdviceReason, AdviceCommands.
    #[arg(long)]
    pub json: bool,
    /// Print these attributes, one line per job (as condor_q -af, also -autoformat); accepts
    /// the advice attributes. `-af:FLAGS` as condor_q: h a header line, j the job id first,
    /// l `name = value`, t tabs, `,` commas between values.
    #[arg(long = "af", visible_alias = "autoformat", num_args = 1.., value_name = "ATTR")]
    pub af: Vec<String>,
    /// The FLAGS of `-af:FLAGS` (set by writing the flags after `-af:`).
    #[arg(long = "af-options", hide = true, default_value = "")]
    pub af_options: String,
    /// Accepted as condor_q accepts it: the table has one line per job already.
    #[arg(long, hide = true)]
    pub nobatch: bool,
    /// Only the totals line.
    #[arg(long)]
    pub totals: bool,
    /// Each job's whole ad as `Name = value` lines (ClassAd syntax), with the advice
    /// attributes, one blank line after each ad, as condor_q -long.
    #[arg(long, short = 'l')]
    pub long: bool,
    #[command(flatten)]
    pub source: Source,
}

pub fn run(args: &QArgs) -> anyhow::Result<ExitCode> {
    // Validate every job id before anything else runs: condor_q is never called on bad input.
    let specs = args
        .jobs
        .iter()
        .map(|j| JobSpec::parse(j))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let mut ads = args.source.ads(specs, args.hold)?;
    let (caches, model_dir) = args.source.open()?;
    let mut advisor = args.source.advisor(&caches, model_dir)?;
    let outcomes = advisor.advise_all(&ads);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json || args.long || !args.af.is_empty() {
        for (ad, o) in ads.iter_mut().zip(&outcomes) {
            annotate(ad, o);
        }
        note_partial_view(&mut std::io::stderr(), advisor.partial_view_jobs)?;
        if args.json {
            out.write_all(format_job_ads(&ads).as_bytes())?;
        } else if args.long {
            print_long(&mut out, &ads)?;
        } else {
            print_af(&mut out, &ads, &args.af, &args.af_options)?;
        }
        drop(out);
        return incomplete(&outcomes, advisor.malformed_events);
    }
    if args.totals {
        writeln!(out, "{}", totals_line(&ads))?;
        drop(out);
        return incomplete(&outcomes, advisor.malformed_events);
    }
    print_table(&mut out, &ads, &outcomes, &advisor.model_id)?;
    note_partial_view(&mut out, advisor.partial_view_jobs)?;
    drop(out);
    incomplete(&outcomes, advisor.malformed_events)
}

/// condor_q's totals line: `Total for query: 3 jobs; 0 completed, 0 removed, 1 idle,
/// 0 running, 2 held, 0 suspended`.
pub fn totals_line(ads: &[JobAd]) -> String {
    let count = |status: i64| ads.iter().filter(|a| a.status() == Some(status)).count();
    format!(
        "Total for query: {} jobs; {} completed, {} removed, {} idle, {} running, {} held, {} suspended",
        ads.len(),
        count(4),
        count(3),
        count(1),
        count(2),
        count(5),
        count(7)
    )
}

/// `-af` output, with condor_q's `-af:FLAGS`: `h` a header of the attribute names, `j` the
/// job id first, `l` `name = value`, `t` tabs and `,` commas between values (default a space).
pub fn print_af(
    out: &mut impl Write,
    ads: &[JobAd],
    attrs: &[String],
    flags: &str,
) -> std::io::Result<()> {
    let separator = if flags.contains('t') {
        "\t"
    } else if flags.contains(',') {
        ","
    } else {
        " "
    };
    let (header, job_id, labels) = (
        flags.contains('h'),
        flags.contains('j'),
        flags.contains('l'),
    );
    if header {
        let mut names: Vec<&str> = Vec::new();
        if job_id {
            names.push("ID");
        }
        names.extend(attrs.iter().map(String::as_str));
        writeln!(out, "{}", names.join(separator))?;
    }
    for ad in ads {
        let mut fields = Vec::new();
        if job_id {
            fields.push(format!(
                "{}.{}",
                ad.cluster().unwrap_or(-1),
                ad.proc().unwrap_or(-1)
            ));
        }
        for a in attrs {
            let v = af_value(ad.get(a));
            fields.push(if labels { format!("{a} = {v}") } else { v });
        }
        writeln!(out, "{}", fields.join(separator))?;
    }
    Ok(())
}

/// condor_q -long: each ad's attributes as `Name = value` in ClassAd syntax, in the ad's
/// order, and a blank line after each ad.
pub fn print_long(out: &mut impl Write, ads: &[JobAd]) -> std::io::Result<()> {
    for ad in ads {
        for (name, value) in &ad.attrs {
            writeln!(out, "{name} = {value}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The exit status of an answer: 1 when it is incomplete (some held job got no advice: the
/// count and the first reason go to stderr; or malformed events were skipped in a log read,
/// already reported), else 0.
pub fn incomplete(outcomes: &[Outcome], malformed_events: u64) -> anyhow::Result<ExitCode> {
    let mut failed = outcomes.iter().filter_map(|o| match o {
        Outcome::Failed(e) => Some(e),
        _ => None,
    });
    let Some(first) = failed.next() else {
        return Ok(if malformed_events > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    };
    let n = 1 + failed.count();
    eprintln!(
        "holdadvisor: {n} held job{} without advice; the first: {first}",
        if n == 1 { "" } else { "s" }
    );
    Ok(ExitCode::from(1))
}

/// Says, when some advice was made from jobs' own logs only, that the pool-wide view was
/// missing and how to get it.
pub fn note_partial_view(out: &mut impl Write, jobs: usize) -> std::io::Result<()> {
    if jobs == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "\nNo pool-wide view for {jobs} job{}: only {} own event log{} read, which cannot show \
         outages at other sites or other users' holds, so no `remove` from it is given with \
         CONF above {:.2}. Give the global event log with -log FILE (condor_config_val \
         EVENT_LOG), or point `cache` at a cache that `holdadvisor collect` fills.",
        if jobs == 1 { "" } else { "s" },
        if jobs == 1 { "its" } else { "their" },
        if jobs == 1 { " was" } else { "s were" },
        1.0 - crate::advice::PARTIAL_VIEW_FLOOR
    )
}

/// A value as `condor_q -af` prints it: strings unquoted, missing as `undefined`.
pub fn af_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Undefined) => "undefined".into(),
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Real(f)) => format!("{f}"),
        Some(Value::List(items)) => items
            .iter()
            .map(|i| af_value(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

fn held_since(ad: &JobAd) -> String {
    ad.int("EnteredCurrentStatus")
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%-m/%-d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
}

/// condor_q's held-jobs table with ADVICE, CONFIDENCE and WHY, then the commands to act.
pub fn print_table(
    out: &mut impl Write,
    ads: &[JobAd],
    outcomes: &[Outcome],
    model_id: &str,
) -> anyhow::Result<()> {
    if ads.is_empty() {
        // Still say which model would have answered: it is what the user configured.
        writeln!(
            out,
            "No matching jobs.\n\nmodel {}",
            short_reason(model_id, 24)
        )?;
        return Ok(());
    }
    writeln!(
        out,
        " {:<10} {:<12} {:<11} {:<8} {:<30} {:<42} {:>5}  WHY",
        "ID", "OWNER", "HELD_SINCE", "CODE/SUB", "HOLD_REASON", "ADVICE", "CONF"
    )?;
    let mut commands = Vec::new();
    for (ad, o) in ads.iter().zip(outcomes) {
        let id = format!("{}.{}", ad.cluster().unwrap_or(-1), ad.proc().unwrap_or(-1));
        let owner = ad.string("Owner").unwrap_or("-");
        match o {
            Outcome::NotHeld { status } => writeln!(
                out,
                " {id:<10} {owner:<12} is not held: {}",
                job_status_name(*status)
            )?,
            Outcome::Failed(e) => writeln!(out, " {id:<10} {owner:<12} held, no advice: {e}")?,
            Outcome::Advised(a) => {
                let code = format!(
                    "{}/{}",
                    ad.int("HoldReasonCode").unwrap_or(0),
                    ad.int("HoldReasonSubCode").unwrap_or(0)
                );
                writeln!(
                    out,
                    " {id:<10} {owner:<12} {:<11} {code:<8} {:<30} {:<42} {:>5.2}  {}",
                    held_since(ad),
                    short_reason(ad.string("HoldReason").unwrap_or("-"), 30),
                    short_reason(&a.advice.action.describe(), 42),
                    a.advice.confidence,
                    a.advice.why
                )?;
                commands.extend(a.commands.iter().cloned());
            }
        }
    }
    if !commands.is_empty() {
        writeln!(out, "\nTo act on this advice:")?;
        for c in commands {
            writeln!(out, "  {c}")?;
        }
    }
    writeln!(out, "\n{}", totals_line(ads))?;
    writeln!(out, "model {}", short_reason(model_id, 24))?;
    Ok(())
}

/// For tests and `demo`: the model id in use.
pub fn current_model_id(model: Option<&std::path::Path>) -> anyhow::Result<String> {
    predict::model_id(&config::model_dir(model).context("model")?)
}
