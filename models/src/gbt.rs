//! Gradient-boosted trees on the same encoded holds: the fair learned baseline the LSTM must
//! beat (boosted trees did better than neural networks on a related HTCondor failure problem
//! at INFN-CNAF; see the project's hold-policies reference).
//!
//! Each hold becomes a flat row from its encoded sequence ([`flat_features`]): the hold
//! step's columns, and each column's largest value over the job's earlier steps. Trees are
//! grown on the logistic loss with second-order (Newton) leaves over histograms of at most
//! [`GbtConfig::bins`] value bins per feature; rows are sparse, so a histogram is built from
//! the non-zero cells and a feature's zero bin is what the node's total leaves over. Rounds
//! stop early on the validation split's log-loss.

use std::collections::HashMap;

use crate::data::Sample;
use crate::encode::{Episode, EpisodeInput};

/// Hyperparameters, fixed before any evaluation that reports this baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GbtConfig {
    pub max_rounds: usize,
    pub depth: usize,
    pub learning_rate: f64,
    /// Value bins per feature (bin 0 is the value 0).
    pub bins: usize,
    /// L2 penalty on leaf values.
    pub lambda: f64,
    /// The least hessian (about p(1-p) summed) a child may hold.
    pub min_child_hessian: f64,
    /// Rounds without a better validation log-loss before stopping.
    pub patience: usize,
}

impl Default for GbtConfig {
    fn default() -> GbtConfig {
        GbtConfig {
            max_rounds: 300,
            depth: 4,
            learning_rate: 0.1,
            bins: 32,
            lambda: 1.0,
            min_child_hessian: 5.0,
            patience: 20,
        }
    }
}

/// A row: the non-zero features as (feature, value), in increasing feature order.
pub type Row = Vec<(u32, f32)>;

/// The flat row of one encoded hold: columns `0..width` are the hold step's values, columns
/// `width..2·width` each column's largest value over the earlier steps.
pub fn flat_features(input: &EpisodeInput) -> Row {
    let (steps, width) = input.shape();
    let last = steps.saturating_sub(1);
    let mut earlier: HashMap<u32, f32> = HashMap::new();
    let mut row = Vec::new();
    for &(i, v) in input.cells() {
        let (step, col) = (
            i as usize / width.max(1),
            (i as usize % width.max(1)) as u32,
        );
        if step == last {
            row.push((col, v));
        } else {
            let e = earlier.entry(width as u32 + col).or_insert(v);
            *e = e.max(v);
        }
    }
    row.extend(earlier);
    row.sort_unstable_by_key(|c| c.0);
    row
}

#[derive(Debug, Clone)]
enum Node {
    Split {
        feature: u32,
        /// Rows whose bin is at most this go left.
        bin: u8,
        left: usize,
        right: usize,
    },
    Leaf(f64),
}

/// A trained model.
#[derive(Debug, Clone)]
pub struct Gbt {
    base: f64,
    /// Per feature, the upper edges of its non-zero bins 1.. (values above the last edge fall
    /// in the last bin).
    edges: HashMap<u32, Vec<f32>>,
    trees: Vec<Vec<Node>>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn log_loss(z: &[f64], y: &[f64], w: &[f64]) -> f64 {
    let (mut total, mut weight) = (0.0, 0.0);
    for ((&z, &y), &w) in z.iter().zip(y).zip(w) {
        total += w * (z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z);
        weight += w;
    }
    total / weight.max(1e-12)
}

impl Gbt {
    fn bin(&self, feature: u32, value: f32) -> u8 {
        if value == 0.0 {
            return 0;
        }
        match self.edges.get(&feature) {
            Some(edges) => (1 + edges.partition_point(|&e| e < value).min(edges.len() - 1)) as u8,
            None => 1,
        }
    }

    fn binned(&self, row: &Row) -> Vec<(u32, u8)> {
        row.iter().map(|&(f, v)| (f, self.bin(f, v))).collect()
    }

    fn tree_value(tree: &[Node], row: &[(u32, u8)]) -> f64 {
        let mut at = 0;
        loop {
            match &tree[at] {
                Node::Leaf(v) => return *v,
                Node::Split {
                    feature,
                    bin,
                    left,
                    right,
                } => {
                    let b = row
                        .binary_search_by_key(feature, |c| c.0)
                        .map_or(0, |k| row[k].1);
                    at = if b <= *bin { *left } else { *right };
                }
            }
        }
    }

    /// P(release succeeds) for a row.
    pub fn predict(&self, row: &Row) -> f32 {
        let binned = self.binned(row);
        let z = self.base
            + self
                .trees
                .iter()
                .map(|t| Gbt::tree_value(t, &binned))
                .sum::<f64>();
        sigmoid(z) as f32
    }

