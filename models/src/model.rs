//! The network: stacked LSTM layers over the episode's sequence, a linear head on the last
//! step, one logit for P(release succeeds).
//!
//! The LSTM is written with fused gates (one input projection for all steps, one
//! `[B,H]×[H,4H]` product per step, gates split with `chunk`), the variant measured fastest
//! here (`burn-backends.md`); gate order in the fused weights is input, forget, cell, output.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

/// Network shape; saved with every model (`model.json`).
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Features per step (set from the encoder).
    pub input_size: usize,
    /// 32 and dropout 0.3 (was 64 and 0.1): on three seeded 100,000-job simulated pools, as
    /// good by ROC AUC, better calibrated on the later test split, and a third of the work
    /// per prediction (bench/accuracy.sh and the README's figures).
    #[config(default = 32)]
    pub hidden_size: usize,
    #[config(default = 2)]
    pub num_layers: usize,
    /// Dropout between LSTM layers and before the head (training only).
    #[config(default = 0.3)]
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
        let y = self.forward_time_major(TimeMajor::from_batch_major(x), false);
        y.x.reshape([t, b, self.hidden_size]).swap_dims(0, 1)
    }

    /// Time-major `[T·B, I]` -> `[T·B, H]`, or with `last_only` the last step's `[B, H]`.
    ///
    /// The input part of every step's gates is one `[T·B, I]×[I, 4H]` product; each step
    /// then adds one `[B, H]×[H, 4H]` product (none at the first step, where h = c = 0) and
    /// takes its rows of the projection as a contiguous slice.
    pub fn forward_time_major(&self, x: TimeMajor, last_only: bool) -> TimeMajor {
        self.forward_time_major_from(x, None, last_only).0
    }

    /// As [`forward_time_major`](Self::forward_time_major), from the state `start` (`(h, c)`,
    /// `[B, H]` each; `None` for zeros); also returns the state after the last step.
    pub fn forward_time_major_from(
        &self,
        x: TimeMajor,
        start: Option<(Tensor<2>, Tensor<2>)>,
        last_only: bool,
    ) -> (TimeMajor, (Tensor<2>, Tensor<2>)) {
        let b = x.batch;
        let steps = x.steps();
        let h4 = 4 * self.hidden_size;
        let device = x.x.device();
        let projected = self.input.forward(x.x);
        let activations = GateActivations::new(self.hidden_size, b, &device);
        let mut outputs = Vec::with_capacity(if last_only { 0 } else { steps });
        let mut state: Option<(Tensor<2>, Tensor<2>)> = start;
        for s in 0..steps {
            let xs = if steps == 1 {
                projected.clone()
            } else {
                projected.clone().slice([s * b..(s + 1) * b, 0..h4])
            };
            let (gates, c_prev) = match state.take() {
                None => (xs, None),
                Some((h, c)) => (xs + self.recurrent.forward(h), Some(c)),
            };
            let [i, f, cell, o] = activations.gates(gates);
            let new = i * cell;
            let c = match c_prev {
                None => new,
                Some(c) => f * c + new,
            };
            let h = o * activations.elementwise.tanh(c.clone());
            if !last_only {
                outputs.push(h.clone());
            }
            state = Some((h, c));
        }
        let state = state.expect("at least one step");
        let x = if last_only {
            state.0.clone()
        } else {
            Tensor::cat(outputs, 0)
        };
        (TimeMajor { x, batch: b }, state)
    }
}

/// The four gate activations of a step: σ(i), σ(f), tanh(g), σ(o).
///
/// For a batch, in one pass over the contiguous `[B, 4H]` gates, as
/// `σ(gates · scale) · scale + offset` with per-column constants (scale 1, offset 0 for σ;
/// scale 2, offset −1 for tanh(g) = 2σ(2g) − 1): activating each gate's strided
/// `[B, H]` view separately cost flex inference most of its time. For one job, gate by gate:
/// the constants would cost more than the elements.
struct GateActivations {
    /// `scale` and `offset`, each `[1, 4H]`, for batches.
    fused: Option<(Tensor<2>, Tensor<2>)>,
    elementwise: Elementwise,
}

