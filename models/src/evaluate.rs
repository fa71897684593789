//! Metrics over a whole split, and the baselines the model must beat on the same split.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::bootstrap::{ClusterBootstrap, RESAMPLES, cluster_bootstrap};
use crate::data::Sample;
use crate::decision::{CostModel, Decision, DecisionScore, score_decisions};
use crate::encode::Episode;
use crate::metrics::{Metrics, metrics};
use crate::pool_calibration::{PoolCalibration, ResolvedHold, replay_collect};

/// A predictor fitted on the training split that needs no network.
pub trait Baseline {
    fn name(&self) -> &'static str;
    fn predict(&self, episode: &Episode) -> f32;
}

/// The training split's positive rate, for every episode.
pub struct Majority {
    pub rate: f32,
}

/// Success rate per HoldReasonCode on the training split (shrunk toward the overall rate
/// with `prior_weight` pseudo-episodes).
pub struct CodeTable {
    pub overall: f32,
    pub by_code: HashMap<i64, (f32, f32)>,
    pub prior_weight: f32,
}

/// Success rate per (HoldReasonCode, HoldReasonSubCode), shrunk toward the code's rate.
pub struct CodeSubcodeTable {
    pub codes: CodeTable,
    pub by_pair: HashMap<(i64, i64), (f32, f32)>,
}

/// HTCondor's usual `periodic_release`: release transfer-type holds while NumHolds < 3.
/// Scores 1 when the rule would release, else 0.
pub struct PeriodicRelease;

fn tally<K: std::hash::Hash + Eq>(
    episodes: &[Episode],
    train: &[Sample],
    key: impl Fn(&Episode) -> K,
) -> HashMap<K, (f32, f32)> {
    let mut m: HashMap<K, (f32, f32)> = HashMap::new();
    for s in train {
        let e = m.entry(key(&episodes[s.episode])).or_default();
        e.0 += s.target * s.weight;
        e.1 += s.weight;
    }
    m
}

impl Majority {
    pub fn fit(train: &[Sample]) -> Majority {
        let w: f32 = train.iter().map(|s| s.weight).sum();
        let p: f32 = train.iter().map(|s| s.weight * s.target).sum();
        Majority {
            rate: if w > 0.0 { p / w } else { 0.5 },
        }
    }
}

impl CodeTable {
    pub fn fit(episodes: &[Episode], train: &[Sample]) -> CodeTable {
        CodeTable {
            overall: Majority::fit(train).rate,
            by_code: tally(episodes, train, |e| e.code),
            prior_weight: 2.0,
        }
    }
    fn rate(&self, code: i64) -> f32 {
        let (p, n) = self.by_code.get(&code).copied().unwrap_or((0.0, 0.0));
        (p + self.prior_weight * self.overall) / (n + self.prior_weight)
    }
}

impl CodeSubcodeTable {
    pub fn fit(episodes: &[Episode], train: &[Sample]) -> CodeSubcodeTable {
        CodeSubcodeTable {
            codes: CodeTable::fit(episodes, train),
            by_pair: tally(episodes, train, |e| (e.code, e.subcode)),
        }
    }
}

impl Baseline for Majority {
    fn name(&self) -> &'static str {
        "majority"
    }
    fn predict(&self, _: &Episode) -> f32 {
        self.rate
    }
}

impl Baseline for CodeTable {
    fn name(&self) -> &'static str {
        "code-table"
    }
    fn predict(&self, e: &Episode) -> f32 {
        self.rate(e.code)
    }
}

impl Baseline for CodeSubcodeTable {
    fn name(&self) -> &'static str {
        "code-subcode-table"
    }
    fn predict(&self, e: &Episode) -> f32 {
        let prior = self.codes.rate(e.code);
        let (p, n) = self
            .by_pair
            .get(&(e.code, e.subcode))
            .copied()
            .unwrap_or((0.0, 0.0));
        let w = self.codes.prior_weight;
        (p + w * prior) / (n + w)
    }
}

impl Baseline for PeriodicRelease {
    fn name(&self) -> &'static str {
        "periodic-release"
    }
    fn predict(&self, e: &Episode) -> f32 {
        if e.transfer() && e.num_holds < 3 {
            1.0
        } else {
            0.0
        }
    }
}

/// The four table/rule baselines fitted on `train`.
pub fn baselines(episodes: &[Episode], train: &[Sample]) -> Vec<Box<dyn Baseline>> {
    vec![
        Box::new(Majority::fit(train)),
        Box::new(CodeTable::fit(episodes, train)),
        Box::new(CodeSubcodeTable::fit(episodes, train)),
        Box::new(PeriodicRelease),
    ]
}

