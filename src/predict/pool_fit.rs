//! The model refitted to the pool whose log is read: fitted once per log, applied per hold.

use holdadvisor_models::encode::Episode;
use holdadvisor_models::inference::Predictor;
use holdadvisor_models::pool_calibration::{PoolFit, ResolvedHold};

use holdadvisor_models::decision::CostModel;

/// What the pool's resolved holds in `resolved` (oldest first) say about serving the model
/// there: its refit, when that lowers the newest ones' log-loss, and the P below which their
/// record backs `remove`; see [`PoolFit`].
pub fn fit_to_pool(
    predictor: &Predictor,
    episodes: &[Episode],
    resolved: &[usize],
) -> anyhow::Result<PoolFit> {
    let inputs: Vec<_> = resolved.iter().map(|&i| &episodes[i].inputs[0]).collect();
    let probs = predictor.predict_refs(&inputs)?;
    let holds: Vec<ResolvedHold> = resolved
        .iter()
        .zip(probs)
        .map(|(&i, probability)| ResolvedHold::of(&episodes[i], probability))
        .collect();
    Ok(PoolFit::fit(&holds, &CostModel::default()))
}

/// The model's probability for `ep` as served on the pool, and the number of holds the refit
/// was made on when there is one (for the advice to say so).
pub fn fitted(fit: &PoolFit, p: f32, ep: &Episode) -> (f32, Option<usize>) {
    (
        fit.apply(p, ep.code, ep.subcode),
        fit.calibration.as_ref().map(|c| c.episodes),
    )
}
