//! Fitting a model's probabilities to one pool: Platt scaling refitted on the pool's own
//! resolved holds.
//!
//! A model trained elsewhere (the shipped one was trained on simulated pools) ranks holds by
//! what it learned, but its probabilities carry that training pool's rates: on pools written
//! by another generator the shipped model is overconfident enough that its log-loss is worse
//! than a coin's. The pool's event log says how its past holds ended, so the probabilities
//! can be refitted to it (`p' = σ(a·logit p + b)`; the ranking, and so ROC AUC, is unchanged).
//!
//! The refit is adopted only when it earns it: fitted on the older 80% of the resolved holds,
//! it must lower the log-loss of the newest 20%; then it is refitted on all of them. A model
//! that already fits the pool is left as it is.

use crate::inference::Calibration;

/// The fewest resolved holds, and of each outcome, a refit is tried on.
pub const MIN_EPISODES: usize = 200;
pub const MIN_PER_OUTCOME: usize = 20;

/// Platt scaling refitted to a pool, with what decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolCalibration {
    pub calibration: Calibration,
    /// Resolved holds it was fitted on.
    pub episodes: usize,
    /// Mean log-loss on the newest 20% of them: the model as it is, and refitted on the
    /// older 80%.
    pub held_out_log_loss: (f64, f64),
}

impl PoolCalibration {
    /// Fits to resolved holds given oldest first: the model's probabilities and whether the
    /// release succeeded. `None` when there are too few, or the refit does not lower the
    /// newest holds' log-loss.
    pub fn fit(probs: &[f32], released_ok: &[bool]) -> Option<PoolCalibration> {
        let n = probs.len().min(released_ok.len());
        let positives = released_ok[..n].iter().filter(|&&y| y).count();
        if n < MIN_EPISODES || positives < MIN_PER_OUTCOME || n - positives < MIN_PER_OUTCOME {
            return None;
        }
        let logits: Vec<f32> = probs[..n].iter().map(|&p| logit(p)).collect();
        let targets: Vec<f32> = released_ok[..n]
            .iter()
            .map(|&y| f32::from(u8::from(y)))
            .collect();
        let weights = vec![1.0f32; n];
        let cut = n * 4 / 5;
        let older = Calibration::fit(&logits[..cut], &targets[..cut], &weights[..cut]);
        let held_out = |c: &Calibration| log_loss(c, &logits[cut..], &targets[cut..]);
        let (as_is, refitted) = (held_out(&Calibration::default()), held_out(&older));
        // NaN (it cannot be, with finite logits) counts as no improvement.
        if refitted.partial_cmp(&as_is) != Some(std::cmp::Ordering::Less) {
            return None;
        }
        Some(PoolCalibration {
            calibration: Calibration::fit(&logits, &targets, &weights),
            episodes: n,
            held_out_log_loss: (as_is, refitted),
        })
    }

    /// The model's probability, refitted to the pool.
    pub fn apply(&self, p: f32) -> f32 {
        self.calibration.apply(logit(p))
    }
}

/// ln(p / (1-p)), with p kept off 0 and 1 (a saturated f32 probability has no logit).
fn logit(p: f32) -> f32 {
    let p = f64::from(p).clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln() as f32
}

fn log_loss(c: &Calibration, logits: &[f32], targets: &[f32]) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(targets)
        .map(|(&x, &y)| {
            let z = c.a * f64::from(x) + c.b;
            // ln(1+e^z) - y z, stable for large |z|
            z.max(0.0) + (-z.abs()).exp().ln_1p() - f64::from(y) * z
        })
        .sum();
    total / logits.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::ece;

    /// Holds whose true P(release succeeds) is σ(t), t spread over [-3, 3]; outcomes drawn
    /// with a fixed generator so the test is the same on every run.
    fn pool(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut state = seed;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut truth = Vec::with_capacity(n);
        let mut outcome = Vec::with_capacity(n);
        for _ in 0..n {
            let t = uniform() * 6.0 - 3.0;
            truth.push(t);
            outcome.push(uniform() < 1.0 / (1.0 + (-t).exp()));
        }
        (truth, outcome)
    }

    fn sigmoid(z: f64) -> f32 {
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    #[test]
    fn an_overconfident_shifted_model_is_refitted_and_its_calibration_error_falls() {
        let (truth, outcome) = pool(4000, 7);
        // Ranks right, but five times too sure and leaning toward release.
        let probs: Vec<f32> = truth.iter().map(|&t| sigmoid(5.0 * t + 2.0)).collect();
        let fit = PoolCalibration::fit(&probs[..3000], &outcome[..3000]).expect("adopted");
        assert_eq!(fit.episodes, 3000);
        assert!(fit.held_out_log_loss.1 < fit.held_out_log_loss.0);
        assert!(
            (fit.calibration.a - 0.2).abs() < 0.05,
            "{:?}",
            fit.calibration
        );
        // Scored on holds it was not fitted on.
        let later: Vec<f32> = probs[3000..].iter().map(|&p| fit.apply(p)).collect();
        let before = ece(&probs[3000..], &outcome[3000..], 10);
        let after = ece(&later, &outcome[3000..], 10);
        assert!(before > 0.15 && after < 0.05, "ECE {before} -> {after}");
    }

    #[test]
    fn a_model_that_already_fits_the_pool_is_left_alone() {
        let (truth, outcome) = pool(3000, 11);
        let probs: Vec<f32> = truth.iter().map(|&t| sigmoid(t)).collect();
        match PoolCalibration::fit(&probs, &outcome) {
            None => {}
            // A refit that squeaked through must stay close to the identity.
            Some(fit) => assert!(
                (fit.calibration.a - 1.0).abs() < 0.1 && fit.calibration.b.abs() < 0.1,
                "{fit:?}"
            ),
        }
    }

    #[test]
    fn too_few_holds_or_one_outcome_are_not_fitted() {
        let (truth, outcome) = pool(1000, 3);
        let probs: Vec<f32> = truth.iter().map(|&t| sigmoid(5.0 * t)).collect();
        assert!(PoolCalibration::fit(&probs[..MIN_EPISODES - 1], &outcome).is_none());
        let all_released = vec![true; 1000];
        assert!(PoolCalibration::fit(&probs, &all_released).is_none());
        assert!(PoolCalibration::fit(&probs, &outcome).is_some());
    }
}