/// The rule policies people run today for held jobs (`hold-policies.md` in the project's
/// shared reference), as the decision each would take on a hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RulePolicy {
    AlwaysRelease,
    AlwaysRemove,
    /// CHTC's former submit template: release after 30 minutes held, at most 4 times, never
    /// for HoldReasonCode 6, 14 or 22.
    ChtcTemplate,
    /// GlideinWMS's factory: only codes listed as recoverable are released (here the
    /// transient ones: file-transfer codes and those whose usual remedy is a plain release),
    /// at most `max_releases` times, with a growing wait that changes when, not whether.
    TransientAllowlist {
        max_releases: u32,
    },
    /// Pegasus (30 minutes) and HTCondor-CE (24 hours): a hold not released by then is
    /// removed. Before the timer fires the owner decides: where the log shows a release
    /// within the time, the job was released.
    RemoveAfter {
        seconds: i64,
    },
}

impl RulePolicy {
    /// Every rule policy that evaluations compare against.
    pub fn all() -> Vec<RulePolicy> {
        vec![
            RulePolicy::AlwaysRelease,
            RulePolicy::AlwaysRemove,
            RulePolicy::ChtcTemplate,
            RulePolicy::TransientAllowlist { max_releases: 3 },
            RulePolicy::RemoveAfter { seconds: 1800 },
            RulePolicy::RemoveAfter { seconds: 86_400 },
        ]
    }

    pub fn name(&self) -> String {
        match self {
            RulePolicy::AlwaysRelease => "always release".into(),
            RulePolicy::AlwaysRemove => "always remove".into(),
            RulePolicy::ChtcTemplate => "CHTC template (30 min, 4 times, not 6/14/22)".into(),
            RulePolicy::TransientAllowlist { max_releases } => {
                format!("transient allowlist (at most {max_releases} releases)")
            }
            RulePolicy::RemoveAfter { seconds } if seconds % 3600 == 0 => {
                format!("remove after {} h", seconds / 3600)
            }
            RulePolicy::RemoveAfter { seconds } => format!("remove after {} min", seconds / 60),
        }
    }

    pub fn decide(&self, e: &Episode) -> Decision {
        self.decide_on(e.code, e.num_holds, e.release_time.map(|t| t - e.hold_time))
    }

    /// The decision for a hold with this HoldReasonCode and NumHolds (counting it), released
    /// `held_for` seconds after it began (`None`: never released; only the remove-after
    /// timers read it, see [`Self::needs_hold_duration`]).
    pub fn decide_on(&self, code: i64, num_holds: u32, held_for: Option<i64>) -> Decision {
        let release = match self {
            RulePolicy::AlwaysRelease => true,
            RulePolicy::AlwaysRemove => false,
            RulePolicy::ChtcTemplate => !matches!(code, 6 | 14 | 22) && num_holds <= 4,
            RulePolicy::TransientAllowlist { max_releases } => {
                let transient = i32::try_from(code)
                    .ok()
                    .and_then(holdadvisor_parsers::hold_code::hold_code)
                    .is_some_and(|c| {
                        c.transfer || c.prior == holdadvisor_parsers::hold_code::HoldPrior::Retry
                    });
                transient && num_holds <= *max_releases
            }
            RulePolicy::RemoveAfter { seconds } => held_for.is_some_and(|t| t <= *seconds),
        };
        if release {
            Decision::Release
        } else {
            Decision::Remove
        }
    }

    /// Whether the rule's decision depends on how long the hold lasted before its release.
    pub fn needs_hold_duration(&self) -> bool {
        matches!(self, RulePolicy::RemoveAfter { .. })
    }
}

/// A predictor to decide by: its name, its probabilities on the scored holds and, for the
/// advice as served, the removal bar in force at each hold ([`crate::decision::removal_bar`]).
pub type Decider<'a> = (String, &'a [f32], Option<&'a [f64]>);

/// The boosted-trees baseline's name in reports.
pub const GBT_NAME: &str = "gradient-boosted trees (same encoded holds)";
/// The advice as `collect` serves it, in the decisions table.
pub const SERVED_NAME: &str = "model as collect serves it, removal bar";
/// The pool's (code, subcode) table, in the decisions table.
pub const TABLE_NAME: &str = "code-subcode table";

/// Whether a model's advice beats the pool's table and the rule policies; see
/// [`DecisionReport::verdict`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub beats_table: bool,
    pub beats_rules: bool,
    pub line: String,
}

/// One predictor's or policy's decisions on the scored split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionRow {
    pub name: String,
    pub score: DecisionScore,
    /// The probabilities' own metrics (Brier, log loss, ROC AUC, ...); `None` for a rule.
    pub metrics: Option<Metrics>,
}