impl GateActivations {
    fn new(hidden: usize, batch: usize, device: &Device) -> GateActivations {
        let row = |input: f32, cell: f32| {
            let values: Vec<f32> = (0..4 * hidden)
                .map(|k| if k / hidden == 2 { cell } else { input })
                .collect();
            Tensor::<2>::from_data(TensorData::new(values, [1, 4 * hidden]), device)
        };
        GateActivations {
            fused: (batch >= ELEMENTWISE_BATCH).then(|| (row(1.0, 2.0), row(0.0, -1.0))),
            elementwise: Elementwise::new(batch, device),
        }
    }

    fn gates(&self, gates: Tensor<2>) -> [Tensor<2>; 4] {
        let split = |t: Tensor<2>| -> [Tensor<2>; 4] {
            let mut g = t.chunk(4, 1).into_iter();
            std::array::from_fn(|_| g.next().expect("four gates"))
        };
        match &self.fused {
            Some((scale, offset)) => split(
                self.elementwise.sigmoid(gates * scale.clone()) * scale.clone() + offset.clone(),
            ),
            None => {
                let [i, f, g, o] = split(gates);
                let e = self.elementwise;
                [e.sigmoid(i), e.sigmoid(f), e.tanh(g), e.sigmoid(o)]
            }
        }
    }
}

/// How this forward pass computes σ and tanh.
///
/// On flex, `tanh` is libm's scalar `tanhf` (15 ns an element here) and `sigmoid` branches on
/// the sign of every element (5.5 ns), where 1/(1 + e^(−x)) from `exp` and `recip` takes 3 ns
/// (models/examples/act_bench.rs). So on flex, for batches, tanh is 2σ(2x) − 1 and, without
/// autodiff, σ is 1/(1 + e^(−x)): exact enough in f32 (for x < −88, e^(−x) is ∞ and the result
/// 0, the limit), but its gradient there would be 0 · ∞ = NaN, so training keeps burn's σ.
/// One job (a `q`) is a handful of `[1, 4H]` tensors, where every extra operation costs more
/// than the elements do: it, and LibTorch (whose σ and tanh are vectorised), use burn's own.
#[derive(Clone, Copy)]
struct Elementwise {
    sigmoid_by_exp: bool,
    tanh_by_sigmoid: bool,
}

/// Batches from this size on take the flex forms above.
const ELEMENTWISE_BATCH: usize = 32;

impl Elementwise {
    fn new(batch: usize, device: &Device) -> Elementwise {
        let flex_batch = *device == Device::flex() && batch >= ELEMENTWISE_BATCH;
        Elementwise {
            sigmoid_by_exp: flex_batch && !device.is_autodiff(),
            tanh_by_sigmoid: flex_batch,
        }
    }

    fn sigmoid(self, x: Tensor<2>) -> Tensor<2> {
        if self.sigmoid_by_exp {
            x.neg().exp().add_scalar(1.0).recip()
        } else {
            sigmoid(x)
        }
    }

    fn tanh(self, x: Tensor<2>) -> Tensor<2> {
        if self.tanh_by_sigmoid {
            self.sigmoid(x * 2.0) * 2.0 - 1.0
        } else {
            x.tanh()
        }
    }
}

/// Each layer's `(h, c)` (`[1, H]` each).
pub type LayerStates = Vec<(Tensor<2>, Tensor<2>)>;

/// A batch of sequences in time-major layout: `x` is `[T·B, F]`, rows `s·B..(s+1)·B` are
/// step `s` of every sequence, so each step is a contiguous slice and every layer's input
/// projection is one 2-D product.
#[derive(Debug, Clone)]
pub struct TimeMajor {
    pub x: Tensor<2>,
    /// B, the number of sequences.
    pub batch: usize,
}

