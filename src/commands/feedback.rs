//! `holdadvisor feedback`: how past advice turned out. Accuracy, Brier score and calibration
//! of past predictions whose outcome the log has since shown, by week and by hold code, as a
//! table and a reliability plot (SVG).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cache::Cache;
use crate::config;
use crate::feedback::{Report, report, scored_probabilities};

#[derive(clap::Args, Debug)]
pub struct FeedbackArgs {
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    /// Write a reliability diagram (predicted vs observed release success) here.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn figure(v: Option<f64>, scale: f64, width: usize, digits: usize) -> String {
    match v {
        Some(v) => format!("{:>width$.digits$}", v * scale),
        None => format!("{:>width$}", "-"),
    }
}

pub fn run(args: &FeedbackArgs) -> anyhow::Result<ExitCode> {
    // Only read: a shared cache that only `collect` may write is opened read-only.
    let path = config::cache_path(args.cache.as_deref())?;
    let cache = if Cache::writable(&path) {
        Cache::open(&path)?
    } else {
        Cache::open_read_only(&path)?
    };
    let judged = cache.judged_predictions()?;
    let Report {
        all,
        by_week: weeks,
        by_code: codes,
        ..
    } = report(&judged);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "all": all, "by_week": weeks, "by_code": codes })
        )?;
    } else {
        writeln!(
            out,
            "{} past predictions with a known outcome, {} of them scored; {} censored (removed while held: whether a release would have worked is unknown, so not scored) (cache {})",
            judged.len(),
            all.predictions,
            all.censored,
            cache.path().display()
        )?;
        let late = cache.after_the_fact_predictions()?;
        if late > 0 {
            writeln!(
                out,
                "{late} predictions made after their hold's outcome was recorded are not judged."
            )?;
        }
        if all.predictions == 0 {
            writeln!(
                out,
                "\nNothing to score yet: no advised hold has been released and then recovered or failed. `holdadvisor collect` records outcomes as the event log shows them."
            )?;
        }
        for (title, rows) in [
            ("WEEK", &weeks),
            ("CODE/SUB", &codes),
            ("", &vec![all.clone()]),
        ] {
            if title.is_empty() {
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "\n{:<10} {:>6} {:>8} {:>9} {:>8} {:>6}",
                    title, "SCORED", "CENSORED", "ACCURACY", "BRIER", "ECE"
                )?;
            }
            for s in rows.iter() {
                writeln!(
                    out,
                    "{:<10} {:>6} {:>8} {}% {} {}",
                    s.group,
                    s.predictions,
                    s.censored,
                    figure(s.accuracy, 100.0, 8, 1),
                    figure(s.brier, 1.0, 8, 3),
                    figure(s.ece, 1.0, 6, 3)
                )?;
            }
        }
    }
    if let Some(path) = &args.plot {
        let (probs, labels) = scored_probabilities(&judged);
        crate::report::reliability_svg(
            path,
            &format!(
                "How past advice turned out: {} scored holds ({} censored left out)",
                all.predictions, all.censored
            ),
            "past predictions",
            &probs,
            &labels,
        )?;
        if !args.json {
            writeln!(out, "\nreliability plot: {}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