/// The advice as given, scored: each predictor's probability turned into release or
/// remove by the cost model, and the rule policies' own decisions, on the same holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionReport {
    pub costs: CostModel,
    /// Release from this P(release succeeds) up; remove below it.
    pub release_threshold: f64,
    pub rows: Vec<DecisionRow>,
    /// Whether the advice as served beats the table and the rule policies.
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

impl DecisionReport {
    /// Scores each `(name, probabilities)` by the cost model's decisions and each rule
    /// policy by its own, on the holds `scored` (episode indices) with their `labels`.
    pub fn new(
        costs: CostModel,
        episodes: &[Episode],
        scored: &[usize],
        labels: &[bool],
        predictors: &[Decider],
    ) -> DecisionReport {
        let clusters: Vec<i64> = scored.iter().map(|&i| episodes[i].job.cluster).collect();
        let mut rows = Vec::new();
        for (name, probs, bars) in predictors {
            let decisions: Vec<Decision> = match bars {
                Some(bars) => probs
                    .iter()
                    .zip(bars.iter())
                    .map(|(&p, &bar)| costs.decide_with_bar(f64::from(p), bar))
                    .collect(),
                None => probs.iter().map(|&p| costs.decide(f64::from(p))).collect(),
            };
            rows.push(DecisionRow {
                name: name.clone(),
                score: score_decisions(&decisions, labels, &clusters, &costs),
                metrics: Some(metrics(probs, labels)),
            });
        }
        for rule in RulePolicy::all() {
            let decisions: Vec<Decision> =
                scored.iter().map(|&i| rule.decide(&episodes[i])).collect();
            rows.push(DecisionRow {
                name: rule.name(),
                score: score_decisions(&decisions, labels, &clusters, &costs),
                metrics: None,
            });
        }
        let mut report = DecisionReport {
            costs,
            release_threshold: costs.release_threshold(),
            rows,
            verdict: None,
        };
        report.verdict = report.judge();
        report
    }

    /// Whether the advice as served beats the pool's (code, subcode) table (accuracy at least
    /// the table's minus 0.01, Brier at most its plus 0.005, ROC AUC at least its) and the
    /// best rule policy (regret at most its), in one line: the conditions of the advice's
    /// targets, fixed before any run. `None` without a model row or a table row.
    pub fn judge(&self) -> Option<Verdict> {
        let served = self
            .rows
            .iter()
            .find(|r| r.name.starts_with(SERVED_NAME))
            .or_else(|| self.rows.iter().find(|r| r.name.starts_with("model")))?;
        let table = self.rows.iter().find(|r| r.name.starts_with(TABLE_NAME))?;
        let (m, t) = (served.metrics.as_ref()?, table.metrics.as_ref()?);
        let best_rule = self
            .rows
            .iter()
            .filter(|r| r.metrics.is_none())
            .min_by(|a, b| a.score.regret_hours.total_cmp(&b.score.regret_hours))?;
        let auc = |m: &Metrics| m.roc_auc.unwrap_or(f64::NAN);
        let beats_table = served.score.accuracy >= table.score.accuracy - 0.01
            && m.brier <= t.brier + 0.005
            && auc(m) >= auc(t);
        let beats_rules = served.score.regret_hours <= best_rule.score.regret_hours;
        let word = |yes: bool| if yes { "BEATS" } else { "LOSES TO" };
        Some(Verdict {
            beats_table,
            beats_rules,
            line: format!(
                "verdict: the model {} the pool's (code, subcode) table (accuracy {:.3} vs {:.3}, Brier {:.3} vs {:.3}, ROC AUC {:.3} vs {:.3}) and {} the best rule policy by regret ({:.3} h vs {:.3} h, {})",
                word(beats_table),
                served.score.accuracy,
                table.score.accuracy,
                m.brier,
                t.brier,
                auc(m),
                auc(t),
                word(beats_rules),
                served.score.regret_hours,
                best_rule.score.regret_hours,
                best_rule.name
            ),
        })
    }

    pub fn table(&self) -> String {
        let mut s = format!(
            "decisions (release when P >= {:.3}; costs in hours: failed release {}, lost work {}, a look {}):\n",
            self.release_threshold,
            self.costs.failed_release_hours,
            self.costs.lost_work_hours,
            self.costs.look_hours
        );
        s.push_str(&format!(
            "{:<58} {:>8} {:>12} {:>8} {:>8} {:>12} {:>6} {:>8}\n",
            "predictor or policy",
            "accuracy",
            "per cluster",
            "removed",
            "regret",
            "per cluster",
            "Brier",
            "log loss"
        ));
        for r in &self.rows {
            let d = &r.score;
            let (brier, log_loss) = r.metrics.as_ref().map_or_else(
                || ("-".to_string(), "-".to_string()),
                |m| (format!("{:.3}", m.brier), format!("{:.3}", m.log_loss)),
            );
            s.push_str(&format!(
                "{:<58} {:>8.3} {:>12.3} {:>7.1}% {:>7.3}h {:>11.3}h {:>6} {:>8}\n",
                r.name,
                d.accuracy,
                d.accuracy_per_cluster,
                d.remove_share * 100.0,
                d.regret_hours,
                d.regret_hours_per_cluster,
                brier,
                log_loss
            ));
        }
        s
    }
}

