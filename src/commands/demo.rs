//! `holdadvisor demo`: the whole path on a fresh machine with no HTCondor: simulate a pool
//! (synthetic data), load the shipped model (or train one if none is shipped), collect the
//! simulated global event log into a cache, then `scan` the held jobs and `q` one of them.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::config;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to put the simulated pool, the cache (and a model, if one is trained).
    #[arg(long, default_value = "holdadvisor-demo")]
    pub out: PathBuf,
    /// Jobs to simulate.
    #[arg(long, default_value_t = 5000)]
    pub jobs: u64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Use this model instead of the shipped one.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

fn step(title: &str) {
    println!("\n=== {title}");
}

fn run_self(args: &[&str]) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the holdadvisor binary")?;
    println!("$ holdadvisor {}", args.join(" "));
    let status = Command::new(&exe)
        .args(args)
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("holdadvisor {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let out = &args.out;
    let pool = out.join("pool");
    let cache = out.join("cache.sqlite");
    if pool.exists() {
        std::fs::remove_dir_all(&pool).with_context(|| format!("clearing {}", pool.display()))?;
    }
    let _ = std::fs::remove_file(&cache);
    std::fs::create_dir_all(out)?;

    step("1. A simulated HTCondor pool (SYNTHETIC data: no real jobs)");
    run_self(&[
        "simulate",
        "--jobs",
        &args.jobs.to_string(),
        "--seed",
        &args.seed.to_string(),
        "--out",
        &s(&pool),
    ])?;

    step("2. The model");
    let model = match &args.model {
        Some(m) => m.clone(),
        None if config::shipped_model_dir().join("manifest.json").is_file() => {
            let m = config::shipped_model_dir();
            println!(
                "using the shipped default model {} (trained on simulated data)",
                m.display()
            );
            m
        }
        None => {
            let m = out.join("model");
            println!("no shipped model found: training a small one on this simulated pool");
            run_self(&[
                "train",
                "--data",
                &s(&pool),
                "--out",
                &s(&m),
                "--epochs",
                "8",
                "--no-reference",
                "--quiet",
                "--note",
                "simulated: holdadvisor demo",
            ])?;
            m
        }
    };

    step("3. Collect the pool's global event log into the prediction cache");
    run_self(&[
        "collect",
        "--log",
        &s(&pool.join("EventLog")),
        "--cache",
        &s(&cache),
        "--model",
        &s(&model),
    ])?;

    step("4. A facilitator's view: every held job, grouped");
    let snapshot = pool.join("condor_q.json");
    run_self(&[
        "scan",
        "-allusers",
        "-schedd-snapshot",
        &s(&snapshot),
        "-cache",
        &s(&cache),
        "-model",
        &s(&model),
        "--group-by",
        "code,reason",
    ])?;

    step("5. A researcher asks about one held job");
    let text = std::fs::read_to_string(&snapshot)?;
    let ads = holdadvisor_parsers::condor_q::parse_job_ads(&text, &s(&snapshot))?;
    let Some(job) = ads
        .iter()
        .find(|a| a.is_held() && a.int("HoldReasonCode") != Some(1))
        .or(ads.iter().find(|a| a.is_held()))
    else {
        println!("(no job was left held in this simulation)");
        return Ok(ExitCode::SUCCESS);
    };
    let id = format!("{}.{}", job.cluster().unwrap_or(0), job.proc().unwrap_or(0));
    run_self(&[
        "q",
        &id,
        "-schedd-snapshot",
        &s(&snapshot),
        "-cache",
        &s(&cache),
        "-model",
        &s(&model),
    ])?;
    println!("\nAll of the above is simulated: the figures say nothing about a real pool.");
    Ok(ExitCode::SUCCESS)
}
