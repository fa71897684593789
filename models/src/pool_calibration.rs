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
//!
//! Which holds it is fitted on ([`newest_resolved`]) and how often a followed log refits
//! ([`REFIT_OUTCOMES`]) are defined here once, for `scan`, `q` and `collect` to use and for
//! `evaluate` to replay ([`replay_collect`]).

use std::collections::HashMap;

use crate::decision::{CostModel, removal_bar};
use crate::encode::Episode;

/// The fewest resolved holds, and of each outcome, a refit is tried on.
pub const MIN_EPISODES: usize = 200;
pub const MIN_PER_OUTCOME: usize = 20;

/// What a pool's resolved holds say about serving a model there: the refit of its
/// probabilities ([`PoolCalibration`], when adopted) and the P below which the pool's record
/// backs `remove` ([`crate::decision::removal_bar`], on the probabilities as served).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFit {
    pub calibration: Option<PoolCalibration>,
    pub remove_below: f64,
}

impl PoolFit {
    /// Fits to resolved holds given oldest first.
    pub fn fit(holds: &[ResolvedHold], costs: &CostModel) -> PoolFit {
        let calibration = PoolCalibration::fit(holds);
        let served: Vec<(f32, bool, i64, f64)> = cap_clusters(holds)
            .iter()
            .map(|h| {
                let p = calibration
                    .as_ref()
                    .map_or(h.probability, |c| c.apply(h.probability, h.code, h.subcode));
                (p, h.released_ok, h.cluster, h.weight)
            })
            .collect();
        PoolFit {
            calibration,
            remove_below: removal_bar(&served, costs),
        }
    }

    /// The model's probability for a hold with these codes, as served on this pool.
    pub fn apply(&self, p: f32, code: i64, subcode: i64) -> f32 {
        self.calibration
            .as_ref()
            .map_or(p, |c| c.apply(p, code, subcode))
    }
}

/// The weights that serve the pool's (code, subcode) table alone.
const TABLE_ONLY: [f64; 3] = [0.0, 1.0, 0.0];

/// Pseudo-holds of the broader rate each (code, subcode) and code rate is shrunk with.
const SHRINK: f64 = 10.0;
/// Ridge toward the model as it is (weights 1, 0, 0), per resolved hold.
const RIDGE: f64 = 1e-3;

/// Resolved holds the model is refitted to the pool on: enough to fit three weights and a
/// table of rates per (code, subcode), few enough to predict in a tenth of a second.
pub const CALIBRATION_HOLDS: usize = 8192;

/// The newest holds (episodes, in the order they began) whose resolved ones are used for it.
pub const CALIBRATION_WINDOW: usize = 4 * CALIBRATION_HOLDS;

/// New outcomes after which `collect`, following a log, fits the model to the pool again.
pub const REFIT_OUTCOMES: usize = 1024;

/// Resolved holds among the newest [`CALIBRATION_WINDOW`] of `episodes` (in the order they
/// began) that still have their tensors, at most [`CALIBRATION_HOLDS`] spread evenly over
/// them, oldest first: what a fit is given. With `known_before`, only outcomes decided
/// before that Unix second count (a replay of the log as it stood then). The window is of
/// holds, whatever became of them: picking the newest *resolved* holds instead would pick
/// mostly failures, which resolve sooner than successes.
pub fn newest_resolved(episodes: &[Episode], known_before: Option<i64>) -> Vec<usize> {
    let from = episodes.len().saturating_sub(CALIBRATION_WINDOW);
    let known = |e: &Episode| match (known_before, e.decided_time) {
        (None, _) => true,
        (Some(t), Some(d)) => d < t,
        (Some(_), None) => false,
    };
    let mut resolved: Vec<usize> = (from..episodes.len())
        .filter(|&i| {
            let e = &episodes[i];
            e.label.target().is_some() && known(e) && !e.inputs.is_empty()
        })
        .collect();
    resolved.sort_by_key(|&i| (episodes[i].hold_time, i));
    if resolved.len() > CALIBRATION_HOLDS {
        let n = resolved.len();
        resolved = (0..CALIBRATION_HOLDS)
            .map(|k| resolved[k * n / CALIBRATION_HOLDS])
            .collect();
    }
    resolved
}

