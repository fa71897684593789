//! How sure a split's figures are: percentile intervals from resampling whole clusters.
//!
//! Hold episodes are not independent. The procs of one cluster are held together, for one
//! cause, and their owner answers them with one `condor_release` or `condor_rm`: a split of
//! 2,000 episodes may hold only a few hundred such decisions, and a handful of big clusters
//! can move its ECE by several hundredths. Resampling episodes would hide that; resampling
//! ClusterIds (with replacement, every episode of a drawn cluster kept) does not.
//!
//! The intervals are percentile intervals over the resamples, seeded, so a report is
//! reproducible. ECE is biased upward on any finite sample and more so on a resample (a
//! duplicated cluster adds no information but does add noise), so its interval sits above
//! the split's own ECE: read its width as the figure's uncertainty.

use serde::{Deserialize, Serialize};

use crate::metrics::{ece, roc_auc};
use crate::rng::Rng;

/// Resamples a report draws: enough for a 90% interval's ends to settle to about ±0.005.
pub const RESAMPLES: usize = 400;
/// The interval's coverage.
pub const LEVEL: f64 = 0.9;

/// A percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// One predictor's intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorIntervals {
    pub name: String,
    /// `None` when most resamples held only one class.
    pub roc_auc: Option<Interval>,
    pub ece: Interval,
    /// The first predictor's ROC AUC minus this one's, on the same resamples (paired); `None`
    /// for the first predictor itself.
    pub roc_auc_below_first: Option<Interval>,
}

/// Intervals for every predictor of a split, from the same resamples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterBootstrap {
    /// Distinct ClusterIds in the split.
    pub clusters: usize,
    pub resamples: usize,
    pub level: f64,
    pub predictors: Vec<PredictorIntervals>,
}

/// Percentile `q` (0..=1) of sorted values, by nearest rank.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn interval(mut values: Vec<f64>, level: f64) -> Interval {
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Interval {
        low: percentile(&values, tail),
        high: percentile(&values, 1.0 - tail),
    }
}

