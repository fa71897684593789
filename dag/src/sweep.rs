//! The sweep configuration (`sweep.json`): which hyperparameters vary, how points are drawn
//! (random or grid), and which validation metric picks the winner.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use holdadvisor_models::data::SplitKind;
use holdadvisor_models::rng::Rng;
use holdadvisor_models::training::TrainingConfig;
use serde::{Deserialize, Serialize};

/// How points are drawn from the [`Space`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Every parameter drawn independently from its choices (distinct points where possible).
    Random,
    /// The full grid, in a seeded shuffled order; the first N points.
    Grid,
}

/// Whether larger or smaller is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    Max,
    Min,
}

/// The choices of every swept hyperparameter (each a non-empty list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Space {
    /// LSTM layers (`model.num_layers`).
    pub num_layers: Vec<usize>,
    /// LSTM hidden size (`model.hidden_size`).
    pub hidden_size: Vec<usize>,
    pub learning_rate: Vec<f64>,
    pub batch_size: Vec<usize>,
    /// `model.dropout`.
    pub dropout: Vec<f64>,
    /// The encoder's pool-context window in seconds (`encoder.window_seconds`).
    pub window_seconds: Vec<i64>,
    /// The encoder's steps per sequence (`encoder.seq_len`).
    pub seq_len: Vec<usize>,
}

impl Default for Space {
    fn default() -> Space {
        Space {
            num_layers: vec![1, 2, 3],
            hidden_size: vec![32, 64, 128],
            learning_rate: vec![5e-4, 1e-3, 2e-3, 5e-3],
            batch_size: vec![32, 64, 128],
            dropout: vec![0.0, 0.1, 0.3],
            window_seconds: vec![1800, 3600, 7200],
            seq_len: vec![8, 16, 32],
        }
    }
}

/// `sweep.json`. Every key is optional; missing keys take the defaults shown by
/// `SweepConfig::default()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    pub method: Method,
    /// The validation metric that picks the winner: `roc_auc` (default), `accuracy`,
    /// `log_loss`, `brier` or `ece`.
    pub metric: String,
    /// Default: `max` for roc_auc and accuracy, `min` for the others.
    pub goal: Option<Goal>,
    /// Seeds the draw of points and every point's training.
    pub seed: u64,
    /// Per point: the most epochs (early stopping usually ends sooner).
    pub max_epochs: usize,
    /// Early-stopping patience (epochs without improvement).
    pub patience: usize,
    /// Early stop when validation ROC AUC falls more than this fraction below its best.
    pub max_drop: f64,
    /// Train the reference (m, j*e) baseline beside every point (doubles the cost).
    pub train_reference: bool,
    /// The fixed split every point uses (by hold time).
    pub train_fraction: f64,
    pub validation_fraction: f64,
    /// DAGMan throttle: training jobs in the queue at once (`MAXJOBS training`).
    pub max_parallel: usize,
    /// `RETRY` count of every training node.
    pub retries: u32,
    /// Resources of every node's job.
    pub request_memory_mb: u64,
    /// Disk per job; unset (the default), it is sized from what a job holds: see
    /// [`crate::generate::disk_request_kb`].
    pub request_disk_mb: Option<u64>,
    /// Promote the selected model even when its advice loses to the pool's (code, subcode)
    /// table or the best rule policy on the test split (default: no, keep the previous
    /// model or the shipped one).
    pub promote_losing_model: bool,
    pub space: Space,
}

impl Default for SweepConfig {
    fn default() -> SweepConfig {
        SweepConfig {
            method: Method::Random,
            metric: "roc_auc".into(),
            goal: None,
            seed: 1,
            max_epochs: 40,
            patience: 6,
            max_drop: 0.1,
            train_reference: false,
            train_fraction: 0.6,
            validation_fraction: 0.2,
            max_parallel: 10,
            retries: 3,
            request_memory_mb: 1024,
            request_disk_mb: None,
            promote_losing_model: false,
            space: Space::default(),
        }
    }
}

