//! `holdadvisor feedback`: how past advice turned out. Accuracy, Brier score and calibration
//! of past predictions whose outcome the log has since shown, by week and by hold code, as a
//! table and a reliability plot (SVG).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Datelike;

use crate::cache::{Cache, JudgedPrediction};
use crate::config;

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

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Score {
    pub group: String,
    pub predictions: usize,
    /// Advice that matched the outcome: release and the job recovered, or anything else and
    /// it did not (removed or failed again). Censored episodes count as "did not recover".
    pub correct: usize,
    pub accuracy: f64,
    pub brier: f64,
    /// Expected calibration error over 10 bins of predicted probability.
    pub ece: f64,
}

fn positive(p: &JudgedPrediction) -> bool {
    p.label == "positive"
}

pub fn score(group: String, items: &[&JudgedPrediction]) -> Score {
    let n = items.len();
    let correct = items
        .iter()
        .filter(|p| (p.advice == "release") == positive(p))
        .count();
    let brier = items
        .iter()
        .map(|p| (p.probability - f64::from(u8::from(positive(p)))).powi(2))
        .sum::<f64>()
        / n.max(1) as f64;
    let mut bins = [(0usize, 0.0f64, 0.0f64); 10];
    for p in items {
        let b = ((p.probability * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += p.probability;
        bins[b].2 += f64::from(u8::from(positive(p)));
    }
    let ece = bins
        .iter()
        .filter(|b| b.0 > 0)
        .map(|b| (b.0 as f64 / n as f64) * (b.1 / b.0 as f64 - b.2 / b.0 as f64).abs())
        .sum();
    Score {
        group,
        predictions: n,
        correct,
        accuracy: correct as f64 / n.max(1) as f64,
        brier,
        ece,
    }
}

fn week(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            let w = d.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        })
        .unwrap_or_else(|| "?".into())
}

/// A reliability diagram: predicted probability against the observed rate, per bin.
pub fn reliability_svg(items: &[JudgedPrediction]) -> String {
    let mut bins = [(0usize, 0.0f64, 0.0f64); 10];
    for p in items {
        let b = ((p.probability * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += p.probability;
        bins[b].2 += f64::from(u8::from(positive(p)));
    }
    let (w, h, m) = (420.0, 420.0, 50.0);
    let x = |v: f64| m + v * (w - 2.0 * m);
    let y = |v: f64| h - m - v * (h - 2.0 * m);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    svg.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    svg.push_str(&format!(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4\"/>\n",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0)
    ));
    svg.push_str(&format!(
        "<rect x=\"{m}\" y=\"{m}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n",
        w - 2.0 * m,
        h - 2.0 * m
    ));
    let mut points = Vec::new();
    for b in bins.iter().filter(|b| b.0 > 0) {
        let (px, py) = (x(b.1 / b.0 as f64), y(b.2 / b.0 as f64));
        points.push(format!("{px:.1},{py:.1}"));
        svg.push_str(&format!(
            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"{:.1}\" fill=\"#1f77b4\"/>\n",
            3.0 + (b.0 as f64).sqrt().min(12.0)
        ));
    }
    svg.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\"/>\n",
        points.join(" ")
    ));
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted P(release succeeds)</text>\n",
        w / 2.0,
        h - 15.0
    ));
    svg.push_str(&format!("<text x=\"15\" y=\"{}\" transform=\"rotate(-90 15 {})\" text-anchor=\"middle\">observed share that recovered</text>\n", h / 2.0, h / 2.0));
    svg.push_str(&format!("<text x=\"{}\" y=\"30\" text-anchor=\"middle\">How past advice turned out ({} holds)</text>\n</svg>\n", w / 2.0, items.len()));
    svg
}

pub fn run(args: &FeedbackArgs) -> anyhow::Result<ExitCode> {
    let cache = Cache::open(&config::cache_path(args.cache.as_deref())?)?;
    let judged = cache.judged_predictions()?;
    let mut by_week: BTreeMap<String, Vec<&JudgedPrediction>> = BTreeMap::new();
    let mut by_code: BTreeMap<(i64, i64), Vec<&JudgedPrediction>> = BTreeMap::new();
    for p in &judged {
        by_week.entry(week(p.hold_time)).or_default().push(p);
        by_code.entry((p.code, p.subcode)).or_default().push(p);
    }
    let all = score("all".into(), &judged.iter().collect::<Vec<_>>());
    let weeks: Vec<Score> = by_week.into_iter().map(|(k, v)| score(k, &v)).collect();
    let codes: Vec<Score> = by_code
        .into_iter()
        .map(|((c, s), v)| score(format!("{c}/{s}"), &v))
        .collect();
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
            "{} past predictions with a known outcome (cache {})",
            judged.len(),
            cache.path().display()
        )?;
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
                    "\n{:<10} {:>6} {:>8} {:>8} {:>6}",
                    title, "N", "ACCURACY", "BRIER", "ECE"
                )?;
            }
            for s in rows.iter() {
                writeln!(
                    out,
                    "{:<10} {:>6} {:>7.1}% {:>8.3} {:>6.3}",
                    s.group,
                    s.predictions,
                    s.accuracy * 100.0,
                    s.brier,
                    s.ece
                )?;
            }
        }
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, reliability_svg(&judged))?;
        if !args.json {
            writeln!(out, "\nreliability plot: {}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jp(p: f64, advice: &str, label: &str) -> JudgedPrediction {
        JudgedPrediction {
            hold_time: 0,
            code: 13,
            subcode: 2,
            probability: p,
            advice: advice.into(),
            label: label.into(),
        }
    }

    #[test]
    fn scores_by_hand() {
        let items = [
            jp(0.9, "release", "positive"),
            jp(0.8, "release", "negative"),
            jp(0.1, "remove", "negative"),
            jp(0.2, "remove", "positive"),
        ];
        let s = score("x".into(), &items.iter().collect::<Vec<_>>());
        assert_eq!((s.predictions, s.correct), (4, 2));
        assert!((s.brier - (0.01 + 0.64 + 0.01 + 0.64) / 4.0).abs() < 1e-12);
        // bins: 0.1 (obs 0), 0.2 (obs 1), 0.8 (obs 0), 0.9 (obs 1): |0.1|+|0.8|+|0.8|+|0.1| over 4
        assert!(
            (s.ece - (0.1 + 0.8 + 0.8 + 0.1) / 4.0).abs() < 1e-12,
            "{}",
            s.ece
        );
    }
}