    /// Trains on `train` rows (targets and weights), stopping early on `valid`.
    pub fn fit(config: &GbtConfig, train: &[(Row, f64, f64)], valid: &[(Row, f64, f64)]) -> Gbt {
        let bins = config.bins.clamp(2, 255);
        // Bin edges from the non-zero training values of each feature (quantiles).
        let mut values: HashMap<u32, Vec<f32>> = HashMap::new();
        for (row, _, _) in train {
            for &(f, v) in row {
                values.entry(f).or_default().push(v);
            }
        }
        let edges: HashMap<u32, Vec<f32>> = values
            .into_iter()
            .map(|(f, mut v)| {
                v.sort_unstable_by(f32::total_cmp);
                let mut e: Vec<f32> = (1..bins)
                    .map(|k| v[(k * (v.len() - 1)) / (bins - 1)])
                    .collect();
                e.dedup();
                (f, e)
            })
            .collect();
        let (w_sum, y_sum) = train
            .iter()
            .fold((0.0, 0.0), |(w, y), r| (w + r.2, y + r.1 * r.2));
        let rate = (y_sum / w_sum.max(1e-12)).clamp(1e-4, 1.0 - 1e-4);
        let mut model = Gbt {
            base: (rate / (1.0 - rate)).ln(),
            edges,
            trees: Vec::new(),
        };
        let rows: Vec<Vec<(u32, u8)>> = train.iter().map(|r| model.binned(&r.0)).collect();
        let vrows: Vec<Vec<(u32, u8)>> = valid.iter().map(|r| model.binned(&r.0)).collect();
        let y: Vec<f64> = train.iter().map(|r| r.1).collect();
        let w: Vec<f64> = train.iter().map(|r| r.2).collect();
        let vy: Vec<f64> = valid.iter().map(|r| r.1).collect();
        let vw: Vec<f64> = valid.iter().map(|r| r.2).collect();
        let mut z = vec![model.base; rows.len()];
        let mut vz = vec![model.base; vrows.len()];
        let (mut best, mut best_rounds, mut since) = (log_loss(&vz, &vy, &vw), 0, 0);
        for _ in 0..config.max_rounds {
            let g: Vec<f64> = (0..rows.len())
                .map(|i| w[i] * (sigmoid(z[i]) - y[i]))
                .collect();
            let h: Vec<f64> = (0..rows.len())
                .map(|i| {
                    let p = sigmoid(z[i]);
                    (w[i] * p * (1.0 - p)).max(1e-12)
                })
                .collect();
            let tree = grow(config, bins, &rows, &g, &h);
            for (i, r) in rows.iter().enumerate() {
                z[i] += Gbt::tree_value(&tree, r);
            }
            for (i, r) in vrows.iter().enumerate() {
                vz[i] += Gbt::tree_value(&tree, r);
            }
            model.trees.push(tree);
            let loss = log_loss(&vz, &vy, &vw);
            if loss < best - 1e-6 {
                (best, best_rounds, since) = (loss, model.trees.len(), 0);
            } else {
                since += 1;
                if since >= config.patience {
                    break;
                }
            }
        }
        model
            .trees
            .truncate(best_rounds.max(1).min(model.trees.len()));
        model
    }

    /// Trains on an evaluation's training samples and stops on its validation samples, the
    /// rows made from each episode's first encoder input.
    pub fn fit_samples(
        config: &GbtConfig,
        episodes: &[Episode],
        train: &[Sample],
        validation: &[Sample],
    ) -> Gbt {
        let rows = |samples: &[Sample]| -> Vec<(Row, f64, f64)> {
            samples
                .iter()
                .map(|s| {
                    (
                        flat_features(&episodes[s.episode].inputs[0]),
                        f64::from(s.target),
                        f64::from(s.weight),
                    )
                })
                .collect()
        };
        Gbt::fit(config, &rows(train), &rows(validation))
    }

