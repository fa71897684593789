//! From P(release succeeds) to a decision, under an explicit cost model; and what a decision
//! cost, judged against hindsight.
//!
//! A user acts on the decision, not on the ranking. The two mistakes are not alike:
//! `condor_rm` throws the job away (its work so far, a resubmission, the user's time), while
//! a release that fails costs one more run until the next hold. So `remove` needs stronger
//! evidence than `release`: with the costs of [`CostModel`], releasing is the cheaper bet
//! whenever `P ≥ failed_release / (failed_release + lost_work + look)`
//! ([`CostModel::release_threshold`], 0.24 with the defaults), not whenever `P ≥ 0.5`.
//!
//! Between that threshold and 0.5 a release is still the cheaper bet but more likely than not
//! to fail: the advice there says so ([`Band::Uncertain`]: release once and watch).
//!
//! A removal is final, so the pool's own record must back it: [`removal_bar`] looks at the
//! pool's recent resolved holds and lowers the P below which `remove` is advised until the
//! holds served such a P did recover less often than the threshold (each ClusterId weighing
//! at most a few holds: a cluster's procs share their fate). Where the record does not back
//! removal even at an eighth of the threshold, P alone never removes: the advice is to
//! release once and watch. The cost model already prices a removal's finality, so the bar
//! checks the record's rate and adds no second margin of its own.
//!
//! [`confidence`] is the one meaning of CONF everywhere: how sure the model is of how a plain
//! release would end, `max(P, 1 − P)`, whatever the advice.

use serde::{Deserialize, Serialize};

/// What each outcome of a decision costs, in hours (core-hours and people's hours counted
/// alike: the constants are a pool's to set).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostModel {
    /// A release that fails again: the run until the next hold (core-hours and a slot).
    pub failed_release_hours: f64,
    /// A removal when a release would have worked: the job's work so far, resubmitting it and
    /// waiting for it again.
    pub lost_work_hours: f64,
    /// A person's look at a hold that a release did not settle: a failed release is held
    /// again, a removal is resubmitted.
    pub look_hours: f64,
}

impl Default for CostModel {
    fn default() -> CostModel {
        CostModel {
            failed_release_hours: 2.0,
            lost_work_hours: 6.0,
            look_hours: 0.25,
        }
    }
}

/// The two decisions a held job's owner chooses between (raising a request first is a
/// release too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Release,
    Remove,
}

/// Where a probability falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    /// P ≥ 0.5: release.
    Release,
    /// Release is the cheaper bet, but more likely than not to fail: release once and watch.
    Uncertain,
    /// P below the release threshold: remove.
    Remove,
}

impl CostModel {
    /// Checks the constants: each finite and not negative, and the two mistakes not both free.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("failed-release hours", self.failed_release_hours),
            ("lost-work hours", self.lost_work_hours),
            ("look hours", self.look_hours),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} {v}: expected a finite number >= 0"));
            }
        }
        if self.failed_release_hours + self.lost_work_hours + self.look_hours <= 0.0 {
            return Err("the cost model's hours are all 0: no decision is cheaper".into());
        }
        Ok(())
    }

    /// The cost of `decision` when a release would (`succeeds`) or would not have worked.
    pub fn cost(&self, decision: Decision, succeeds: bool) -> f64 {
        match (decision, succeeds) {
            (Decision::Release, true) => 0.0,
            (Decision::Release, false) => self.failed_release_hours + self.look_hours,
            (Decision::Remove, true) => self.lost_work_hours + self.look_hours,
            (Decision::Remove, false) => self.look_hours,
        }
    }

    /// The cost of `decision` less the cost of what hindsight would have chosen.
    pub fn regret(&self, decision: Decision, succeeds: bool) -> f64 {
        let best = self
            .cost(Decision::Release, succeeds)
            .min(self.cost(Decision::Remove, succeeds));
        self.cost(decision, succeeds) - best
    }

    /// The P(release succeeds) from which a release costs less, in expectation, than a
    /// removal.
    pub fn release_threshold(&self) -> f64 {
        let fail = self.cost(Decision::Release, false) - self.cost(Decision::Remove, false);
        let lost = self.cost(Decision::Remove, true) - self.cost(Decision::Release, true);
        if fail + lost <= 0.0 {
            return 0.5;
        }
        (fail / (fail + lost)).clamp(0.0, 1.0)
    }

    /// The cheaper decision in expectation at P(release succeeds) `p`.
    pub fn decide(&self, p: f64) -> Decision {
        self.decide_with_bar(p, 1.0)
    }

    /// The band `p` falls in.
    pub fn band(&self, p: f64) -> Band {
        self.band_with_bar(p, self.release_threshold())
    }

    /// The band `p` falls in when the pool's record backs removal only below `remove_below`
    /// ([`removal_bar`]).
    pub fn band_with_bar(&self, p: f64, remove_below: f64) -> Band {
        if p < self.release_threshold().min(remove_below) {
            Band::Remove
        } else if p < 0.5 {
            Band::Uncertain
        } else {
            Band::Release
        }
    }

    /// Release or remove at `p` with a removal bar.
    pub fn decide_with_bar(&self, p: f64, remove_below: f64) -> Decision {
        match self.band_with_bar(p, remove_below) {
            Band::Remove => Decision::Remove,
            Band::Uncertain | Band::Release => Decision::Release,
        }
    }
}