/// Metrics of a baseline on some samples.
pub fn score_baseline(b: &dyn Baseline, episodes: &[Episode], samples: &[Sample]) -> Metrics {
    let probs: Vec<f32> = samples
        .iter()
        .map(|s| b.predict(&episodes[s.episode]))
        .collect();
    let labels: Vec<bool> = samples.iter().map(|s| s.target > 0.5).collect();
    metrics(&probs, &labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(code: i64, num_holds: u32, held_for: Option<i64>) -> Episode {
        Episode {
            job: holdadvisor_parsers::JobId {
                cluster: 1,
                proc: 0,
                subproc: 0,
            },
            index: num_holds - 1,
            hold_time: 1000,
            code,
            subcode: 0,
            num_holds,
            label: crate::labels::Label::Negative,
            decided_time: None,
            released: held_for.is_some(),
            release_time: held_for.map(|s| 1000 + s),
            owner: None,
            site: None,
            inputs: Vec::new(),
        }
    }

    #[test]
    fn rule_policies_decide_as_their_sources_say() {
        let chtc = RulePolicy::ChtcTemplate;
        assert_eq!(chtc.decide(&hold(13, 1, None)), Decision::Release);
        assert_eq!(chtc.decide(&hold(13, 4, None)), Decision::Release);
        assert_eq!(chtc.decide(&hold(13, 5, None)), Decision::Remove);
        for never in [6, 14, 22] {
            assert_eq!(chtc.decide(&hold(never, 1, None)), Decision::Remove);
        }
        let allow = RulePolicy::TransientAllowlist { max_releases: 3 };
        assert_eq!(allow.decide(&hold(12, 3, None)), Decision::Release);
        assert_eq!(allow.decide(&hold(12, 4, None)), Decision::Remove);
        assert_eq!(allow.decide(&hold(34, 1, None)), Decision::Remove);
        let pegasus = RulePolicy::RemoveAfter { seconds: 1800 };
        assert_eq!(pegasus.decide(&hold(12, 1, Some(600))), Decision::Release);
        assert_eq!(pegasus.decide(&hold(12, 1, Some(7200))), Decision::Remove);
        assert_eq!(pegasus.decide(&hold(12, 1, None)), Decision::Remove);
        assert_eq!(pegasus.name(), "remove after 30 min");
        assert_eq!(
            RulePolicy::RemoveAfter { seconds: 86_400 }.name(),
            "remove after 24 h"
        );
    }
}

/// One row of `--predictions`.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionRow {
    pub split: &'static str,
    pub cluster: i64,
    pub proc: i64,
    pub episode: u32,
    pub hold_time: i64,
    pub code: i64,
    pub subcode: i64,
    pub label: &'static str,
    pub probability: f32,
    /// When the log decided its outcome (Unix seconds), if it did.
    pub decided_time: Option<i64>,
}

/// The header of `--predictions`.
pub const PREDICTIONS_HEADER: &str =
    "split,cluster,proc,episode,hold_time,code,subcode,label,probability,decided_time";

impl PredictionRow {
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{:.6},{}",
            self.split,
            self.cluster,
            self.proc,
            self.episode,
            self.hold_time,
            self.code,
            self.subcode,
            self.label,
            self.probability,
            self.decided_time.map_or(String::new(), |t| t.to_string())
        )
    }
}

/// The metrics of one predictor in a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    pub name: String,
    pub metrics: Metrics,
}

/// What `holdadvisor evaluate` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub model_dir: String,
    pub data_note: String,
    pub split: String,
    pub episodes: usize,
    pub counts: crate::model_dir::SplitCounts,
    pub model: Scored,
    pub baselines: Vec<Scored>,
    pub stream: crate::encode::StreamStats,
    pub malformed_events: u64,
    /// The same predictors scored against a simulator's ground truth (`truth.jsonl`:
    /// `release_would_succeed`), on every episode of the split that the truth file covers,
    /// censored ones included. Simulated data only.
    pub truth: Option<TruthScores>,
    /// The model refitted to the evaluated pool's own earlier resolved holds (the training
    /// and validation splits), scored on the test split: how `scan` and `q` use a model on a
    /// pool it was not trained on. `None` for `--split all`.
    #[serde(default)]
    pub pool_calibration: Option<PoolCalibrationScore>,
    /// The model as `collect` following the log would have served the test split: each hold
    /// given the pool fit made on the outcomes decided before it, refitted as they came in
    /// ([`crate::pool_calibration::replay_collect`]). `None` for `--split all`.
    #[serde(default)]
    pub collect_replay: Option<CollectReplayScore>,
    /// Intervals for the model and the baselines from resampling the split's ClusterIds
    /// ([`crate::bootstrap`]): the procs of a cluster share their fate, so the split's
    /// figures are less sure than its episode count suggests.
    #[serde(default)]
    pub bootstrap: Option<ClusterBootstrap>,
    /// The advice as given on the scored split: accuracy and regret of each predictor's
    /// decisions under the cost model, and of the rule policies.
    #[serde(default)]
    pub decisions: Option<DecisionReport>,
    /// The probabilities behind `model` and `baselines`, for curves (`evaluate --report`);
    /// not serialised.
    #[serde(skip)]
    pub scores: SplitScores,
}