impl TimeMajor {
    /// From `[B, T, F]` (one copy).
    pub fn from_batch_major(x: Tensor<3>) -> TimeMajor {
        let [b, t, f] = x.dims();
        TimeMajor {
            x: x.swap_dims(0, 1).reshape([t * b, f]),
            batch: b,
        }
    }

    pub fn steps(&self) -> usize {
        self.x.dims()[0] / self.batch.max(1)
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
        self.forward_time_major(TimeMajor::from_batch_major(x))
    }

    /// Time-major `[T·B, I]` ([`TimeMajor`]) -> logits `[B]`; the last layer computes only
    /// the last step's output, the one the head reads.
    pub fn forward_time_major(&self, x: TimeMajor) -> Tensor<1> {
        self.run(x, None)
    }

    /// The layers and the head, every layer starting from zeros or from its state in `start`.
    fn run(&self, x: TimeMajor, start: Option<&LayerStates>) -> Tensor<1> {
        let b = x.batch;
        let mut y = x;
        let n = self.layers.len();
        for (k, layer) in self.layers.iter().enumerate() {
            let last = k + 1 == n;
            let from = start.map(|states| {
                let (h0, c0) = &states[k];
                let hidden = layer.hidden_size;
                (
                    h0.clone().expand([b, hidden]),
                    c0.clone().expand([b, hidden]),
                )
            });
            y = layer.forward_time_major_from(y, from, last).0;
            if !last {
                y.x = self.dropout.forward(y.x);
            }
        }
        let last = self.dropout.forward(y.x);
        self.head.forward(last).reshape([b])
    }

    /// The state every layer reaches after `k` all-zero input steps from the zero state, for
    /// `k` in `0..=steps`. Encoders left-pad short sequences with zero rows, so these are the
    /// same for every episode: inference starts from them and skips the padding.
    pub fn zero_prefix_states(&self, steps: usize, device: &Device) -> Vec<LayerStates> {
        let input_size = self.layers[0].input.weight.dims()[0];
        let hidden = self.layers[0].hidden_size;
        let zero = Tensor::<2>::zeros([1, hidden], device);
        let mut states: Vec<LayerStates> = vec![
            self.layers
                .iter()
                .map(|_| (zero.clone(), zero.clone()))
                .collect(),
        ];
        for k in 0..steps {
            let mut input = TimeMajor {
                x: Tensor::zeros([1, input_size], device),
                batch: 1,
            };
            let mut next = Vec::with_capacity(self.layers.len());
            for (layer, start) in self.layers.iter().zip(&states[k]) {
                let (out, state) = layer.forward_time_major_from(input, Some(start.clone()), true);
                next.push(state);
                input = out;
            }
            states.push(next);
        }
        states
    }

    /// Logits `[B]` for `x` continuing from `start` (each layer's state, `[1, H]`, shared by
    /// the whole batch): the same as [`forward`](Self::forward) on `x` with the padding rows
    /// that led to `start` put back in front.
    pub fn forward_from(&self, x: TimeMajor, start: &LayerStates) -> Tensor<1> {
        self.run(x, Some(start))
    }
}