/// Holds with a served P below the bar, and ClusterIds among them, that a bar needs before
/// the record can back it; with fewer, the cost model's threshold stands as it is.
pub const BAR_MIN_HOLDS: usize = 30;
pub const BAR_MIN_CLUSTERS: usize = 5;

/// The P below which the pool's own record backs `remove`: the largest of the cost model's
/// threshold t, t/2, t/4 and t/8 at which the resolved holds served a lower P (at least
/// [`BAR_MIN_HOLDS`] of them, from [`BAR_MIN_CLUSTERS`] clusters) recovered less often than
/// t; 0 (never remove on P alone) when none is. `holds` are (P served, recovered, ClusterId,
/// weight in the rate: less than 1 for the holds of a cluster with many). With too little
/// record to judge (fewer than [`BAR_MIN_HOLDS`] holds below t from [`BAR_MIN_CLUSTERS`]
/// clusters), t.
pub fn removal_bar(holds: &[(f32, bool, i64, f64)], costs: &CostModel) -> f64 {
    let t = costs.release_threshold();
    let below = |bar: f64| {
        let chosen: Vec<&(f32, bool, i64, f64)> =
            holds.iter().filter(|h| f64::from(h.0) < bar).collect();
        let mut clusters: Vec<i64> = chosen.iter().map(|h| h.2).collect();
        clusters.sort_unstable();
        clusters.dedup();
        let weight: f64 = chosen.iter().map(|h| h.3).sum();
        let recovered: f64 = chosen.iter().filter(|h| h.1).map(|h| h.3).sum();
        let rate = if weight > 0.0 {
            recovered / weight
        } else {
            1.0
        };
        (chosen.len(), clusters.len(), rate)
    };
    let (n, k, _) = below(t);
    if n < BAR_MIN_HOLDS || k < BAR_MIN_CLUSTERS {
        return t;
    }
    for bar in [t, t / 2.0, t / 4.0, t / 8.0] {
        let (n, k, rate) = below(bar);
        if n >= BAR_MIN_HOLDS && k >= BAR_MIN_CLUSTERS && rate < t {
            return bar;
        }
    }
    0.0
}

/// CONF: how sure the model is of how a plain release would end, whatever the advice.
pub fn confidence(p: f32) -> f32 {
    if p.is_nan() { 0.5 } else { p.max(1.0 - p) }
}

/// Accuracy and cost of a list of decisions against what happened, counted per hold and per
/// ClusterId (each cluster weighs one: its procs share their fate, so one cluster's many
/// holds are one decision taken many times).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionScore {
    pub holds: usize,
    pub clusters: usize,
    /// Share of holds whose decision hindsight agrees with (release and it recovered, remove
    /// and it did not).
    pub accuracy: f64,
    pub accuracy_per_cluster: f64,
    /// Share of holds advised `remove`.
    pub remove_share: f64,
    /// Mean regret per hold, in hours.
    pub regret_hours: f64,
    pub regret_hours_per_cluster: f64,
}

