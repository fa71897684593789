//! Fitting a model's probabilities to one pool, from the pool's own resolved holds.
//!
//! A model trained elsewhere (the shipped one was trained on simulated pools) ranks holds by
//! what it learned, but its probabilities carry that training pool's rates: on pools written
//! by another generator the shipped model is overconfident enough that its log-loss is worse
//! than a coin's, and a table of the pool's own outcomes per (HoldReasonCode,
//! HoldReasonSubCode) ranks about as well as it does. The pool's event log says how its past
//! holds ended, so the probability is refitted to them as a logistic regression on two
//! inputs: the model's logit, and the logit of the pool's own success rate for the hold's
//! (code, subcode), shrunk toward its code's rate and that toward the pool's:
//! `p' = σ(w₀·logit p + w₁·logit r + w₂)`. Where the model knows better the table's weight
//! falls near zero and this is Platt scaling; where it does not, the pool's history carries
//! the answer. Each resolved hold's own outcome is left out of its rate while fitting.
//!
//! The refit is adopted only when it earns it: fitted on the older 80% of the resolved holds
//! (rates from those alone), it must lower the log-loss of the newest 20%; then it is refitted
//! on all of them. A model that already fits the pool is left as it is.

use std::collections::HashMap;

/// The fewest resolved holds, and of each outcome, a refit is tried on.
pub const MIN_EPISODES: usize = 200;
pub const MIN_PER_OUTCOME: usize = 20;

/// Pseudo-holds of the broader rate each (code, subcode) and code rate is shrunk with.
const SHRINK: f64 = 10.0;
/// Ridge toward the model as it is (weights 1, 0, 0), per resolved hold.
const RIDGE: f64 = 1e-3;

/// One resolved hold: the model's probability, the hold's codes, and whether the release
/// succeeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedHold {
    pub probability: f32,
    pub code: i64,
    pub subcode: i64,
    pub released_ok: bool,
}

/// Outcomes of resolved holds per (code, subcode), per code and overall.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolTable {
    by_subcode: HashMap<(i64, i64), (f64, f64)>,
    by_code: HashMap<i64, (f64, f64)>,
    all: (f64, f64),
}

impl PoolTable {
    pub fn new(holds: &[ResolvedHold]) -> PoolTable {
        let mut t = PoolTable::default();
        for h in holds {
            let y = f64::from(u8::from(h.released_ok));
            for (pos, n) in [
                t.by_subcode.entry((h.code, h.subcode)).or_default(),
                t.by_code.entry(h.code).or_default(),
                &mut t.all,
            ] {
                *pos += y;
                *n += 1.0;
            }
        }
        t
    }

    /// The shrunk success rate of a hold with these codes; `leave_out` removes one hold's own
    /// outcome (one that is counted in the table).
    pub fn rate(&self, code: i64, subcode: i64, leave_out: Option<bool>) -> f64 {
        let (dy, dn) = leave_out.map_or((0.0, 0.0), |y| (f64::from(u8::from(y)), 1.0));
        let (pos, n) = self.all;
        let base = (pos - dy + 1.0) / (n - dn + 2.0);
        let (pos, n) = self.by_code.get(&code).copied().unwrap_or_default();
        let (pos, n) = if n > 0.0 {
            (pos - dy, n - dn)
        } else {
            (0.0, 0.0)
        };
        let by_code = (pos + SHRINK * base) / (n + SHRINK);
        let (pos, n) = self
            .by_subcode
            .get(&(code, subcode))
            .copied()
            .unwrap_or_default();
        let (pos, n) = if n > 0.0 {
            (pos - dy, n - dn)
        } else {
            (0.0, 0.0)
        };
        (pos + SHRINK * by_code) / (n + SHRINK)
    }
}

/// A model refitted to a pool, with what decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolCalibration {
    /// Weights of the model's logit, of the pool-rate logit, and the bias.
    pub weights: [f64; 3],
    pub table: PoolTable,
    /// Resolved holds it was fitted on.
    pub episodes: usize,
    /// Mean log-loss on the newest 20% of them: the model as it is, and refitted on the
    /// older 80%.
    pub held_out_log_loss: (f64, f64),
}

impl PoolCalibration {
    /// Fits to resolved holds given oldest first. `None` when there are too few, or the refit
    /// does not lower the newest holds' log-loss.
    pub fn fit(holds: &[ResolvedHold]) -> Option<PoolCalibration> {
        let n = holds.len();
        let positives = holds.iter().filter(|h| h.released_ok).count();
        if n < MIN_EPISODES || positives < MIN_PER_OUTCOME || n - positives < MIN_PER_OUTCOME {
            return None;
        }
        let cut = n * 4 / 5;
        let (older, newest) = holds.split_at(cut);
        let older_table = PoolTable::new(older);
        let weights = fit_logistic(&features(older, &older_table, true), older);
        let held_out = features(newest, &older_table, false);
        let as_is = log_loss(&[1.0, 0.0, 0.0], &held_out, newest);
        let refitted = log_loss(&weights, &held_out, newest);
        // NaN (it cannot be, with finite inputs) counts as no improvement.
        if refitted.partial_cmp(&as_is) != Some(std::cmp::Ordering::Less) {
            return None;
        }
        let table = PoolTable::new(holds);
        Some(PoolCalibration {
            weights: fit_logistic(&features(holds, &table, true), holds),
            table,
            episodes: n,
            held_out_log_loss: (as_is, refitted),
        })
    }