/// What a replay of `collect` gave some holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// One probability per target: the model's, refitted by the fit in force at its hold.
    pub probabilities: Vec<f32>,
    /// One removal bar per target: the fit's in force at its hold.
    pub remove_below: Vec<f64>,
    /// Fits tried, and how many were adopted.
    pub fits: usize,
    pub adopted: usize,
}

/// The probabilities `collect`, following the log from its start, would have stored for the
/// holds at `targets` (indices into `episodes`, which are in the order they began;
/// `probabilities` holds the model's own for every episode). At each target's hold it uses
/// the fit made on the outcomes decided before that hold, redone after every
/// [`REFIT_OUTCOMES`] newly decided ones: only what the log said at the time.
pub fn replay_collect(
    episodes: &[Episode],
    probabilities: &[f32],
    targets: &[usize],
    costs: &CostModel,
) -> Replay {
    let mut decided: Vec<i64> = episodes.iter().filter_map(|e| e.decided_time).collect();
    decided.sort_unstable();
    let mut out = Replay {
        probabilities: Vec::with_capacity(targets.len()),
        remove_below: Vec::with_capacity(targets.len()),
        fits: 0,
        adopted: 0,
    };
    let mut fit = PoolFit {
        calibration: None,
        remove_below: costs.release_threshold(),
    };
    let mut outcomes_at_fit: Option<usize> = None;
    for &i in targets {
        let ep = &episodes[i];
        let outcomes = decided.partition_point(|&d| d < ep.hold_time);
        if outcomes_at_fit.is_none_or(|n| outcomes >= n + REFIT_OUTCOMES) {
            let holds: Vec<ResolvedHold> = newest_resolved(&episodes[..=i], Some(ep.hold_time))
                .into_iter()
                .map(|j| ResolvedHold::of(&episodes[j], probabilities[j]))
                .collect();
            fit = PoolFit::fit(&holds, costs);
            outcomes_at_fit = Some(outcomes);
            out.fits += 1;
            out.adopted += usize::from(fit.calibration.is_some());
        }
        out.probabilities
            .push(fit.apply(probabilities[i], ep.code, ep.subcode));
        out.remove_below.push(fit.remove_below);
    }
    out
}

/// One resolved hold: the model's probability, the hold's codes, and whether the release
/// succeeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedHold {
    pub probability: f32,
    pub code: i64,
    pub subcode: i64,
    pub released_ok: bool,
    /// Its ClusterId: a cluster's holds are one piece of evidence more than many.
    pub cluster: i64,
    /// Its weight in a fit: 1, or less for the holds of a cluster with more than
    /// [`CLUSTER_CAP`] of them ([`cap_clusters`]).
    pub weight: f64,
}

/// The most holds one ClusterId weighs in a pool fit, all of its holds together: one owner's
/// broken thousand-proc cluster is one piece of evidence, and must not move the probabilities
/// served to every other cluster's holds.
pub const CLUSTER_CAP: f64 = 20.0;

/// `holds` with each cluster's weight capped at [`CLUSTER_CAP`] holds.
pub fn cap_clusters(holds: &[ResolvedHold]) -> Vec<ResolvedHold> {
    let mut per_cluster: HashMap<i64, f64> = HashMap::new();
    for h in holds {
        *per_cluster.entry(h.cluster).or_default() += 1.0;
    }
    holds
        .iter()
        .map(|h| ResolvedHold {
            weight: (CLUSTER_CAP / per_cluster[&h.cluster]).min(1.0),
            ..*h
        })
        .collect()
}