/// The metrics a sweep may select on, with their natural goal.
pub const METRICS: [(&str, Goal); 5] = [
    ("roc_auc", Goal::Max),
    ("accuracy", Goal::Max),
    ("log_loss", Goal::Min),
    ("brier", Goal::Min),
    ("ece", Goal::Min),
];

/// One point of the sweep: the values drawn for each hyperparameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub num_layers: usize,
    pub hidden_size: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub dropout: f64,
    pub window_seconds: i64,
    pub seq_len: usize,
}

impl SweepConfig {
    /// Reads and checks `sweep.json`.
    pub fn load(path: &Path) -> anyhow::Result<SweepConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: SweepConfig =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Rejects configurations that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        if !METRICS.iter().any(|(m, _)| *m == self.metric) {
            bail!(
                "unknown metric {:?}: one of {}",
                self.metric,
                METRICS.map(|m| m.0).join(", ")
            );
        }
        let s = &self.space;
        let sizes = [
            ("num_layers", s.num_layers.len()),
            ("hidden_size", s.hidden_size.len()),
            ("learning_rate", s.learning_rate.len()),
            ("batch_size", s.batch_size.len()),
            ("dropout", s.dropout.len()),
            ("window_seconds", s.window_seconds.len()),
            ("seq_len", s.seq_len.len()),
        ];
        for (name, n) in sizes {
            ensure!(n > 0, "space.{name} needs at least one value");
        }
        ensure!(
            s.num_layers.iter().all(|&v| v >= 1)
                && s.hidden_size.iter().all(|&v| v >= 1)
                && s.batch_size.iter().all(|&v| v >= 1)
                && s.seq_len.iter().all(|&v| v >= 1)
                && s.window_seconds.iter().all(|&v| v >= 1),
            "layers, hidden size, batch size, seq_len and window_seconds must be positive"
        );
        ensure!(
            s.learning_rate.iter().all(|&v| v > 0.0 && v.is_finite()),
            "learning rates must be positive"
        );
        ensure!(
            s.dropout.iter().all(|&v| (0.0..1.0).contains(&v)),
            "dropout must be in [0, 1)"
        );
        ensure!(self.max_epochs >= 1, "max_epochs must be at least 1");
        ensure!(self.max_parallel >= 1, "max_parallel must be at least 1");
        ensure!(
            self.train_fraction > 0.0
                && self.validation_fraction > 0.0
                && self.train_fraction + self.validation_fraction < 1.0,
            "train_fraction and validation_fraction must be positive and leave a test split"
        );
        Ok(())
    }

    /// The goal of the selection metric.
    pub fn goal(&self) -> Goal {
        self.goal.unwrap_or_else(|| {
            METRICS
                .iter()
                .find(|(m, _)| *m == self.metric)
                .map_or(Goal::Max, |(_, g)| *g)
        })
    }

    /// Whether `a` is better than `b` under this config's metric and goal.
    pub fn better(&self, a: f64, b: f64) -> bool {
        match self.goal() {
            Goal::Max => a > b,
            Goal::Min => a < b,
        }
    }

    /// The grid's size.
    pub fn grid_size(&self) -> usize {
        let s = &self.space;
        s.num_layers.len()
            * s.hidden_size.len()
            * s.learning_rate.len()
            * s.batch_size.len()
            * s.dropout.len()
            * s.window_seconds.len()
            * s.seq_len.len()
    }

    fn point_at(&self, mut index: usize) -> Point {
        let s = &self.space;
        let mut pick = |n: usize| {
            let i = index % n;
            index /= n;
            i
        };
        Point {
            num_layers: s.num_layers[pick(s.num_layers.len())],
            hidden_size: s.hidden_size[pick(s.hidden_size.len())],
            learning_rate: s.learning_rate[pick(s.learning_rate.len())],
            batch_size: s.batch_size[pick(s.batch_size.len())],
            dropout: s.dropout[pick(s.dropout.len())],
            window_seconds: s.window_seconds[pick(s.window_seconds.len())],
            seq_len: s.seq_len[pick(s.seq_len.len())],
        }
    }

    /// `n` points, deterministic for a seed. Grid: distinct points of the shuffled grid (an
    /// error when `n` exceeds it). Random: independent draws, distinct while the grid allows.
    pub fn points(&self, n: usize) -> anyhow::Result<Vec<Point>> {
        ensure!(n >= 1, "a sweep needs at least one point");
        let size = self.grid_size();
        let mut rng = Rng::new(self.seed);
        match self.method {
            Method::Grid => {
                ensure!(
                    n <= size,
                    "--sweep {n} exceeds the grid's {size} points; use a random sweep or a larger space"
                );
                let mut order: Vec<usize> = (0..size).collect();
                rng.shuffle(&mut order);
                Ok(order[..n].iter().map(|&i| self.point_at(i)).collect())
            }
            Method::Random => {
                let mut out: Vec<Point> = Vec::with_capacity(n);
                while out.len() < n {
                    let mut p = self.point_at(rng.below(size as u64) as usize);
                    for _ in 0..100 {
                        if out.len() >= size || !out.contains(&p) {
                            break;
                        }
                        p = self.point_at(rng.below(size as u64) as usize);
                    }
                    out.push(p);
                }
                Ok(out)
            }
        }
    }

    /// The training configuration of one point (`holdadvisor train --config` reads it).
    pub fn training_config(&self, p: &Point, index: usize) -> TrainingConfig {
        let mut cfg = TrainingConfig::default_ours();
        cfg.model.num_layers = p.num_layers;
        cfg.model.hidden_size = p.hidden_size;
        cfg.model.dropout = p.dropout;
        cfg.learning_rate = p.learning_rate;
        cfg.batch_size = p.batch_size;
        cfg.encoder.window_seconds = p.window_seconds;
        cfg.encoder.seq_len = p.seq_len;
        cfg.max_epochs = self.max_epochs;
        cfg.patience = self.patience;
        cfg.max_drop = self.max_drop;
        cfg.seed = self.seed.wrapping_mul(1000).wrapping_add(index as u64);
        cfg.split = SplitKind::Time;
        cfg.train_fraction = self.train_fraction;
        cfg.validation_fraction = self.validation_fraction;
        cfg.train_reference = self.train_reference;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_deterministic_distinct_and_inside_the_space() {
        let cfg = SweepConfig::default();
        let a = cfg.points(12).unwrap();
        assert_eq!(a, cfg.points(12).unwrap());
        for (i, p) in a.iter().enumerate() {
            assert!(cfg.space.hidden_size.contains(&p.hidden_size));
            assert!(cfg.space.window_seconds.contains(&p.window_seconds));
            assert!(!a[..i].contains(p), "duplicate point {p:?}");
        }
        let grid = SweepConfig {
            method: Method::Grid,
            space: Space {
                num_layers: vec![1, 2],
                hidden_size: vec![8],
                learning_rate: vec![1e-3],
                batch_size: vec![32],
                dropout: vec![0.0],
                window_seconds: vec![60, 120],
                seq_len: vec![4],
            },
            ..SweepConfig::default()
        };
        let g = grid.points(4).unwrap();
        assert_eq!(g.len(), 4);
        assert!(grid.points(5).is_err());
    }

    #[test]
    fn goal_follows_the_metric() {
        let mut cfg = SweepConfig::default();
        assert_eq!(cfg.goal(), Goal::Max);
        assert!(cfg.better(0.9, 0.8));
        cfg.metric = "log_loss".into();
        assert_eq!(cfg.goal(), Goal::Min);
        assert!(cfg.better(0.2, 0.3));
        cfg.metric = "f1".into();
        assert!(cfg.check().is_err());
    }
}