/// A model refitted to the pool ([`crate::pool_calibration`]) and scored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolCalibrationScore {
    /// Resolved holds before the test split it could be fitted on.
    pub episodes: usize,
    /// Whether the refit lowered the log-loss of the newest fifth of those holds, and so is
    /// used.
    pub adopted: bool,
    /// Weights of the model's logit, of the pool's (code, subcode) success-rate logit, and
    /// the bias (1, 0, 0: the model as it is).
    pub weights: [f64; 3],
    /// Mean log-loss on the newest fifth: as is, refitted on the older four fifths.
    pub held_out_log_loss: Option<(f64, f64)>,
    /// The refitted model on the test split (the model's own metrics when not adopted).
    pub metrics: Metrics,
}

/// The model scored as a replay of `collect` served it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectReplayScore {
    /// Pool fits made over the split, and how many were adopted (the others left the model
    /// as it is until the next).
    pub fits: usize,
    pub adopted: usize,
    pub metrics: Metrics,
}

/// Labels of the scored split and each predictor's probabilities on it, in the same order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitScores {
    pub labels: Vec<bool>,
    /// (predictor name, probabilities): the model first, then the baselines as in the report.
    pub predictors: Vec<(String, Vec<f32>)>,
}

/// Scores against simulator ground truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthScores {
    pub matched: usize,
    pub predictors: Vec<Scored>,
}

/// Reads a simulator's `truth.jsonl`: (cluster, proc, hold_time) -> release_would_succeed.
pub fn read_truth(path: &std::path::Path) -> anyhow::Result<HashMap<(i64, i64, i64), bool>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut m = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))?;
        let get = |k: &str| v.get(k).and_then(|x| x.as_i64());
        if let (Some(c), Some(p), Some(t), Some(ok)) = (
            get("cluster"),
            get("proc"),
            get("hold_time"),
            v.get("release_would_succeed").and_then(|x| x.as_bool()),
        ) {
            m.insert((c, p, t), ok);
        }
    }
    Ok(m)
}

/// Evaluates a model directory on event logs: the model, the table and rule baselines fitted
/// on the same logs' training split, and the reference-encoder model from `DIR/reference/`
/// when present, all on the chosen split (`test`, or `all` episodes for pools the model never
/// saw). Returns the report and one prediction row per episode of every split.
pub fn evaluate_model_dir(
    dir: &std::path::Path,
    logs: &[std::path::PathBuf],
    split: &str,
    data_note: &str,
    truth: Option<&std::path::Path>,
) -> anyhow::Result<(Report, Vec<PredictionRow>)> {
    evaluate_model_dir_on(
        dir,
        logs,
        split,
        data_note,
        truth,
        crate::backend::Backend::Flex,
        CostModel::default(),
    )
}