/// Scores `decisions` against `succeeded`, with each hold's ClusterId in `clusters`.
pub fn score_decisions(
    decisions: &[Decision],
    succeeded: &[bool],
    clusters: &[i64],
    costs: &CostModel,
) -> DecisionScore {
    let n = decisions.len();
    if n == 0 {
        return DecisionScore::default();
    }
    let mut per_cluster: std::collections::HashMap<i64, (f64, f64, f64)> = Default::default();
    let (mut right, mut regret, mut removed) = (0usize, 0.0, 0usize);
    for ((&d, &ok), &c) in decisions.iter().zip(succeeded).zip(clusters) {
        let is_right = (d == Decision::Release) == ok;
        let r = costs.regret(d, ok);
        right += usize::from(is_right);
        regret += r;
        removed += usize::from(d == Decision::Remove);
        let e = per_cluster.entry(c).or_default();
        e.0 += 1.0;
        e.1 += f64::from(u8::from(is_right));
        e.2 += r;
    }
    let k = per_cluster.len() as f64;
    DecisionScore {
        holds: n,
        clusters: per_cluster.len(),
        accuracy: right as f64 / n as f64,
        accuracy_per_cluster: per_cluster.values().map(|e| e.1 / e.0).sum::<f64>() / k,
        remove_share: removed as f64 / n as f64,
        regret_hours: regret / n as f64,
        regret_hours_per_cluster: per_cluster.values().map(|e| e.2 / e.0).sum::<f64>() / k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_follows_from_the_costs() {
        let c = CostModel::default();
        // (2 + 0.25 − 0.25) / (2 + 6.25) = 0.2424…
        assert!((c.release_threshold() - 2.0 / 8.25).abs() < 1e-12);
        assert_eq!(c.decide(0.3), Decision::Release);
        assert_eq!(c.decide(0.2), Decision::Remove);
        assert_eq!(c.band(0.51), Band::Release);
        assert_eq!(c.band(0.4), Band::Uncertain);
        assert_eq!(c.band(0.1), Band::Remove);
        // Symmetric costs give the usual 0.5.
        let even = CostModel {
            failed_release_hours: 3.0,
            lost_work_hours: 3.0,
            look_hours: 0.0,
        };
        assert!((even.release_threshold() - 0.5).abs() < 1e-12);
        assert!(
            CostModel {
                look_hours: f64::NAN,
                ..c
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn regret_is_zero_only_for_the_hindsight_choice() {
        let c = CostModel::default();
        assert_eq!(c.regret(Decision::Release, true), 0.0);
        assert_eq!(c.regret(Decision::Remove, false), 0.0);
        assert!((c.regret(Decision::Release, false) - 2.0).abs() < 1e-12);
        // Removing a job that would have recovered loses its work and needs a resubmission.
        assert!((c.regret(Decision::Remove, true) - 6.25).abs() < 1e-12);
    }

    #[test]
    fn removal_needs_the_pools_record_behind_it() {
        let c = CostModel::default();
        let t = c.release_threshold();
        // Holds served P 0.05 from 40 clusters: 2% recovered. Removal at t is backed.
        let sound: Vec<(f32, bool, i64, f64)> = (0..400)
            .map(|i| (0.05, i % 50 == 0, i64::from(i % 40), 1.0))
            .collect();
        assert_eq!(removal_bar(&sound, &c), t);
        // The same holds, 40% recovered: removal at any P is not backed.
        let wrong: Vec<(f32, bool, i64, f64)> = (0..400)
            .map(|i| (0.05, i % 5 < 2, i64::from(i % 40), 1.0))
            .collect();
        assert_eq!(removal_bar(&wrong, &c), 0.0);
        // Bad at 0.2 (60% recovered), good at 0.02: the bar drops to where the record holds.
        let mut mixed: Vec<(f32, bool, i64, f64)> = (0..400)
            .map(|i| (0.2, i % 5 < 3, i64::from(i % 40), 1.0))
            .collect();
        mixed.extend((0..400).map(|i| (0.02, i % 100 == 0, i64::from(i % 40), 1.0)));
        assert_eq!(removal_bar(&mixed, &c), t / 2.0);
        // 400 holds of one cluster say little: the cost model stands.
        let one: Vec<(f32, bool, i64, f64)> = (0..400).map(|i| (0.05, i % 5 < 2, 7, 1.0)).collect();
        assert_eq!(removal_bar(&one, &c), t);
        assert_eq!(c.band_with_bar(0.1, 0.05), Band::Uncertain);
        assert_eq!(c.band_with_bar(0.01, 0.05), Band::Remove);
        assert_eq!(c.decide_with_bar(0.1, 0.0), Decision::Release);
    }

    #[test]
    fn confidence_is_one_function_of_p() {
        assert_eq!(confidence(0.83), 0.83);
        assert!((confidence(0.2) - 0.8).abs() < 1e-6);
        assert_eq!(confidence(0.5), 0.5);
        assert_eq!(confidence(f32::NAN), 0.5);
    }

    #[test]
    fn clusters_weigh_one_each() {
        let c = CostModel::default();
        // Cluster 1: three holds, all released, all failed; cluster 2: one hold removed, and
        // it would have recovered.
        let s = score_decisions(
            &[
                Decision::Release,
                Decision::Release,
                Decision::Release,
                Decision::Remove,
            ],
            &[false, false, false, true],
            &[1, 1, 1, 2],
            &c,
        );
        assert_eq!((s.holds, s.clusters), (4, 2));
        assert_eq!(s.accuracy, 0.0);
        assert!((s.regret_hours - (3.0 * 2.0 + 6.25) / 4.0).abs() < 1e-12);
        assert!((s.regret_hours_per_cluster - (2.0 + 6.25) / 2.0).abs() < 1e-12);
        assert!((s.remove_share - 0.25).abs() < 1e-12);
        let s = score_decisions(&[Decision::Release], &[true], &[7], &c);
        assert_eq!(
            (s.accuracy, s.accuracy_per_cluster, s.regret_hours),
            (1.0, 1.0, 0.0)
        );
    }
}
