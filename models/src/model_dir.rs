//! A model directory: its layout, its manifest, and writing one.
//!
//! A model directory holds:
//! - `model.bpk`: the weights (burnpack) of the ensemble's first member, and
//!   `members/K/model.bpk` those of member K (2, 3, ...): the prediction is the members' mean
//!   logit, calibrated;
//! - `model.json`: the [`ModelConfig`]; `encoder.json`: the [`EncoderConfig`];
//!   `training.json`: the [`TrainingConfig`](crate::training::TrainingConfig);
//! - `manifest.json`: a [`Manifest`] with the crate version, feature schema, hashes of the
//!   encoder settings and weights, the data hash, label counts and metrics;
//! - `metrics.jsonl` (one line per epoch) and `checkpoints/` (resume), of the first member
//!   here and of the others in `members/K/`;
//! - `reference/`: the reference-encoder baseline, when trained.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use burn::config::Config;
use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::data::LabelCounts;
use crate::encode::{EncoderConfig, FEATURE_SCHEMA};
use crate::hash::fnv64;
use crate::metrics::Metrics;
use crate::model::{HoldModel, ModelConfig};

/// The `format` of every manifest.
pub const MANIFEST_FORMAT: &str = "holdadvisor-model/1";

/// Platt scaling fitted on the validation split: `p = σ(a·logit + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub a: f64,
    pub b: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration { a: 1.0, b: 0.0 }
    }
}

impl Calibration {
    pub fn apply(&self, logit: f32) -> f32 {
        let z = self.a * logit as f64 + self.b;
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    /// Fits (a, b) on held-out logits: Platt's smoothed targets, damped Newton steps with a
    /// small ridge toward the identity, `a` kept in [0.05, 20]. Returns the identity when the
    /// fit does not lower the held-out log-loss or there are fewer than 10 examples.
    pub fn fit(logits: &[f32], targets: &[f32], weights: &[f32]) -> Calibration {
        let identity = Calibration::default();
        if logits.len() < 10 {
            return identity;
        }
        let n_pos: f64 = targets
            .iter()
            .zip(weights)
            .map(|(&y, &w)| f64::from(y) * f64::from(w))
            .sum();
        let n_neg: f64 = weights.iter().map(|&w| f64::from(w)).sum::<f64>() - n_pos;
        let (hi, lo) = ((n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0));
        let smooth: Vec<f64> = targets
            .iter()
            .map(|&y| if y > 0.5 { hi } else { lo })
            .collect();
        let ridge = 1e-3 * (n_pos + n_neg);
        let loss = |a: f64, b: f64| -> f64 {
            let mut l = ridge * ((a - 1.0).powi(2) + b * b);
            for ((&x, &y), &w) in logits.iter().zip(&smooth).zip(weights) {
                let z = a * x as f64 + b;
                // ln(1+e^z) - y z, stable
                l += w as f64 * (z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z);
            }
            l
        };
        let (mut a, mut b) = (1.0f64, 0.0f64);
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb) = (2.0 * ridge * (a - 1.0), 2.0 * ridge * b);
            let (mut haa, mut hab, mut hbb) = (2.0 * ridge + 1e-9, 0.0, 2.0 * ridge + 1e-9);
            for ((&x, &y), &w) in logits.iter().zip(&smooth).zip(weights) {
                let (x, w) = (x as f64, w as f64);
                let p = 1.0 / (1.0 + (-(a * x + b)).exp());
                let r = w * (p - y);
                ga += r * x;
                gb += r;
                let s = w * p * (1.0 - p);
                haa += s * x * x;
                hab += s * x;
                hbb += s;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-12 {
                break;
            }
            let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
            let mut step = 1.0;
            let mut moved = false;
            while step > 1e-4 {
                let (na, nb) = ((a - step * da).clamp(0.05, 20.0), b - step * db);
                let l = loss(na, nb);
                if l.is_finite() && l < current {
                    (a, b, current) = (na, nb, l);
                    moved = true;
                    break;
                }
                step /= 2.0;
            }
            if !moved || (da.abs() + db.abs()) * step < 1e-9 {
                break;
            }
        }
        if current < loss(1.0, 0.0) {
            Calibration { a, b }
        } else {
            identity
        }
    }
}