/// As [`evaluate_model_dir`], running the models on a chosen backend.
pub fn evaluate_model_dir_on(
    dir: &std::path::Path,
    logs: &[std::path::PathBuf],
    split: &str,
    data_note: &str,
    truth: Option<&std::path::Path>,
    backend: crate::backend::Backend,
    costs: CostModel,
) -> anyhow::Result<(Report, Vec<PredictionRow>)> {
    use crate::data::{Split, episodes_of, label_counts, scored_samples};
    use crate::inference::Predictor;
    use crate::model_dir::SplitCounts;
    use crate::training::TrainingConfig;
    use burn::config::Config;

    let predictor = Predictor::load_on(dir, backend)?;
    let training = TrainingConfig::load(dir.join("training.json"))
        .map_err(|e| anyhow::anyhow!("{}/training.json: {e}", dir.display()))?;
    let ref_dir = dir.join("reference");
    let reference = if ref_dir.join("manifest.json").is_file() {
        Some(Predictor::load_on(&ref_dir, backend)?)
    } else {
        None
    };
    let mut encoders = vec![predictor.encoder().clone()];
    if let Some(r) = &reference {
        encoders.push(r.encoder().clone());
    }
    let (episodes, stats, malformed) = episodes_of(logs, encoders)?;
    anyhow::ensure!(!episodes.is_empty(), "no hold episodes in the logs given");
    let splits = training.splits(&episodes);
    let chosen: Vec<crate::data::Sample> = match split {
        "test" => scored_samples(&episodes, &splits, Split::Test),
        "all" => [Split::Train, Split::Validation, Split::Test]
            .iter()
            .flat_map(|&s| scored_samples(&episodes, &splits, s))
            .collect(),
        other => anyhow::bail!("--split {other:?}: expected test or all"),
    };
    anyhow::ensure!(
        !chosen.is_empty(),
        "no labelled episodes in the {split} split"
    );
    let train = scored_samples(&episodes, &splits, Split::Train);
    let validation = scored_samples(&episodes, &splits, Split::Validation);
    let labels: Vec<bool> = chosen.iter().map(|s| s.target > 0.5).collect();

    let all_inputs: Vec<&crate::encode::EpisodeInput> =
        episodes.iter().map(|e| &e.inputs[0]).collect();
    let all_probs = predictor.predict_refs(&all_inputs)?;
    let probs: Vec<f32> = chosen.iter().map(|s| all_probs[s.episode]).collect();
    let model = Scored {
        name: format!("model ({:?} encoder + LSTM)", predictor.encoder().kind).to_lowercase(),
        metrics: metrics(&probs, &labels),
    };
    let pool_calibration = (split == "test").then(|| {
        let mut earlier: Vec<&crate::data::Sample> = train.iter().chain(&validation).collect();
        earlier.sort_by_key(|s| episodes[s.episode].hold_time);
        let holds: Vec<ResolvedHold> = earlier
            .iter()
            .map(|s| ResolvedHold::of(&episodes[s.episode], all_probs[s.episode]))
            .collect();
        let fit = PoolCalibration::fit(&holds);
        let refitted: Vec<f32> = match &fit {
            Some(f) => chosen
                .iter()
                .zip(&probs)
                .map(|(s, &p)| f.apply(p, episodes[s.episode].code, episodes[s.episode].subcode))
                .collect(),
            None => probs.clone(),
        };
        let score = PoolCalibrationScore {
            episodes: earlier.len(),
            adopted: fit.is_some(),
            weights: fit.as_ref().map_or([1.0, 0.0, 0.0], |f| f.weights),
            held_out_log_loss: fit.as_ref().map(|f| f.held_out_log_loss),
            metrics: metrics(&refitted, &labels),
        };
        (score, refitted)
    });
    let (pool_calibration, fitted_once) = pool_calibration.unzip();
    let collect_replay = (split == "test").then(|| {
        // In the order the holds began, which is the order `collect` met them in.
        let mut order: Vec<usize> = (0..chosen.len()).collect();
        order.sort_by_key(|&k| chosen[k].episode);
        let targets: Vec<usize> = order.iter().map(|&k| chosen[k].episode).collect();
        let replay = replay_collect(&episodes, &all_probs, &targets, &costs);
        let mut replayed = vec![0.0; chosen.len()];
        let mut bars = vec![0.0; chosen.len()];
        for ((&k, p), bar) in order
            .iter()
            .zip(replay.probabilities)
            .zip(replay.remove_below)
        {
            replayed[k] = p;
            bars[k] = bar;
        }
        let score = CollectReplayScore {
            fits: replay.fits,
            adopted: replay.adopted,
            metrics: metrics(&replayed, &labels),
        };
        (score, (replayed, bars))
    });
    let (collect_replay, replayed) = collect_replay.unzip();
    let mut scored = Vec::new();
    let mut curves = vec![(model.name.clone(), probs.clone())];
    for b in baselines(&episodes, &train) {
        let p: Vec<f32> = chosen
            .iter()
            .map(|s| b.predict(&episodes[s.episode]))
            .collect();
        scored.push(Scored {
            name: b.name().to_string(),
            metrics: metrics(&p, &labels),
        });
        curves.push((b.name().to_string(), p));
    }
    // The learned baseline: boosted trees on the same encoded holds, trained on the training
    // split and stopped on the validation split, as the model was.
    let gbt = crate::gbt::Gbt::fit_samples(
        &crate::gbt::GbtConfig::default(),
        &episodes,
        &train,
        &validation,
    );
    let gbt_probs: Vec<f32> = chosen
        .iter()
        .map(|s| gbt.predict(&crate::gbt::flat_features(&episodes[s.episode].inputs[0])))
        .collect();
    scored.push(Scored {
        name: GBT_NAME.into(),
        metrics: metrics(&gbt_probs, &labels),
    });
    curves.push((GBT_NAME.into(), gbt_probs.clone()));
    if let Some(r) = &reference {
        let inputs: Vec<&crate::encode::EpisodeInput> = chosen
            .iter()
            .map(|s| &episodes[s.episode].inputs[1])
            .collect();
        let p = r.predict_refs(&inputs)?;
        scored.push(Scored {
            name: "reference (m, j*e) encoder + LSTM".into(),
            metrics: metrics(&p, &labels),
        });
        curves.push(("reference (m, j*e) encoder + LSTM".into(), p));
    }
    // The pool's (code, subcode) table as known before the test split (train and
    // validation), as a decision rule beside the model's.
    let earlier: Vec<crate::data::Sample> = train.iter().chain(&validation).cloned().collect();
    let table = CodeSubcodeTable::fit(&episodes, &earlier);
    let table_probs: Vec<f32> = chosen
        .iter()
        .map(|s| table.predict(&episodes[s.episode]))
        .collect();
    let mut deciders: Vec<Decider> = vec![(model.name.clone(), &probs, None)];
    if let Some(p) = &fitted_once {
        deciders.push(("model, pool fit made once before the split".into(), p, None));
    }
    if let Some((p, bars)) = &replayed {
        deciders.push((format!("{SERVED_NAME} (served advice)"), p, Some(bars)));
        deciders.push(("model as collect serves it, no removal bar".into(), p, None));
    }
    deciders.push((
        format!("{TABLE_NAME} (train + validation)"),
        &table_probs,
        None,
    ));
    deciders.push((GBT_NAME.into(), &gbt_probs, None));
    let scored_idx: Vec<usize> = chosen.iter().map(|s| s.episode).collect();
    let decisions = Some(DecisionReport::new(
        costs,
        &episodes,
        &scored_idx,
        &labels,
        &deciders,
    ));
    let truth = match truth {
        None => None,
        Some(path) => {
            let t = read_truth(path)?;
            let wanted = |s: Split| split == "all" || s == Split::Test;
            let idx: Vec<(usize, bool)> = episodes
                .iter()
                .enumerate()
                .filter(|(i, _)| wanted(splits[*i]))
                .filter_map(|(i, e)| {
                    t.get(&(e.job.cluster, e.job.proc, e.hold_time))
                        .map(|&ok| (i, ok))
                })
                .collect();
            let labels: Vec<bool> = idx.iter().map(|x| x.1).collect();
            let mut predictors = vec![Scored {
                name: model.name.clone(),
                metrics: metrics(
                    &idx.iter().map(|x| all_probs[x.0]).collect::<Vec<_>>(),
                    &labels,
                ),
            }];
            for b in baselines(&episodes, &train) {
                let p: Vec<f32> = idx.iter().map(|x| b.predict(&episodes[x.0])).collect();
                predictors.push(Scored {
                    name: b.name().to_string(),
                    metrics: metrics(&p, &labels),
                });
            }
            if let Some(r) = &reference {
                let inputs: Vec<&crate::encode::EpisodeInput> =
                    idx.iter().map(|x| &episodes[x.0].inputs[1]).collect();
                predictors.push(Scored {
                    name: "reference (m, j*e) encoder + LSTM".into(),
                    metrics: metrics(&r.predict_refs(&inputs)?, &labels),
                });
            }
            Some(TruthScores {
                matched: idx.len(),
                predictors,
            })
        }
    };
    let rows = episodes
        .iter()
        .zip(&splits)
        .zip(&all_probs)
        .map(|((e, s), &p)| PredictionRow {
            split: s.name(),
            cluster: e.job.cluster,
            proc: e.job.proc,
            episode: e.index,
            hold_time: e.hold_time,
            code: e.code,
            subcode: e.subcode,
            label: e.label.csv(),
            probability: p,
            decided_time: e.decided_time,
        })
        .collect();
    let clusters: Vec<i64> = chosen
        .iter()
        .map(|s| episodes[s.episode].job.cluster)
        .collect();
    // Seeded from the split's size, so that one split always gets the same intervals.
    let bootstrap = cluster_bootstrap(&clusters, &labels, &curves, RESAMPLES, labels.len() as u64);
    let report = Report {
        model_dir: dir.display().to_string(),
        data_note: data_note.to_string(),
        split: split.to_string(),
        episodes: episodes.len(),
        counts: SplitCounts {
            train: label_counts(&episodes, &splits, Split::Train),
            validation: label_counts(&episodes, &splits, Split::Validation),
            test: label_counts(&episodes, &splits, Split::Test),
        },
        model,
        baselines: scored,
        stream: stats,
        malformed_events: malformed,
        truth,
        pool_calibration,
        collect_replay,
        bootstrap,
        decisions,
        scores: SplitScores {
            labels,
            predictors: curves,
        },
    };
    Ok((report, rows))
}