impl ResolvedHold {
    /// A labelled episode with the model's probability for it.
    pub fn of(episode: &Episode, probability: f32) -> ResolvedHold {
        ResolvedHold {
            probability,
            code: episode.code,
            subcode: episode.subcode,
            released_ok: episode.label == crate::labels::Label::Positive,
            cluster: episode.job.cluster,
            weight: 1.0,
        }
    }
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
            let y = f64::from(u8::from(h.released_ok)) * h.weight;
            for (pos, n) in [
                t.by_subcode.entry((h.code, h.subcode)).or_default(),
                t.by_code.entry(h.code).or_default(),
                &mut t.all,
            ] {
                *pos += y;
                *n += h.weight;
            }
        }
        t
    }

    /// The shrunk success rate of a hold with these codes; `leave_out` removes one hold's own
    /// outcome and weight (one that is counted in the table).
    pub fn rate(&self, code: i64, subcode: i64, leave_out: Option<(bool, f64)>) -> f64 {
        let (dy, dn) = leave_out.map_or((0.0, 0.0), |(y, w)| (f64::from(u8::from(y)) * w, w));
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
    /// Mean log-loss on the newest 20% of them: the model as it is, and as chosen (refitted on
    /// the older 80%, or the pool's table alone).
    pub held_out_log_loss: (f64, f64),
    /// The pool's own (code, subcode) table did better on the newest holds than the model
    /// and the refit both: it is served alone (weights 0, 1, 0).
    pub table_only: bool,
}