    /// The model's probability for a hold with these codes, refitted to the pool.
    pub fn apply(&self, p: f32, code: i64, subcode: i64) -> f32 {
        let r = self.table.rate(code, subcode, None);
        let x = [f64::from(logit(p)), logit_f64(r), 1.0];
        sigmoid(dot(&self.weights, &x)) as f32
    }
}

/// Each hold's inputs: the model's logit, the pool-rate logit (its own outcome left out when
/// the table counts it), 1.
fn features(holds: &[ResolvedHold], table: &PoolTable, counted: bool) -> Vec<[f64; 3]> {
    holds
        .iter()
        .map(|h| {
            let own = counted.then_some(h.released_ok);
            [
                f64::from(logit(h.probability)),
                logit_f64(table.rate(h.code, h.subcode, own)),
                1.0,
            ]
        })
        .collect()
}

/// Logistic regression by damped Newton steps, with a small ridge toward (1, 0, 0).
fn fit_logistic(x: &[[f64; 3]], holds: &[ResolvedHold]) -> [f64; 3] {
    let prior = [1.0, 0.0, 0.0];
    let ridge = RIDGE * x.len() as f64;
    let loss = |w: &[f64; 3]| {
        let penalty: f64 = (0..3).map(|k| (w[k] - prior[k]).powi(2)).sum::<f64>() * ridge;
        log_loss(w, x, holds) * x.len() as f64 + penalty
    };
    let mut w = prior;
    let mut current = loss(&w);
    for _ in 0..50 {
        let mut g = [0.0; 3];
        let mut h = [[0.0; 3]; 3];
        for k in 0..3 {
            g[k] = 2.0 * ridge * (w[k] - prior[k]);
            h[k][k] = 2.0 * ridge + 1e-9;
        }
        for (xi, hold) in x.iter().zip(holds) {
            let p = sigmoid(dot(&w, xi));
            let r = p - f64::from(u8::from(hold.released_ok));
            let s = p * (1.0 - p);
            for a in 0..3 {
                g[a] += r * xi[a];
                for b in 0..3 {
                    h[a][b] += s * xi[a] * xi[b];
                }
            }
        }
        let Some(d) = solve3(h, g) else { break };
        let mut step = 1.0;
        let mut moved = false;
        while step > 1e-4 {
            let next = [w[0] - step * d[0], w[1] - step * d[1], w[2] - step * d[2]];
            let l = loss(&next);
            if l.is_finite() && l < current {
                (w, current, moved) = (next, l, true);
                break;
            }
            step /= 2.0;
        }
        if !moved || d.iter().map(|v| v.abs()).sum::<f64>() * step < 1e-9 {
            break;
        }
    }
    w
}

/// Solves the 3×3 system `a·d = b` (Cramer's rule); `None` when it is singular.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&a);
    if d.abs() < 1e-12 || !d.is_finite() {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut m = a;
        for r in 0..3 {
            m[r][k] = b[r];
        }
        *o = det(&m) / d;
    }
    Some(out)
}

