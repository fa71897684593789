//! The `holdadvisor` binary: argument parsing and dispatch only.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use holdadvisor::commands;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (libmimalloc-sys names only some).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc hands memory freed for 10 ms back to the kernel, which zeroes it again when it is
/// reused. Events are built on one thread and dropped on another in batches, so in `scan`
/// and `events` much of it came back a moment later: a quarter of a cold scan's time was the
/// kernel's (100,000 held jobs: 1.9-3.1 s of system time, 1.0-1.3 s with 250 ms, the same
/// peak memory; `bench/scan.sh`). `MIMALLOC_PURGE_DELAY` in the environment still decides.
fn keep_freed_memory_a_while() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an option of the allocator in use; read by it under its own locks.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 250) };
    }
}

#[derive(Parser)]
#[command(
    name = "holdadvisor",
    version,
    about = "Tells HTCondor users whether a held job is worth releasing or should be removed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the events of job event logs (text, JSON or XML; detected per file).
    Events(commands::events::EventsArgs),
    /// condor_q for held jobs, with advice: release, release once and watch, remove, raise a
    /// request, or wait.
    ///
    /// P is P(a plain release succeeds): the model's, refitted to the pool's own resolved holds
    /// when that helps. CONF is max(P, 1 - P) for every advice: how sure the model is of how a
    /// release would end. Release or remove follows from a cost model (a failed release costs
    /// one more run, a removal throws the job away), so `remove` needs P below 0.24, and between
    /// 0.24 and 0.5 the advice is to release once and watch. With only a job's own log read (no
    /// global event log, no collected cache) the output says so, and P is kept at least 0.1.
    #[command(verbatim_doc_comment)]
    Q(commands::q::QArgs),
    /// Every held job, advised in batches and grouped so one decision covers many jobs.
    ///
    /// CONF is max(P, 1 - P), as in `q`; --min-confidence filters on it.
    #[command(verbatim_doc_comment, after_help = commands::scan::LEGEND)]
    Scan(commands::scan::ScanArgs),
    /// Ingest the global event log into the cache: holds, outcomes, predictions ahead of queries.
    Collect(commands::collect::CollectArgs),
    /// How past advice turned out: accuracy and calibration by week and by hold code.
    Feedback(commands::feedback::FeedbackArgs),
    /// The dashboard: a read-only web app over the cache (held jobs, a job's history, feedback, the model).
    Serve(commands::serve::ServeArgs),
    /// The whole path with no HTCondor: simulate a pool, load the model, collect, scan and q.
    Demo(commands::demo::DemoArgs),
    /// Simulate an HTCondor pool and write its event logs with known ground truth (synthetic data).
    Simulate(commands::simulate::SimulateArgs),
    /// Train the hold-outcome model on event logs (time-based split, early stopping, checkpoints).
    Train(commands::train::TrainArgs),
    /// Evaluate a model against baselines on event logs (whole test split).
    Evaluate(commands::evaluate::EvaluateArgs),
    /// A training sweep as an HTCondor DAGMan workflow (`dag run` / `dag status` without HTCondor).
    Dag(commands::dag::DagArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions { shell: clap_complete::Shell },
    /// Write man pages (holdadvisor.1 and one per subcommand) into a directory.
    Man { dir: std::path::PathBuf },
}