impl Report {
    /// A plain-text table (also the body of the Markdown report).
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{} episodes; split {}: train {}+/{}-, validation {}+/{}-, test {}+/{}- (censored {}, open {} not scored)\n\n",
            self.episodes,
            self.split,
            self.counts.train.positive,
            self.counts.train.negative,
            self.counts.validation.positive,
            self.counts.validation.negative,
            self.counts.test.positive,
            self.counts.test.negative,
            self.counts.train.censored + self.counts.validation.censored + self.counts.test.censored,
            self.counts.train.open + self.counts.validation.open + self.counts.test.open,
        ));
        let rows: Vec<&Scored> = std::iter::once(&self.model)
            .chain(&self.baselines)
            .collect();
        s.push_str(&metrics_table(&rows));
        if let Some(b) = &self.bootstrap {
            s.push_str(&bootstrap_table(b));
        }
        if let Some(pc) = &self.pool_calibration {
            if pc.adopted {
                let (before, after) = pc.held_out_log_loss.unwrap_or_default();
                s.push_str(&format!(
                    "\nRefitted to this pool's {} earlier resolved holds (weights {:.3} on the model's logit, {:.3} on the pool's (code, subcode) success-rate logit, bias {:.3}; log-loss of the newest fifth {before:.4} as is, {after:.4} refitted on the rest), as scan and q use it:\n\n",
                    pc.episodes, pc.weights[0], pc.weights[1], pc.weights[2]
                ));
                let row = Scored {
                    name: "model + pool calibration".into(),
                    metrics: pc.metrics.clone(),
                };
                s.push_str(&metrics_table(&[&row]));
            } else {
                s.push_str(&format!(
                    "\nPool calibration on this pool's {} earlier resolved holds: not adopted (too few, or refitting did not lower the newest fifth's log-loss); scan and q use the model as it is.\n",
                    pc.episodes
                ));
            }
        }
        if let Some(r) = &self.collect_replay {
            s.push_str(&format!(
                "\nAs `collect` following the log would have served each test hold: refitted to the pool on the outcomes decided before it, again after every {} more ({} fits, {} adopted):\n\n",
                crate::pool_calibration::REFIT_OUTCOMES,
                r.fits,
                r.adopted
            ));
            let row = Scored {
                name: "model + pool fit as collect serves it".into(),
                metrics: r.metrics.clone(),
            };
            s.push_str(&metrics_table(&[&row]));
        }
        if let Some(t) = &self.truth {
            s.push_str(&format!(
                "\nAgainst the simulator's ground truth (release_would_succeed; {} episodes of the split, censored ones included):\n\n",
                t.matched
            ));
            s.push_str(&metrics_table(&t.predictors.iter().collect::<Vec<_>>()));
        }
        if let Some(d) = &self.decisions {
            s.push('\n');
            s.push_str(&d.table());
            if let Some(v) = &d.verdict {
                s.push('\n');
                s.push_str(&v.line);
                s.push('\n');
            }
        }
        s
    }
}