/// Intervals for each `(name, probabilities)` in `predictors` (all in the order of `labels`),
/// resampling the distinct values of `clusters` (one per episode). `None` when there are no
/// episodes or the lengths disagree.
pub fn cluster_bootstrap(
    clusters: &[i64],
    labels: &[bool],
    predictors: &[(String, Vec<f32>)],
    resamples: usize,
    seed: u64,
) -> Option<ClusterBootstrap> {
    let n = labels.len();
    if n == 0
        || clusters.len() != n
        || resamples == 0
        || predictors.iter().any(|(_, p)| p.len() != n)
    {
        return None;
    }
    // Episodes grouped by cluster, in order of first appearance.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (clusters[i], i));
    let mut groups: Vec<&[usize]> = Vec::new();
    let mut start = 0;
    for i in 1..=n {
        if i == n || clusters[order[i]] != clusters[order[start]] {
            groups.push(&order[start..i]);
            start = i;
        }
    }

    let mut rng = Rng::new(seed);
    let k = predictors.len();
    let mut aucs: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); k];
    let mut eces: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); k];
    let mut diffs: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); k];
    let mut drawn: Vec<usize> = Vec::with_capacity(n * 2);
    let mut probs: Vec<f32> = Vec::with_capacity(n * 2);
    let mut ys: Vec<bool> = Vec::with_capacity(n * 2);
    for _ in 0..resamples {
        drawn.clear();
        for _ in 0..groups.len() {
            drawn.extend_from_slice(groups[rng.below(groups.len() as u64) as usize]);
        }
        ys.clear();
        ys.extend(drawn.iter().map(|&i| labels[i]));
        let mut first_auc = None;
        for (j, (_, p)) in predictors.iter().enumerate() {
            probs.clear();
            probs.extend(drawn.iter().map(|&i| p[i]));
            eces[j].push(ece(&probs, &ys, 10));
            let auc = roc_auc(&probs, &ys);
            if j == 0 {
                first_auc = auc;
            }
            if let Some(a) = auc {
                aucs[j].push(a);
                if j > 0
                    && let Some(f) = first_auc
                {
                    diffs[j].push(f - a);
                }
            }
        }
    }
    // An AUC interval only when most resamples had both classes.
    let enough = |v: &Vec<f64>| v.len() * 2 > resamples;
    let predictors = predictors
        .iter()
        .zip(aucs)
        .zip(eces)
        .zip(diffs)
        .map(|((((name, _), aucs), eces), diffs)| PredictorIntervals {
            name: name.clone(),
            roc_auc: enough(&aucs).then(|| interval(aucs, LEVEL)),
            ece: interval(eces, LEVEL),
            // Empty for the first predictor, which is compared with no one.
            roc_auc_below_first: enough(&diffs).then(|| interval(diffs, LEVEL)),
        })
        .collect();
    Some(ClusterBootstrap {
        clusters: groups.len(),
        resamples,
        level: LEVEL,
        predictors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clusters whose episodes share one outcome: the cluster interval must be much wider than
    /// what the same episodes would give as independent ones (each its own cluster).
    #[test]
    fn correlated_clusters_widen_the_interval() {
        let mut clusters = Vec::new();
        let mut labels = Vec::new();
        let mut probs = Vec::new();
        let mut rng = Rng::new(7);
        for c in 0..20 {
            let y = rng.chance(0.5);
            for _ in 0..50 {
                clusters.push(c);
                labels.push(y);
                probs.push(0.5f32);
            }
        }
        let preds = vec![("flat".to_string(), probs)];
        let by_cluster = cluster_bootstrap(&clusters, &labels, &preds, 300, 1).unwrap();
        let each: Vec<i64> = (0..labels.len() as i64).collect();
        let by_episode = cluster_bootstrap(&each, &labels, &preds, 300, 1).unwrap();
        assert_eq!(by_cluster.clusters, 20);
        assert_eq!(by_episode.clusters, 1000);
        let width = |b: &ClusterBootstrap| b.predictors[0].ece.high - b.predictors[0].ece.low;
        assert!(
            width(&by_cluster) > 3.0 * width(&by_episode),
            "{by_cluster:?} vs {by_episode:?}"
        );
        // A constant prediction ranks nothing: AUC 0.5 in every resample with both classes.
        let auc = by_cluster.predictors[0].roc_auc.unwrap();
        assert_eq!((auc.low, auc.high), (0.5, 0.5));
    }

    #[test]
    fn the_paired_difference_is_positive_when_the_first_ranks_better() {
        let mut clusters = Vec::new();
        let mut labels = Vec::new();
        let (mut good, mut noise) = (Vec::new(), Vec::new());
        let mut rng = Rng::new(3);
        for i in 0..2000 {
            let y = rng.chance(0.5);
            clusters.push(i / 4);
            labels.push(y);
            let u = rng.unit() as f32;
            good.push(if y { 0.5 + u / 2.0 } else { u / 2.0 + 0.1 });
            noise.push(u);
        }
        let preds = vec![("good".to_string(), good), ("noise".to_string(), noise)];
        let b = cluster_bootstrap(&clusters, &labels, &preds, 200, 9).unwrap();
        assert_eq!(b.predictors[0].roc_auc_below_first, None);
        let d = b.predictors[1].roc_auc_below_first.unwrap();
        assert!(d.low > 0.3 && d.high < 0.6, "{d:?}");
        // The interval holds the split's own AUC, and is narrow for 500 clusters.
        let a = b.predictors[1].roc_auc.unwrap();
        let own = roc_auc(&preds[1].1, &labels).unwrap();
        assert!(
            a.low < own && own < a.high && a.high - a.low < 0.1,
            "{a:?}, {own}"
        );
        // Seeded: the same call gives the same intervals.
        assert_eq!(
            cluster_bootstrap(&clusters, &labels, &preds, 200, 9).unwrap(),
            b
        );
    }

    #[test]
    fn mismatched_or_empty_input_gives_none() {
        let preds = vec![("p".to_string(), vec![0.5f32; 3])];
        assert!(cluster_bootstrap(&[1, 2], &[true, false, true], &preds, 10, 0).is_none());
        assert!(cluster_bootstrap(&[], &[], &[], 10, 0).is_none());
        assert!(cluster_bootstrap(&[1, 1, 2], &[true, false, true], &preds, 0, 0).is_none());
    }
}