    /// Rounds kept after early stopping.
    pub fn rounds(&self) -> usize {
        self.trees.len()
    }
}

/// One tree of depth at most `config.depth`, grown level by level on gradients `g` and
/// hessians `h`.
fn grow(
    config: &GbtConfig,
    bins: usize,
    rows: &[Vec<(u32, u8)>],
    g: &[f64],
    h: &[f64],
) -> Vec<Node> {
    let lambda = config.lambda;
    let leaf = |gs: f64, hs: f64| Node::Leaf(-config.learning_rate * gs / (hs + lambda));
    let mut nodes: Vec<Node> = vec![Node::Leaf(0.0)];
    // Rows of each open node (index into `nodes`).
    let mut open: Vec<(usize, Vec<usize>)> = vec![(0, (0..rows.len()).collect())];
    for _ in 0..config.depth {
        let mut next = Vec::new();
        for (node, members) in open {
            let (gs, hs) = members
                .iter()
                .fold((0.0, 0.0), |(a, b), &i| (a + g[i], b + h[i]));
            nodes[node] = leaf(gs, hs);
            if hs < 2.0 * config.min_child_hessian {
                continue;
            }
            // Histograms of the non-zero bins of each feature seen in the node.
            let mut hist: HashMap<u32, Vec<(f64, f64)>> = HashMap::new();
            for &i in &members {
                for &(f, b) in &rows[i] {
                    let e = hist.entry(f).or_insert_with(|| vec![(0.0, 0.0); bins + 1]);
                    e[b as usize].0 += g[i];
                    e[b as usize].1 += h[i];
                }
            }
            let parent = gs * gs / (hs + lambda);
            let mut best: Option<(f64, u32, u8)> = None;
            let mut features: Vec<&u32> = hist.keys().collect();
            features.sort_unstable();
            for &f in features {
                let bins_of = &hist[&f];
                let (nz_g, nz_h) = bins_of
                    .iter()
                    .fold((0.0, 0.0), |(a, b), c| (a + c.0, b + c.1));
                // Bin 0: the rows where the feature is zero.
                let (mut lg, mut lh) = (gs - nz_g, hs - nz_h);
                for (b, &(bg, bh)) in bins_of.iter().enumerate().take(bins) {
                    if b > 0 {
                        lg += bg;
                        lh += bh;
                    }
                    let (rg, rh) = (gs - lg, hs - lh);
                    if lh < config.min_child_hessian || rh < config.min_child_hessian {
                        continue;
                    }
                    let gain = lg * lg / (lh + lambda) + rg * rg / (rh + lambda) - parent;
                    if gain > 1e-9 && best.is_none_or(|(bg, _, _)| gain > bg) {
                        best = Some((gain, f, b as u8));
                    }
                }
            }
            let Some((_, feature, bin)) = best else {
                continue;
            };
            let (mut left, mut right) = (Vec::new(), Vec::new());
            for &i in &members {
                let b = rows[i]
                    .binary_search_by_key(&feature, |c| c.0)
                    .map_or(0, |k| rows[i][k].1);
                if b <= bin {
                    left.push(i)
                } else {
                    right.push(i)
                }
            }
            let (l, r) = (nodes.len(), nodes.len() + 1);
            nodes.push(Node::Leaf(0.0));
            nodes.push(Node::Leaf(0.0));
            nodes[node] = Node::Split {
                feature,
                bin,
                left: l,
                right: r,
            };
            next.push((l, left));
            next.push((r, right));
        }
        open = next;
    }
    for (node, members) in open {
        let (gs, hs) = members
            .iter()
            .fold((0.0, 0.0), |(a, b), &i| (a + g[i], b + h[i]));
        nodes[node] = leaf(gs, hs);
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Rng;

    /// An interaction no single feature shows: success when feature 3 is set and feature 7
    /// is not, or the reverse.
    fn xor_rows(n: usize, seed: u64) -> Vec<(Row, f64, f64)> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let (a, b) = (rng.chance(0.5), rng.chance(0.5));
                let mut row = Vec::new();
                if a {
                    row.push((3, 1.0));
                }
                if b {
                    row.push((7, 2.5));
                }
                row.push((11, rng.unit() as f32 + 0.01)); // noise
                let p = if a != b { 0.9 } else { 0.1 };
                (row, f64::from(u8::from(rng.chance(p))), 1.0)
            })
            .collect()
    }

    #[test]
    fn learns_an_interaction_and_stops_early() {
        let train = xor_rows(4000, 1);
        let valid = xor_rows(1000, 2);
        let test = xor_rows(1000, 3);
        let model = Gbt::fit(&GbtConfig::default(), &train, &valid);
        assert!(
            model.rounds() < GbtConfig::default().max_rounds,
            "{}",
            model.rounds()
        );
        let right = test
            .iter()
            .filter(|(row, y, _)| (model.predict(row) >= 0.5) == (*y > 0.5))
            .count();
        // The best possible is 0.9.
        assert!(right as f64 / test.len() as f64 > 0.85, "{right}");
        let p_xor = model.predict(&vec![(3, 1.0), (11, 0.5)]);
        let p_both = model.predict(&vec![(3, 1.0), (7, 2.5), (11, 0.5)]);
        assert!(p_xor > 0.75 && p_both < 0.25, "{p_xor} {p_both}");
    }

    #[test]
    fn flat_features_split_the_hold_step_from_earlier_ones() {
        // 3 steps of width 4: earlier steps set column 1 (0.5, then 2.0); the hold step sets
        // columns 0 and 1.
        let dense = [0.0, 0.5, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0];
        let row = flat_features(&EpisodeInput::from_dense(3, 4, &dense));
        assert_eq!(row, vec![(0, 1.0), (1, 3.0), (5, 2.0)]);
    }
}