/// The intervals as a Markdown table, with what they mean.
pub fn bootstrap_table(b: &ClusterBootstrap) -> String {
    let pct = (b.level * 100.0).round();
    let mut s = format!(
        "\n{pct}% intervals from resampling the split's {} ClusterIds {} times (the procs of a cluster share their fate; ECE's interval sits above the split's own ECE, read its width):\n\n| predictor | ROC AUC | ECE | model's ROC AUC minus this one's |\n|---|---|---|---|\n",
        b.clusters, b.resamples
    );
    let fmt = |i: Option<crate::bootstrap::Interval>| {
        i.map_or("n/a".to_string(), |i| {
            format!("{:.4} to {:.4}", i.low, i.high)
        })
    };
    for p in &b.predictors {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            p.name,
            fmt(p.roc_auc),
            fmt(Some(p.ece)),
            p.roc_auc_below_first.map_or("".to_string(), |i| format!(
                "{:+.4} to {:+.4}",
                i.low, i.high
            ))
        ));
    }
    s
}

/// A Markdown table of metrics, one row per predictor.
pub fn metrics_table(rows: &[&Scored]) -> String {
    let mut s = String::from(
        "| predictor | n | ROC AUC | accuracy | F1 release | F1 remove | Brier | ECE | TP/FP/TN/FN |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let m = &r.metrics;
        s.push_str(&format!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {}/{}/{}/{} |\n",
            r.name,
            m.n,
            m.roc_auc.map_or("n/a".to_string(), |a| format!("{a:.4}")),
            m.accuracy,
            m.positive.f1,
            m.negative.f1,
            m.brier,
            m.ece,
            m.confusion.true_positive,
            m.confusion.false_positive,
            m.confusion.true_negative,
            m.confusion.false_negative
        ));
    }
    s
}
