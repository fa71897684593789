//! Trains and evaluates without the `holdadvisor` binary (for benchmarks and experiments):
//!
//! ```text
//! cargo run --release -p holdadvisor-models --example train_eval -- DATA_DIR[,DATA_DIR...] MODEL_DIR [NOTE]
//! ```
//!
//! Several data directories (comma-separated) are read as separate pools and trained on
//! together; the evaluation table is for the first. Each DATA_DIR is a `holdadvisor simulate` output (or a directory of *.log files). Prints the
//! evaluation table of the test split. Figures from simulated data are not real-world accuracy.

use holdadvisor_models::data::{data_dir_logs, episodes_of_pools};
use holdadvisor_models::encode::EncoderConfig;
use holdadvisor_models::evaluate::evaluate_model_dir;
use holdadvisor_models::training::{TrainOptions, TrainingConfig, train};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: train_eval DATA_DIR MODEL_DIR [NOTE]"
    );
    let dirs: Vec<std::path::PathBuf> = args[1].split(',').map(std::path::PathBuf::from).collect();
    let data = dirs[0].clone();
    let out = std::path::PathBuf::from(&args[2]);
    let note = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| format!("data directory {}", data.display()));
    let logs = data_dir_logs(&data)?;
    let cfg = match std::env::var("TRAIN_CONFIG") {
        Ok(p) => {
            use holdadvisor_models::burn::config::Config;
            TrainingConfig::load(&p).map_err(|e| anyhow::anyhow!("{p}: {e}"))?
        }
        Err(_) => TrainingConfig::default_ours(),
    };
    let t = std::time::Instant::now();
    let pools = dirs
        .iter()
        .map(|d| data_dir_logs(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (episodes, stats, _) = episodes_of_pools(
        &pools,
        vec![cfg.encoder.clone(), EncoderConfig::reference()],
    )?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{} events, {} episodes: read and encoded in {secs:.2} s ({:.0} events/s)",
        stats.events,
        episodes.len(),
        stats.events as f64 / secs
    );
    let opts = TrainOptions {
        progress: true,
        data_note: note.clone(),
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let o = train(&episodes, 0, &cfg, &out, &opts)?;
    eprintln!(
        "ours: {} ({:.1} s)",
        o.stop_reason,
        t.elapsed().as_secs_f64()
    );
    if cfg.train_reference {
        let mut r = cfg.clone();
        r.encoder = EncoderConfig::reference();
        r.train_reference = false;
        let t = std::time::Instant::now();
        let o = train(&episodes, 1, &r, &out.join("reference"), &opts)?;
        eprintln!(
            "reference: {} ({:.1} s)",
            o.stop_reason,
            t.elapsed().as_secs_f64()
        );
    }
    let truth = data.join("truth.jsonl");
    let (report, _) = evaluate_model_dir(
        &out,
        &logs,
        "test",
        &note,
        truth.is_file().then_some(truth.as_path()),
    )?;
    println!("data: {note}");
    print!("{}", report.table());

    // Inference throughput on the flex backend: one job at a time, and batches of 256.
    let predictor = holdadvisor_models::inference::Predictor::load(&out)?;
    let inputs: Vec<_> = episodes.iter().take(256).map(|e| &e.inputs[0]).collect();
    let t = std::time::Instant::now();
    let n = 200;
    for i in 0..n {
        predictor.predict_one(inputs[i % inputs.len()])?;
    }
    let single = t.elapsed().as_secs_f64() / n as f64;
    let t = std::time::Instant::now();
    let rounds = 10;
    for _ in 0..rounds {
        predictor.predict_refs(&inputs)?;
    }
    let batch = t.elapsed().as_secs_f64() / rounds as f64;
    println!(
        "inference (flex): one job {:.3} ms; batch of {} {:.2} ms ({:.0} predictions/s)",
        single * 1e3,
        inputs.len(),
        batch * 1e3,
        inputs.len() as f64 / batch
    );
    Ok(())
}