fn dot(w: &[f64; 3], x: &[f64; 3]) -> f64 {
    w[0] * x[0] + w[1] * x[1] + w[2] * x[2]
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// ln(p / (1-p)), with p kept off 0 and 1 (a saturated f32 probability has no logit).
fn logit(p: f32) -> f32 {
    logit_f64(f64::from(p)) as f32
}

fn logit_f64(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Mean log-loss of weights `w` on inputs `x`.
fn log_loss(w: &[f64; 3], x: &[[f64; 3]], holds: &[ResolvedHold]) -> f64 {
    let total: f64 = x
        .iter()
        .zip(holds)
        .map(|(xi, h)| {
            let z = dot(w, xi);
            // ln(1+e^z) - y z, stable for large |z|
            z.max(0.0) + (-z.abs()).exp().ln_1p() - f64::from(u8::from(h.released_ok)) * z
        })
        .sum();
    total / x.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{ece, roc_auc};

    /// Holds whose true P(release succeeds) is σ(t + c), t spread over [-3, 3] and c a
    /// per-code effect the model may not know; outcomes drawn with a fixed generator so the
    /// test is the same on every run.
    fn pool(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<ResolvedHold>) {
        let mut state = seed;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let code_effect = [-2.0, -0.5, 0.5, 2.0];
        let (mut t, mut c, mut holds) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let ti = uniform() * 6.0 - 3.0;
            let code = (uniform() * 4.0) as usize;
            let ok = uniform() < sigmoid(ti + code_effect[code]);
            t.push(ti);
            c.push(code_effect[code]);
            holds.push(ResolvedHold {
                probability: 0.5,
                code: code as i64 + 12,
                subcode: 0,
                released_ok: ok,
            });
        }
        (t, c, holds)
    }

    fn with_probs(holds: &[ResolvedHold], p: impl Fn(usize) -> f64) -> Vec<ResolvedHold> {
        holds
            .iter()
            .enumerate()
            .map(|(i, h)| ResolvedHold {
                probability: p(i) as f32,
                ..*h
            })
            .collect()
    }

    fn scores(fit: Option<&PoolCalibration>, holds: &[ResolvedHold]) -> (f64, f64) {
        let p: Vec<f32> = holds
            .iter()
            .map(|h| fit.map_or(h.probability, |f| f.apply(h.probability, h.code, h.subcode)))
            .collect();
        let y: Vec<bool> = holds.iter().map(|h| h.released_ok).collect();
        (roc_auc(&p, &y).unwrap(), ece(&p, &y, 10))
    }

    #[test]
    fn an_overconfident_model_blind_to_the_codes_is_refitted_with_the_pool_table() {
        let (t, _, holds) = pool(6000, 7);
        // Ranks by t only, five times too sure and leaning toward release.
        let holds = with_probs(&holds, |i| sigmoid(5.0 * t[i] + 2.0));
        let (train, later) = holds.split_at(4500);
        let fit = PoolCalibration::fit(train).expect("adopted");
        assert_eq!(fit.episodes, 4500);
        assert!(fit.held_out_log_loss.1 < fit.held_out_log_loss.0);
        assert!((fit.weights[0] - 0.2).abs() < 0.06, "{:?}", fit.weights);
        assert!(
            fit.weights[1] > 0.5,
            "the pool's codes carry weight: {:?}",
            fit.weights
        );
        // Scored on holds it was not fitted on: better ranked (the codes) and calibrated.
        let (auc_before, ece_before) = scores(None, later);
        let (auc_after, ece_after) = scores(Some(&fit), later);
        assert!(
            auc_after > auc_before + 0.02,
            "AUC {auc_before} -> {auc_after}"
        );
        assert!(
            ece_before > 0.15 && ece_after < 0.05,
            "ECE {ece_before} -> {ece_after}"
        );
    }

    #[test]
    fn a_model_that_already_fits_the_pool_is_left_alone() {
        let (t, c, holds) = pool(4000, 11);
        let holds = with_probs(&holds, |i| sigmoid(t[i] + c[i]));
        match PoolCalibration::fit(&holds) {
            None => {}
            // A refit that squeaked through must stay close to the model.
            Some(fit) => {
                let [a, b, bias] = fit.weights;
                assert!(
                    (a - 1.0).abs() < 0.1 && b.abs() < 0.1 && bias.abs() < 0.1,
                    "{fit:?}"
                );
            }
        }
    }

    #[test]
    fn a_hold_is_left_out_of_its_own_rate() {
        let hold = |code, ok| ResolvedHold {
            probability: 0.5,
            code,
            subcode: 1,
            released_ok: ok,
        };
        let holds = [hold(12, true), hold(12, false), hold(13, true)];
        let t = PoolTable::new(&holds);
        // Without the first hold, code 12 has one failure: its rate falls below the pool's.
        let left_out = t.rate(12, 1, Some(true));
        let with_it = t.rate(12, 1, None);
        assert!(left_out < with_it, "{left_out} {with_it}");
        // Unknown codes take the pool's rate: (2 + 1) / (3 + 2).
        assert!((t.rate(99, 0, None) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn too_few_holds_or_one_outcome_are_not_fitted() {
        let (t, _, holds) = pool(1000, 3);
        let holds = with_probs(&holds, |i| sigmoid(5.0 * t[i]));
        assert!(PoolCalibration::fit(&holds[..MIN_EPISODES - 1]).is_none());
        let all_released: Vec<ResolvedHold> = holds
            .iter()
            .map(|h| ResolvedHold {
                released_ok: true,
                ..*h
            })
            .collect();
        assert!(PoolCalibration::fit(&all_released).is_none());
        assert!(PoolCalibration::fit(&holds).is_some());
    }

    #[test]
    fn three_by_three_solve() {
        let a = [[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]];
        let x = [1.0, -2.0, 0.5];
        let b = [dot(&a[0], &x), dot(&a[1], &x), dot(&a[2], &x)];
        let d = solve3(a, b).unwrap();
        assert!((0..3).all(|k| (d[k] - x[k]).abs() < 1e-12), "{d:?}");
        assert!(solve3([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]], b).is_none());
    }
}