/// holdadvisor.1 and holdadvisor-SUBCOMMAND.1 in `dir`.
fn write_man_pages(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cli = Cli::command();
    let mut pages = vec![("holdadvisor.1".to_string(), cli.clone())];
    for sub in cli.get_subcommands() {
        let name = format!("holdadvisor-{}", sub.get_name());
        let file = format!("{name}.1");
        pages.push((file, sub.clone().name(&*Box::leak(name.into_boxed_str()))));
    }
    for (file, command) in pages {
        let mut bytes = Vec::new();
        clap_mangen::Man::new(command).render(&mut bytes)?;
        let path = dir.join(&file);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--version`: the program's version and the shipped model compiled into it.
fn long_version() -> String {
    let m: serde_json::Value =
        serde_json::from_slice(holdadvisor::config::embedded_manifest()).unwrap_or_default();
    format!(
        "{}\nshipped model {}-{} ({}; {})",
        env!("CARGO_PKG_VERSION"),
        m["weights_hash"].as_str().unwrap_or("?"),
        m["encoder_hash"].as_str().unwrap_or("?"),
        m["data_note"].as_str().unwrap_or("no data note"),
        "its accuracy figures are on simulated pools, not real ones"
    )
}

fn main() -> ExitCode {
    keep_freed_memory_a_while();
    let cli = {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command()
            .long_version(&*Box::leak(long_version().into_boxed_str()))
            .get_matches_from(condor_style_args(std::env::args_os()));
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    };
    let result = match cli.command {
        Command::Events(args) => commands::events::run(&args),
        Command::Q(args) => commands::q::run(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            // Into memory first: the generator panics on a closed pipe (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "holdadvisor", &mut script);
            match std::io::stdout().write_all(&script) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                other => other
                    .map(|_| ExitCode::SUCCESS)
                    .map_err(anyhow::Error::from),
            }
        }
        Command::Man { dir } => write_man_pages(&dir),
        Command::Scan(args) => commands::scan::run(&args),
        Command::Collect(args) => commands::collect::run(&args),
        Command::Feedback(args) => commands::feedback::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Train(args) => commands::train::run(&args),
        Command::Evaluate(args) => commands::evaluate::run(&args),
        Command::Dag(args) => commands::dag::run(&args),
    };
    match result {
        Ok(code) => code,
        // A reader that went away (`| head`) is not an error worth a message.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("holdadvisor: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// condor_q's way with options: one dash for long options (`-hold`, `-allusers`,
/// `-constraint`, `-log` on every subcommand), unambiguous prefixes of at least three letters
/// on `q` and `scan` (`-hol`, `-const`), and `-af:FLAGS` (`-af:h`, `-af:jt`). Rewritten to
/// clap's `--name` before parsing; anything that is not an option of the subcommand is left
/// as it is (a negative number, a job id).
fn condor_style_args(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let args: Vec<std::ffi::OsString> = args.collect();
    let Some(sub) = args.get(1).and_then(|a| a.to_str()) else {
        return args;
    };
    let cli = Cli::command();
    let Some(command) = cli.find_subcommand(sub) else {
        return args;
    };
    let condor_like = sub == "q" || sub == "scan";
    // Long names and their aliases, each with the name clap knows it by.
    let mut names: Vec<(String, String)> = Vec::new();
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            names.push((long.to_string(), long.to_string()));
            for alias in arg.get_all_aliases().unwrap_or_default() {
                names.push((alias.to_string(), long.to_string()));
            }
        }
    }
    let resolve = |name: &str| -> Option<String> {
        if let Some((_, long)) = names.iter().find(|(n, _)| n == name) {
            return Some(long.clone());
        }
        if !condor_like || name.len() < 3 {
            return None;
        }
        let mut hits: Vec<&String> = names
            .iter()
            .filter(|(n, _)| n.starts_with(name))
            .map(|(_, long)| long)
            .collect();
        hits.sort();
        hits.dedup();
        (hits.len() == 1).then(|| hits[0].clone())
    };
    let mut out = Vec::with_capacity(args.len() + 1);
    for (i, a) in args.into_iter().enumerate() {
        let Some(s) = a
            .to_str()
            .filter(|s| i >= 2 && s.len() > 2 && s.starts_with('-') && !s.starts_with("--"))
        else {
            out.push(a);
            continue;
        };
        let (name, flags) = match s[1..].split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (&s[1..], None),
        };
        match (resolve(name), flags) {
            (Some(long), None) => out.push(format!("--{long}").into()),
            (Some(long), Some(flags)) if long == "af" => {
                out.push(format!("--af-options={flags}").into());
                out.push("--af".into());
            }
            _ => out.push(a),
        }
    }
    out
}
