//! Scores of predicted probabilities against outcomes: ROC AUC, Brier, log loss, accuracy at
//! 0.5, reliability bins and ECE. Training, evaluation, bootstrap intervals and `feedback`
//! all score through here.

use serde::{Deserialize, Serialize};

/// Counts at threshold 0.5 (positive = release succeeds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub true_positive: usize,
    pub false_positive: usize,
    pub true_negative: usize,
    pub false_negative: usize,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Everything measured on one split for one predictor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    pub positive_rate: f64,
    /// ROC AUC; `None` when the split has only one class.
    pub roc_auc: Option<f64>,
    pub accuracy: f64,
    pub log_loss: f64,
    pub brier: f64,
    /// Expected calibration error, 10 equal-width bins.
    pub ece: f64,
    pub positive: ClassScores,
    pub negative: ClassScores,
    pub confusion: Confusion,
}

/// ROC AUC by the rank-sum (Mann–Whitney) formula, ties given their average rank.
pub fn roc_auc(probs: &[f32], labels: &[bool]) -> Option<f64> {
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && probs[order[j + 1]] == probs[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// One bin of the reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    /// Mean predicted probability and observed positive rate (NaN when empty).
    pub predicted: f64,
    pub observed: f64,
}

/// `bins` equal-width bins over [0, 1], as in the ECE (1.0 goes into the last bin).
pub fn reliability_bins(probs: &[f32], labels: &[bool], bins: usize) -> Vec<Bin> {
    let mut sum_p = vec![0.0f64; bins];
    let mut sum_y = vec![0.0f64; bins];
    let mut count = vec![0usize; bins];
    for (&p, &y) in probs.iter().zip(labels) {
        let b = ((p as f64 * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p as f64;
        sum_y[b] += f64::from(u8::from(y));
        count[b] += 1;
    }
    (0..bins)
        .map(|b| Bin {
            lo: b as f64 / bins as f64,
            hi: (b + 1) as f64 / bins as f64,
            count: count[b],
            predicted: sum_p[b] / count[b] as f64,
            observed: sum_y[b] / count[b] as f64,
        })
        .collect()
}

/// Expected calibration error with `bins` equal-width bins: Σ (nᵦ/N)·|mean pᵦ − mean yᵦ|.
pub fn ece(probs: &[f32], labels: &[bool], bins: usize) -> f64 {
    let n = probs.len().max(1) as f64;
    reliability_bins(probs, labels, bins)
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.count as f64 / n) * (b.predicted - b.observed).abs())
        .sum()
}

fn class_scores(tp: usize, fp: usize, fn_: usize) -> ClassScores {
    let precision = if tp + fp > 0 {
        tp as f64 / (tp + fp) as f64
    } else {
        0.0
    };
    let recall = if tp + fn_ > 0 {
        tp as f64 / (tp + fn_) as f64
    } else {
        0.0
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    ClassScores {
        precision,
        recall,
        f1,
        support: tp + fn_,
    }
}

/// All metrics of probabilities against labels.
pub fn metrics(probs: &[f32], labels: &[bool]) -> Metrics {
    assert_eq!(probs.len(), labels.len());
    let n = probs.len();
    let mut c = Confusion::default();
    let (mut brier, mut log_loss) = (0.0, 0.0);
    for (&p, &y) in probs.iter().zip(labels) {
        let p = p as f64;
        match (p >= 0.5, y) {
            (true, true) => c.true_positive += 1,
            (true, false) => c.false_positive += 1,
            (false, false) => c.true_negative += 1,
            (false, true) => c.false_negative += 1,
        }
        let yf = f64::from(u8::from(y));
        brier += (p - yf).powi(2);
        let pc = p.clamp(1e-7, 1.0 - 1e-7);
        log_loss -= yf * pc.ln() + (1.0 - yf) * (1.0 - pc).ln();
    }
    let nf = n.max(1) as f64;
    Metrics {
        n,
        positive_rate: labels.iter().filter(|&&l| l).count() as f64 / nf,
        roc_auc: roc_auc(probs, labels),
        accuracy: (c.true_positive + c.true_negative) as f64 / nf,
        log_loss: log_loss / nf,
        brier: brier / nf,
        ece: ece(probs, labels, 10),
        positive: class_scores(c.true_positive, c.false_positive, c.false_negative),
        negative: class_scores(c.true_negative, c.false_negative, c.false_positive),
        confusion: c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // pairs (pos, neg): (0.8,0.3) ok, (0.8,0.4) ok, (0.35,0.3) ok, (0.35,0.4) wrong → 3/4
        assert_eq!(
            roc_auc(&[0.8, 0.35, 0.3, 0.4], &[true, true, false, false]),
            Some(0.75)
        );
        // a tie between a positive and a negative counts one half
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(roc_auc(&[0.9, 0.1, 0.5], &[true, false, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.1], &[true, true]), None);
    }

    #[test]
    fn ece_by_hand() {
        // bin [0.2,0.3): p 0.2, 0.2 with labels 0, 1 → |0.2 − 0.5| = 0.3, weight 2/4
        // bin [0.9,1.0]: p 0.9, 1.0 with labels 1, 1 → |0.95 − 1| = 0.05, weight 2/4
        let e = ece(&[0.2, 0.2, 0.9, 1.0], &[false, true, true, true], 10);
        assert!((e - (0.5 * 0.3 + 0.5 * 0.05)).abs() < 1e-6, "{e}");
        assert!(ece(&[1.0, 0.0], &[true, false], 10) < 1e-12);
    }

    #[test]
    fn confusion_and_class_scores() {
        let m = metrics(
            &[0.9, 0.6, 0.2, 0.7, 0.1],
            &[true, false, true, true, false],
        );
        assert_eq!(
            m.confusion,
            Confusion {
                true_positive: 2,
                false_positive: 1,
                true_negative: 1,
                false_negative: 1
            }
        );
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!((m.positive.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.positive.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.negative.precision - 0.5).abs() < 1e-12);
        assert!((m.negative.recall - 0.5).abs() < 1e-12);
        let b = (0.01 + 0.36 + 0.64 + 0.09 + 0.01) / 5.0;
        assert!((m.brier - b).abs() < 1e-6);
    }
}