impl PoolCalibration {
    /// Fits to resolved holds given oldest first. `None` when there are too few, or the refit
    /// does not lower the newest holds' log-loss.
    pub fn fit(holds: &[ResolvedHold]) -> Option<PoolCalibration> {
        let holds = &cap_clusters(holds);
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
        // Where the pool has shifted away from what the model learned, its own recent table
        // can beat both: then it is served alone, so that the advice is never worse than the
        // pool's table by what the newest holds show.
        let table_alone = log_loss(&TABLE_ONLY, &held_out, newest);
        let best = refitted.min(table_alone);
        // NaN (it cannot be, with finite inputs) counts as no improvement.
        if best.partial_cmp(&as_is) != Some(std::cmp::Ordering::Less) {
            return None;
        }
        let table = PoolTable::new(holds);
        let table_only = table_alone < refitted;
        Some(PoolCalibration {
            weights: if table_only {
                TABLE_ONLY
            } else {
                fit_logistic(&features(holds, &table, true), holds)
            },
            table,
            episodes: n,
            held_out_log_loss: (as_is, best),
            table_only,
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
            let own = counted.then_some((h.released_ok, h.weight));
            [
                f64::from(logit(h.probability)),
                logit_f64(table.rate(h.code, h.subcode, own)),
                1.0,
            ]
        })
        .collect()
}

/// Logistic regression by damped Newton steps, each hold weighted, with a small ridge toward
/// (1, 0, 0).
fn fit_logistic(x: &[[f64; 3]], holds: &[ResolvedHold]) -> [f64; 3] {
    let prior = [1.0, 0.0, 0.0];
    let total: f64 = holds.iter().map(|h| h.weight).sum();
    let ridge = RIDGE * total;
    let loss = |w: &[f64; 3]| {
        let penalty: f64 = (0..3).map(|k| (w[k] - prior[k]).powi(2)).sum::<f64>() * ridge;
        log_loss(w, x, holds) * total + penalty
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
            let r = hold.weight * (p - f64::from(u8::from(hold.released_ok)));
            let s = hold.weight * p * (1.0 - p);
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

/// Mean log-loss of weights `w` on inputs `x`, each hold weighted.
fn log_loss(w: &[f64; 3], x: &[[f64; 3]], holds: &[ResolvedHold]) -> f64 {
    let (mut total, mut weight) = (0.0, 0.0);
    for (xi, h) in x.iter().zip(holds) {
        let z = dot(w, xi);
        // ln(1+e^z) - y z, stable for large |z|
        total += h.weight
            * (z.max(0.0) + (-z.abs()).exp().ln_1p() - f64::from(u8::from(h.released_ok)) * z);
        weight += h.weight;
    }
    if weight > 0.0 { total / weight } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ece, roc_auc};

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
                cluster: holds.len() as i64,
                weight: 1.0,
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
    fn a_model_the_pool_has_left_behind_gives_way_to_the_pool_table() {
        // The outcomes follow the codes only; the model, trained on another pool, ranks them
        // backwards and saw a world that no longer is. Fitted on the older holds, a refit can
        // only learn to ignore it: the pool's table alone is served.
        let (_, c, holds) = pool(4000, 5);
        let holds = with_probs(&holds, |i| sigmoid(-3.0 * c[i] + 1.0));
        let fit = PoolCalibration::fit(&holds).expect("adopted");
        let (as_is, chosen) = fit.held_out_log_loss;
        assert!(chosen < as_is);
        if fit.table_only {
            assert_eq!(fit.weights, TABLE_ONLY);
        }
        // Served on every hold, the table alone and the choice both rank by the codes.
        let (auc, _) = scores(Some(&fit), &holds);
        assert!(auc > 0.7, "{auc}");
        // Whatever was chosen is at least as good on the newest fifth as the table alone.
        let cut = holds.len() * 4 / 5;
        let older_table = PoolTable::new(&holds[..cut]);
        let held_out = features(&holds[cut..], &older_table, false);
        let table_alone = log_loss(&TABLE_ONLY, &held_out, &holds[cut..]);
        assert!(chosen <= table_alone + 1e-12, "{chosen} > {table_alone}");
    }

    #[test]
    fn one_clusters_flood_does_not_move_other_clusters_served_probabilities() {
        // 3,000 holds of 300 clusters, ranked well by the model; then, in the middle of them
        // (a validation window, say), one owner's 2,000-proc cluster held with code 13 and
        // never recovering.
        let (t, c, holds) = pool(3000, 21);
        let base: Vec<ResolvedHold> = with_probs(&holds, |i| sigmoid(1.5 * (t[i] + c[i])))
            .into_iter()
            .enumerate()
            .map(|(i, h)| ResolvedHold {
                cluster: i as i64 / 10,
                ..h
            })
            .collect();
        let flood = ResolvedHold {
            probability: 0.6,
            code: 13,
            subcode: 0,
            released_ok: false,
            cluster: 99_999,
            weight: 1.0,
        };
        let mut flooded = base[..1500].to_vec();
        flooded.extend(std::iter::repeat_n(flood, 2000));
        flooded.extend_from_slice(&base[1500..]);
        let costs = CostModel::default();
        let (before, after) = (PoolFit::fit(&base, &costs), PoolFit::fit(&flooded, &costs));
        let mut moved: f64 = 0.0;
        for h in base.iter().filter(|h| h.code == 13) {
            let p0 = before.apply(h.probability, h.code, h.subcode);
            let p1 = after.apply(h.probability, h.code, h.subcode);
            moved = moved.max(f64::from((p1 - p0).abs()));
        }
        assert!(
            moved < 0.03,
            "served probabilities of other clusters moved by {moved}"
        );
        assert_eq!(before.remove_below, after.remove_below);
        // Counted hold by hold, the same flood moves them a lot: the cap is what holds them.
        let uncapped = PoolTable::new(&flooded).rate(13, 0, None);
        let capped = PoolTable::new(&cap_clusters(&flooded)).rate(13, 0, None);
        let plain = PoolTable::new(&base).rate(13, 0, None);
        assert!((uncapped - plain).abs() > 0.2 && (capped - plain).abs() < 0.03);
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
            cluster: code,
            weight: 1.0,
        };
        let holds = [hold(12, true), hold(12, false), hold(13, true)];
        let t = PoolTable::new(&holds);
        // Without the first hold, code 12 has one failure: its rate falls below the pool's.
        let left_out = t.rate(12, 1, Some((true, 1.0)));
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

    /// Holds a minute apart, each decided ten minutes later: code 12 holds succeed 9 times
    /// in 10 until `switch`, then 1 in 10; code 13 holds half the time throughout. The model
    /// says 0.9 for code 12 and 0.5 for code 13, whatever happened.
    fn drifting_log(n: usize, switch: usize) -> (Vec<Episode>, Vec<f32>) {
        use crate::encode::EpisodeInput;
        use crate::labels::Label;
        let mut episodes = Vec::new();
        let mut probabilities = Vec::new();
        for i in 0..n {
            let code = if i % 2 == 0 { 12 } else { 13 };
            let ok = match code {
                12 if i < switch => i % 10 != 0,
                12 => i % 10 == 0,
                _ => i % 4 == 1,
            };
            let hold_time = 1_000_000 + 60 * i as i64;
            episodes.push(Episode {
                job: holdadvisor_parsers::JobId {
                    cluster: i as i64,
                    proc: 0,
                    subproc: 0,
                },
                index: 0,
                hold_time,
                code,
                subcode: 0,
                num_holds: 1,
                label: if ok { Label::Positive } else { Label::Negative },
                decided_time: Some(hold_time + 600),
                released: true,
                release_time: None,
                owner: None,
                site: None,
                inputs: vec![EpisodeInput::from_dense(1, 1, &[1.0])],
            });
            probabilities.push(if code == 12 { 0.9 } else { 0.5 });
        }
        (episodes, probabilities)
    }

    #[test]
    fn a_replay_follows_drift_with_the_outcomes_known_at_each_hold() {
        let (episodes, probabilities) = drifting_log(6000, 3000);
        let targets: Vec<usize> = (0..6000).collect();
        let replay = replay_collect(&episodes, &probabilities, &targets, &CostModel::default());
        // Before MIN_EPISODES outcomes are known there is no fit: the model as it is.
        assert_eq!(replay.probabilities[100], 0.9);
        assert_eq!(replay.probabilities[101], 0.5);
        // Refitted after every REFIT_OUTCOMES newly decided holds, from the first target on.
        let decided_by_last = 6000 - 11;
        assert_eq!(replay.fits, 1 + decided_by_last / REFIT_OUTCOMES);
        assert!(replay.adopted >= 1, "{replay:?}");
        // After the switch, the fits pull code 12 down from the model's 0.9.
        let last_12 = replay.probabilities[5998];
        assert!(last_12 < 0.7, "code 12 at the end: {last_12}");
        assert!(replay.probabilities[2998] > last_12);
    }

    #[test]
    fn a_replay_uses_no_outcome_decided_after_the_hold() {
        use crate::labels::Label;
        let (episodes, probabilities) = drifting_log(6000, 3000);
        let target = 4500;
        let before = replay_collect(&episodes, &probabilities, &[target], &CostModel::default());
        // Every outcome decided at or after the target's hold turned around, and episodes
        // with no outcome yet: the replayed probability must not move.
        let mut altered = episodes.clone();
        let t = episodes[target].hold_time;
        for e in altered.iter_mut().filter(|e| e.decided_time.unwrap() >= t) {
            e.label = match e.label {
                Label::Positive => Label::Negative,
                _ => Label::Positive,
            };
        }
        let after = replay_collect(&altered, &probabilities, &[target], &CostModel::default());
        assert_eq!(before, after);
        // While turning around an outcome known by then does move it.
        let mut known = episodes.clone();
        for e in known[3000..4400].iter_mut() {
            e.label = Label::Positive;
        }
        let moved = replay_collect(&known, &probabilities, &[target], &CostModel::default());
        assert_ne!(before.probabilities, moved.probabilities);
    }
}