/// What a model directory says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// holdadvisor-models version that wrote it.
    pub version: String,
    pub feature_schema: u32,
    /// FNV-1a 64 of `encoder.json` and of `model.bpk` as written.
    pub encoder_hash: String,
    pub weights_hash: String,
    /// Hash of the training episodes (identity, label, input values), see `data::data_hash`.
    pub data_hash: String,
    /// Where the data came from, as the trainer said (e.g. "simulated: holdadvisor simulate --seed 1").
    pub data_note: String,
    pub backend: String,
    /// Of the first member.
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// The ensemble's other members, in order (`members/2`, `members/3`, ...); none in a
    /// model of one network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberManifest>,
    /// Platt scaling of the members' mean logit.
    pub calibration: Calibration,
    pub counts: SplitCounts,
    pub validation: Option<Metrics>,
    pub test: Option<Metrics>,
}

/// One further member of an ensemble.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberManifest {
    pub seed: u64,
    /// FNV-1a 64 of its `model.bpk`.
    pub weights_hash: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
}

/// Where the weights of member `k` (0-based) of a model directory are.
pub fn member_weights(dir: &Path, k: usize) -> PathBuf {
    member_dir(dir, k).join("model.bpk")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: LabelCounts,
    pub validation: LabelCounts,
    pub test: LabelCounts,
}

pub fn hash_file(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:016x}", fnv64(&bytes)))
}

/// Writes the members' weights, configs and the manifest (its hashes filled in here;
/// `manifest.members` describes `members[1..]`).
pub fn save_model_dir(
    dir: &Path,
    members: &[HoldModel],
    model_cfg: &ModelConfig,
    encoder: &EncoderConfig,
    mut manifest: Manifest,
) -> anyhow::Result<Manifest> {
    ensure!(
        !members.is_empty() && manifest.members.len() + 1 == members.len(),
        "{} networks but a manifest of {} members",
        members.len(),
        manifest.members.len() + 1
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut hashes = Vec::with_capacity(members.len());
    for (k, model) in members.iter().enumerate() {
        let weights = member_weights(dir, k);
        if let Some(parent) = weights.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        model
            .clone()
            .save_file(&weights)
            .map_err(|e| anyhow::anyhow!("saving {}: {e}", weights.display()))?;
        hashes.push(hash_file(&weights)?);
    }
    model_cfg.save(dir.join("model.json"))?;
    encoder.save(dir.join("encoder.json"))?;
    manifest.format = MANIFEST_FORMAT.into();
    manifest.version = env!("CARGO_PKG_VERSION").into();
    manifest.feature_schema = FEATURE_SCHEMA;
    manifest.encoder_hash = hash_file(&dir.join("encoder.json"))?;
    manifest.weights_hash = hashes[0].clone();
    for (m, h) in manifest.members.iter_mut().zip(&hashes[1..]) {
        m.weights_hash = h.clone();
    }
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok(manifest)
}

/// Where member `k` (0-based) of an ensemble keeps its checkpoints and `metrics.jsonl`: the
/// model directory itself for the first, `members/K` (1-based) for the others.
pub fn member_dir(out: &Path, k: usize) -> PathBuf {
    if k == 0 {
        out.to_path_buf()
    } else {
        out.join("members").join((k + 1).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn platt_fit_recovers_a_known_scaling() {
        let mut rng = Rng::new(5);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let l = (rng.unit() * 8.0 - 4.0) as f32;
            let p = 1.0 / (1.0 + (-(0.5 * l as f64 + 0.7)).exp());
            x.push(l);
            y.push(if rng.chance(p) { 1.0 } else { 0.0 });
        }
        let c = Calibration::fit(&x, &y, &vec![1.0; x.len()]);
        assert!((c.a - 0.5).abs() < 0.1 && (c.b - 0.7).abs() < 0.15, "{c:?}");
    }

    #[test]
    fn platt_fit_stays_finite_on_separable_data() {
        let x: Vec<f32> = (0..50).map(|i| i as f32 / 10.0 - 2.5).collect();
        let y: Vec<f32> = x.iter().map(|&l| if l > 0.0 { 1.0 } else { 0.0 }).collect();
        let c = Calibration::fit(&x, &y, &vec![1.0; x.len()]);
        assert!(
            c.a.is_finite() && c.b.is_finite() && c.a <= 20.0 && c.a >= 0.05,
            "{c:?}"
        );
    }
}