/// One network that computes the mean logit of an ensemble's `members` (all of one shape):
/// their layers side by side with block-diagonal weights, and a head that averages. For a few
/// inputs the cost of a step is mostly per-operation, so this runs an ensemble for one job in
/// about the time of one network; for large batches the zero blocks make it N times the work
/// of running the members one after another, so it is for small batches only. The
/// `Predictor` uses it on CUDA; on the CPU, a few inputs go through `cpu_kernel`'s plain loops
/// member by member, which pay for the arithmetic alone.
pub fn fuse_ensemble(members: &[HoldModel], device: &Device) -> HoldModel {
    let n = members.len();
    let first = &members[0];
    let h = first.layers[0].hidden_size;
    let nh = n * h;
    let values = |t: Tensor<2>| -> Vec<f32> { t.into_data().iter::<f32>().collect() };
    // Member k's gate g, unit j -> fused column g·NH + k·H + j.
    let column = |k: usize, c: usize| (c / h) * nh + k * h + c % h;
    let linear = |weight: Vec<f32>, rows: usize, cols: usize, bias: Option<Vec<f32>>| Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [rows, cols]),
            device,
        )),
        bias: bias
            .map(|b| Param::from_tensor(Tensor::from_data(TensorData::new(b, [cols]), device))),
    };
    let mut layers = Vec::with_capacity(first.layers.len());
    for (l, layer) in first.layers.iter().enumerate() {
        // The first layer's input is shared; a later layer reads its member's block.
        let in_rows = if l == 0 {
            layer.input.weight.dims()[0]
        } else {
            nh
        };
        let mut input = vec![0f32; in_rows * 4 * nh];
        let mut recurrent = vec![0f32; nh * 4 * nh];
        let mut bias = vec![0f32; 4 * nh];
        for (k, m) in members.iter().enumerate() {
            let layer = &m.layers[l];
            let w = values(layer.input.weight.val());
            let rows = w.len() / (4 * h);
            for r in 0..rows {
                let fused_row = if l == 0 { r } else { k * h + r };
                for c in 0..4 * h {
                    input[fused_row * 4 * nh + column(k, c)] = w[r * 4 * h + c];
                }
            }
            let u = values(layer.recurrent.weight.val());
            for r in 0..h {
                for c in 0..4 * h {
                    recurrent[(k * h + r) * 4 * nh + column(k, c)] = u[r * 4 * h + c];
                }
            }
            if let Some(b) = &layer.input.bias {
                for (c, v) in b.val().into_data().iter::<f32>().enumerate() {
                    bias[column(k, c)] = v;
                }
            }
        }
        layers.push(FusedLstm {
            input: linear(input, in_rows, 4 * nh, Some(bias)),
            recurrent: linear(recurrent, nh, 4 * nh, None),
            hidden_size: nh,
        });
    }
    let mut head = vec![0f32; nh];
    let mut head_bias = 0f32;
    for (k, m) in members.iter().enumerate() {
        for (r, v) in values(m.head.weight.val()).into_iter().enumerate() {
            head[k * h + r] = v / n as f32;
        }
        if let Some(b) = &m.head.bias {
            head_bias += b.val().into_data().iter::<f32>().sum::<f32>() / n as f32;
        }
    }
    HoldModel {
        layers,
        dropout: DropoutConfig::new(0.0).init(),
        head: linear(head, nh, 1, Some(vec![head_bias])),
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

    #[test]
    fn shapes() {
        let device = Device::flex();
        let m = ModelConfig::new(5).with_hidden_size(4).init(&device);
        let x = Tensor::<3>::zeros([3, 7, 5], &device);
        assert_eq!(m.forward(x).dims(), [3]);
    }

    /// The textbook LSTM (batch-major, gate by gate, every step's product separate), for
    /// checking the fused, time-major forward against.
    fn reference_forward(m: &HoldModel, x: Tensor<3>) -> Tensor<1> {
        let mut y = x;
        for layer in &m.layers {
            let [b, t, width] = y.dims();
            let hs = layer.hidden_size;
            let w_in = layer.input.weight.val();
            let bias = layer.input.bias.as_ref().unwrap().val();
            let w_rec = layer.recurrent.weight.val();
            let device = y.device();
            let mut h: Tensor<2> = Tensor::zeros([b, hs], &device);
            let mut c: Tensor<2> = Tensor::zeros([b, hs], &device);
            let mut outs = Vec::new();
            for s in 0..t {
                let xs: Tensor<2> = y
                    .clone()
                    .slice([0..b, s..s + 1, 0..width])
                    .reshape([b, width]);
                let gate = |k: usize| {
                    let cols = k * hs..(k + 1) * hs;
                    xs.clone()
                        .matmul(w_in.clone().slice([0..w_in.dims()[0], cols.clone()]))
                        + bias.clone().slice([cols.clone()]).unsqueeze()
                        + h.clone().matmul(w_rec.clone().slice([0..hs, cols]))
                };
                let (i, f, g, o) = (gate(0), gate(1), gate(2), gate(3));
                c = sigmoid(f) * c + sigmoid(i) * g.tanh();
                h = sigmoid(o) * c.clone().tanh();
                outs.push(h.clone());
            }
            y = Tensor::stack(outs, 1);
        }
        let [b, t, hs] = y.dims();
        let last: Tensor<2> = y.slice([0..b, t - 1..t, 0..hs]).reshape([b, hs]);
        m.head.forward(last).reshape([b])
    }

    #[test]
    fn fused_time_major_forward_matches_the_textbook_lstm() {
        let device = Device::flex();
        device.seed(3);
        let m = ModelConfig::new(6)
            .with_hidden_size(5)
            .with_num_layers(2)
            .with_dropout(0.0)
            .init(&device);
        for (b, t) in [(4, 7), (1, 1), (1, 3), (3, 1)] {
            let x = Tensor::<3>::random(
                [b, t, 6],
                burn::tensor::Distribution::Uniform(-2.0, 2.0),
                &device,
            );
            let got: Vec<f32> = m
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let want: Vec<f32> = reference_forward(&m, x)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert_eq!(got.len(), b);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "b={b} t={t}: {got:?} vs {want:?}");
            }
            // Not a trivially constant output.
            assert!(b == 1 || got.iter().any(|g| (g - got[0]).abs() > 1e-4));
        }
    }

    #[test]
    fn every_way_of_computing_the_activations_gives_the_same_forward_pass() {
        let device = Device::flex();
        device.seed(5);
        let batch = ELEMENTWISE_BATCH + 8;
        let flags = |e: Elementwise| (e.sigmoid_by_exp, e.tanh_by_sigmoid);
        assert_eq!(flags(Elementwise::new(batch, &device)), (true, true));
        assert_eq!(
            flags(Elementwise::new(batch, &device.clone().autodiff())),
            (false, true)
        );
        assert_eq!(flags(Elementwise::new(1, &device)), (false, false));
        // The same weights on an autodiff device and without.
        let trained = ModelConfig::new(6)
            .with_hidden_size(5)
            .with_dropout(0.0)
            .init(&device.clone().autodiff());
        let plain = trained.valid();
        // Pre-activations far beyond exp's range too: e^(-x) overflows to ∞ there.
        let x = Tensor::<3>::random(
            [batch, 4, 6],
            burn::tensor::Distribution::Uniform(-200.0, 200.0),
            &device,
        );
        let by_exp: Vec<f32> = plain.forward(x.clone()).into_data().try_to_vec().unwrap();
        let burns_sigmoid: Vec<f32> = trained
            .forward(x.clone().autodiff())
            .into_data()
            .try_to_vec()
            .unwrap();
        for (k, (p, q)) in by_exp.iter().zip(&burns_sigmoid).enumerate() {
            assert!(p.is_finite() && (p - q).abs() < 1e-5, "{k}: {p} vs {q}");
            let alone: f32 = plain
                .forward(x.clone().slice([k..k + 1, 0..4, 0..6]))
                .into_scalar();
            assert!((p - alone).abs() < 1e-5, "{k}: {p} vs {alone} alone");
        }
    }

    #[test]
    fn layer_forward_keeps_batch_major_shape_and_order() {
        let device = Device::flex();
        let layer = FusedLstm::new(3, 4, &device);
        let x = Tensor::<3>::random([2, 5, 3], burn::tensor::Distribution::Default, &device);
        let all = layer.forward(x.clone());
        assert_eq!(all.dims(), [2, 5, 4]);
        // Sequence 1 alone gives the same outputs as in the batch.
        let one = layer.forward(x.slice([1..2, 0..5, 0..3]));
        let a: Vec<f32> = all
            .slice([1..2, 0..5, 0..4])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let o: Vec<f32> = one.into_data().try_to_vec::<f32>().unwrap();
        for (p, q) in a.iter().zip(&o) {
            assert!((p - q).abs() < 1e-6);
        }
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
