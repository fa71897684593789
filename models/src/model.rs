//! The network: stacked LSTM layers over the episode's sequence, a linear head on the last
//! step, one logit for P(release succeeds).
//!
//! The LSTM is written with fused gates (one input projection for all steps, one
//! `[B,H]×[H,4H]` product per step, gates split with `chunk`), the variant measured fastest
//! here (`burn-backends.md`); gate order in the fused weights is input, forget, cell, output.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

/// Network shape; saved with every model (`model.json`).
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Features per step (set from the encoder).
    pub input_size: usize,
    #[config(default = 64)]
    pub hidden_size: usize,
    #[config(default = 2)]
    pub num_layers: usize,
    /// Dropout between LSTM layers and before the head (training only).
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// One LSTM layer with fused gates.
#[derive(Module, Debug)]
pub struct FusedLstm {
    /// `[input] -> [4 * hidden]`, with the gate biases.
    pub input: Linear,
    /// `[hidden] -> [4 * hidden]`, no bias.
    pub recurrent: Linear,
    pub hidden_size: usize,
}

impl FusedLstm {
    pub fn new(input_size: usize, hidden_size: usize, device: &Device) -> FusedLstm {
        FusedLstm {
            input: LinearConfig::new(input_size, 4 * hidden_size).init(device),
            recurrent: LinearConfig::new(hidden_size, 4 * hidden_size)
                .with_bias(false)
                .init(device),
            hidden_size,
        }
    }

    /// `[B, T, I] -> [B, T, H]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let h4 = 4 * self.hidden_size;
        let device = x.device();
        let projected = self.input.forward(x);
        let mut h: Tensor<2> = Tensor::zeros([b, self.hidden_size], &device);
        let mut c: Tensor<2> = Tensor::zeros([b, self.hidden_size], &device);
        let mut outputs = Vec::with_capacity(t);
        for s in 0..t {
            let xs: Tensor<2> = projected
                .clone()
                .slice([0..b, s..s + 1, 0..h4])
                .reshape([b, h4]);
            let gates = xs + self.recurrent.forward(h);
            let mut g = gates.chunk(4, 1).into_iter();
            let (i, f, cell, o) = (
                g.next().unwrap(),
                g.next().unwrap(),
                g.next().unwrap(),
                g.next().unwrap(),
            );
            c = sigmoid(f) * c + sigmoid(i) * cell.tanh();
            h = sigmoid(o) * c.clone().tanh();
            outputs.push(h.clone());
        }
        Tensor::stack(outputs, 1)
    }
}

/// The whole network.
#[derive(Module, Debug)]
pub struct HoldModel {
    pub layers: Vec<FusedLstm>,
    pub dropout: Dropout,
    pub head: Linear,
}

impl ModelConfig {
    pub fn init(&self, device: &Device) -> HoldModel {
        let mut layers = Vec::with_capacity(self.num_layers.max(1));
        let mut input = self.input_size;
        for _ in 0..self.num_layers.max(1) {
            layers.push(FusedLstm::new(input, self.hidden_size, device));
            input = self.hidden_size;
        }
        HoldModel {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            head: LinearConfig::new(self.hidden_size, 1).init(device),
        }
    }
}

impl HoldModel {
    /// `[B, T, I]` -> logits `[B]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<1> {
        let mut y = x;
        let n = self.layers.len();
        for (k, layer) in self.layers.iter().enumerate() {
            y = layer.forward(y);
            if k + 1 < n {
                y = self.dropout.forward(y);
            }
        }
        let [b, t, h] = y.dims();
        let last: Tensor<2> = y.slice([0..b, t - 1..t, 0..h]).reshape([b, h]);
        let last = self.dropout.forward(last);
        self.head.forward(last).reshape([b])
    }
}

/// Binary cross-entropy on logits with per-sample weights: `Σ wᵢ·ℓᵢ / Σ wᵢ`, where
/// `ℓ = max(x,0) − x·y + ln(1 + e^{−|x|})` (the numerically stable form).
pub fn weighted_bce_with_logits(
    logits: Tensor<1>,
    targets: Tensor<1>,
    weights: Tensor<1>,
) -> Tensor<1> {
    let loss =
        logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p();
    let total = weights.clone().sum();
    (loss * weights).sum() / total
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn shapes() {
        let device = Device::flex();
        let m = ModelConfig::new(5).with_hidden_size(4).init(&device);
        let x = Tensor::<3>::zeros([3, 7, 5], &device);
        assert_eq!(m.forward(x).dims(), [3]);
    }

    #[test]
    fn bce_matches_hand_computed_values() {
        let device = Device::flex();
        let x = Tensor::<1>::from_data(TensorData::from([0.0f32, 2.0, -1.0]), &device);
        let y = Tensor::<1>::from_data(TensorData::from([1.0f32, 0.0, 0.0]), &device);
        let w = Tensor::<1>::from_data(TensorData::from([1.0f32, 1.0, 2.0]), &device);
        let got: f32 = weighted_bce_with_logits(x, y, w).into_scalar();
        // -ln σ(0) = ln 2; -ln(1-σ(2)) = ln(1+e²); -ln(1-σ(-1)) = ln(1+e^-1)
        let want = ((2f32).ln() + (1.0 + 2f32.exp()).ln() + 2.0 * (1.0 + (-1f32).exp()).ln()) / 4.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
}
