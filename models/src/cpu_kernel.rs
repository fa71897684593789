//! Inference of a few jobs on the CPU as plain loops over the model's weights.
//!
//! For one job (a `q`), burn's flex backend spends more on dispatching the forward pass's
//! few hundred small tensor operations than on the arithmetic: 0.4 ms for one network at
//! issue 4's shapes, about 0.64–0.96 ms for the default ensemble of three fused into one
//! (`bench/lstm.sh`). This is the same network, computed directly: gate order (input,
//! forget, cell, output), σ, tanh and the head are those of [`crate::model`], and the weights
//! are the trained burn module's, copied once when the model is loaded. Each step's input
//! projection reads only the input's non-zero cells (an encoded hold is mostly zeros), and
//! left padding is skipped by starting from the state the network reaches after it, as
//! [`crate::inference::model_logits`] does. Training and batches stay burn's; the tests check
//! this path against [`HoldModel::forward`].

use burn::module::Param;
use burn::tensor::Tensor;

use crate::encode::EpisodeInput;
use crate::model::HoldModel;

/// Inputs below which a second thread costs more than it saves.
const FEW_PER_THREAD: usize = 64;

/// One LSTM layer's weights, in burn's `Linear` layout (`[in, out]`, row-major).
#[derive(Debug, Clone)]
struct Layer {
    inputs: usize,
    /// `[inputs, 4H]`.
    input_weight: Vec<f32>,
    /// `[4H]`.
    bias: Vec<f32>,
    /// `[H, 4H]`.
    recurrent_weight: Vec<f32>,
}

/// A layer's `(h, c)`, `H` values each.
#[derive(Debug, Clone)]
struct State {
    h: Vec<f32>,
    c: Vec<f32>,
}

/// A [`HoldModel`]'s weights as plain vectors, for [`CpuLstm::logit`].
#[derive(Debug, Clone)]
pub struct CpuLstm {
    layers: Vec<Layer>,
    hidden: usize,
    head_weight: Vec<f32>,
    head_bias: f32,
    /// `prefix[p]`: every layer's state after `p` all-zero input steps from zeros.
    prefix: Vec<Vec<State>>,
    steps: usize,
    /// AVX2 found at load (x86-64): the loops are compiled for it as well.
    avx2: bool,
}

fn param<const D: usize>(p: &Param<Tensor<D>>) -> anyhow::Result<Vec<f32>> {
    p.val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading model weights: {e:?}"))
}

impl CpuLstm {
    /// The model's weights, for inputs of `steps` rows.
    pub fn new(model: &HoldModel, steps: usize) -> anyhow::Result<CpuLstm> {
        let hidden = model.layers[0].hidden_size;
        let mut layers = Vec::with_capacity(model.layers.len());
        for layer in &model.layers {
            let [inputs, width] = layer.input.weight.dims();
            anyhow::ensure!(
                width == 4 * hidden && layer.hidden_size == hidden,
                "LSTM layer of width {width}, expected 4 × {hidden}"
            );
            let mut bias = match &layer.input.bias {
                Some(b) => param(b)?,
                None => vec![0.0; 4 * hidden],
            };
            // Not how this model is built, but a recurrent bias adds to the same gates.
            if let Some(b) = &layer.recurrent.bias {
                bias.iter_mut().zip(param(b)?).for_each(|(b, e)| *b += e);
            }
            layers.push(Layer {
                inputs,
                input_weight: param(&layer.input.weight)?,
                bias,
                recurrent_weight: param(&layer.recurrent.weight)?,
            });
        }
        let head_weight = param(&model.head.weight)?;
        let head_bias = match &model.head.bias {
            Some(b) => param(b)?[0],
            None => 0.0,
        };
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        let mut kernel = CpuLstm {
            layers,
            hidden,
            head_weight,
            head_bias,
            prefix: Vec::new(),
            steps,
            avx2,
        };
        let zeros = State {
            h: vec![0.0; hidden],
            c: vec![0.0; hidden],
        };
        let mut states = vec![zeros; kernel.layers.len()];
        kernel.prefix.push(states.clone());
        let mut scratch = Scratch::default();
        scratch.input.resize(kernel.layers[0].inputs, 0.0);
        for _ in 0..steps {
            kernel.run(&mut states, 1, &mut scratch);
            kernel.prefix.push(states.clone());
        }
        Ok(kernel)
    }

    /// The raw logit for one input of this kernel's `steps` rows.
    pub fn logit(&self, x: &EpisodeInput) -> anyhow::Result<f32> {
        self.logit_in(x, &mut Scratch::default())
    }

    /// As [`logit`](Self::logit), with buffers reused from input to input.
    fn logit_in(&self, x: &EpisodeInput, scratch: &mut Scratch) -> anyhow::Result<f32> {
        let (steps, width) = x.shape();
        anyhow::ensure!(
            steps == self.steps && width == self.layers[0].inputs,
            "input of shape ({steps}, {width}), expected ({}, {})",
            self.steps,
            self.layers[0].inputs
        );
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only where the CPU was found to have AVX2.
            #[allow(unsafe_code)]
            return Ok(unsafe { self.logit_avx2(x, scratch) });
        }
        Ok(self.logit_portable(x, scratch))
    }

    /// Logits for many inputs, split over the available cores.
    pub fn logits(&self, inputs: &[&EpisodeInput]) -> anyhow::Result<Vec<f32>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(inputs.len() / FEW_PER_THREAD)
            .max(1);
        let run = |chunk: &[&EpisodeInput]| -> anyhow::Result<Vec<f32>> {
            let mut scratch = Scratch::default();
            chunk
                .iter()
                .map(|x| self.logit_in(x, &mut scratch))
                .collect()
        };
        if threads == 1 {
            return run(inputs);
        }
        let per = inputs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = inputs
                .chunks(per)
                .map(|chunk| scope.spawn(move || run(chunk)))
                .collect();
            let mut out = Vec::with_capacity(inputs.len());
            for h in handles {
                out.extend(h.join().expect("inference thread panicked")?);
            }
            Ok(out)
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn logit_avx2(&self, x: &EpisodeInput, scratch: &mut Scratch) -> f32 {
        self.logit_portable(x, scratch)
    }

    #[inline(always)]
    fn logit_portable(&self, x: &EpisodeInput, scratch: &mut Scratch) -> f32 {
        let padding = x.padding_rows();
        let real = self.steps - padding;
        let mut states = self.prefix[padding].clone();
        // The rows after the padding as a dense `[real, width]` block.
        scratch.input.clear();
        scratch.input.resize(real * self.layers[0].inputs, 0.0);
        x.write_time_major(padding, 0, 1, &mut scratch.input);
        let h = self.run(&mut states, real, scratch);
        let mut logit = self.head_bias;
        for (w, v) in self.head_weight.iter().zip(h) {
            logit += w * v;
        }
        logit
    }

    /// Runs the `real` rows of `scratch.input` through every layer from `states`, leaving
    /// each layer's last state there; returns the last layer's last `h`.
    #[inline(always)]
    fn run<'s>(&self, states: &'s mut [State], real: usize, scratch: &mut Scratch) -> &'s [f32] {
        let h4 = 4 * self.hidden;
        // The first layer's input projection for every step: bias + Σ value × weight row.
        let first = &self.layers[0];
        let width = first.inputs;
        scratch.projection.clear();
        for _ in 0..real {
            scratch.projection.extend_from_slice(&first.bias);
        }
        // Column by column, skipping zeros: each weight row is read once for all steps while
        // it is in cache (a dense 460-wide input read row by row went through the whole input
        // weight once per step).
        for col in 0..width {
            let weights = &first.input_weight[col * h4..(col + 1) * h4];
            for s in 0..real {
                let value = scratch.input[s * width + col];
                if value != 0.0 {
                    axpy(
                        &mut scratch.projection[s * h4..(s + 1) * h4],
                        value,
                        weights,
                    );
                }
            }
        }
        let last = self.layers.len() - 1;
        for (k, (layer, state)) in self.layers.iter().zip(states.iter_mut()).enumerate() {
            scratch.outputs.clear();
            for s in 0..real {
                let gates = &mut scratch.projection[s * h4..(s + 1) * h4];
                for (j, &hj) in state.h.iter().enumerate() {
                    if hj != 0.0 {
                        axpy(gates, hj, &layer.recurrent_weight[j * h4..(j + 1) * h4]);
                    }
                }
                step(gates, state, self.hidden);
                if k < last {
                    scratch.outputs.extend_from_slice(&state.h);
                }
            }
            if k < last {
                // The next layer's input projection from this layer's outputs.
                let next = &self.layers[k + 1];
                for s in 0..real {
                    let gates = &mut scratch.projection[s * h4..(s + 1) * h4];
                    gates.copy_from_slice(&next.bias);
                    let outputs = &scratch.outputs[s * self.hidden..(s + 1) * self.hidden];
                    for (j, &hj) in outputs.iter().enumerate() {
                        axpy(gates, hj, &next.input_weight[j * h4..(j + 1) * h4]);
                    }
                }
            }
        }
        &states[last].h
    }
}

/// Buffers reused across forward passes.
#[derive(Default)]
struct Scratch {
    /// `[real steps, 4H]`: a layer's gate pre-activations.
    projection: Vec<f32>,
    /// `[real steps, H]`: a layer's outputs.
    outputs: Vec<f32>,
    /// `[real steps, input width]`: the first layer's input.
    input: Vec<f32>,
}

/// `acc += a · w`.
#[inline(always)]
fn axpy(acc: &mut [f32], a: f32, w: &[f32]) {
    for (x, w) in acc.iter_mut().zip(w) {
        *x += a * w;
    }
}

/// e^x in f32 for the activations, written so the compiler can vectorise loops of it (the
/// C library's `expf` is a call per element): x = n·ln 2 + r with |r| ≤ ln 2 / 2,
/// e^x = 2^n · e^r, e^r by its Taylor polynomial to r⁷ (relative error under 2e-7 on that
/// range). Clamped to where 2^n is a normal f32, so e^(−∞..−87.3) is tiny, not 0, and
/// 1/(1 + e^(−x)) never divides by ∞.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // 2^n by its exponent bits; n + 127 is in 1..=254 on the clamped range.
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// σ as 1/(1 + e^(−x)).
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh as 2σ(2x) − 1.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}

/// One LSTM cell update from the step's gate pre-activations (`[i | f | g | o]`), as two
/// passes of the same operations over whole rows, which vectorise.
#[inline(always)]
fn step(gates: &mut [f32], state: &mut State, hidden: usize) {
    let (ifg, o) = gates.split_at_mut(3 * hidden);
    let (i_f, g) = ifg.split_at_mut(2 * hidden);
    i_f.iter_mut().for_each(|x| *x = sigmoid(*x));
    g.iter_mut().for_each(|x| *x = tanh(*x));
    o.iter_mut().for_each(|x| *x = sigmoid(*x));
    let (i, f) = i_f.split_at(hidden);
    for (j, c) in state.c.iter_mut().enumerate() {
        *c = f[j] * *c + i[j] * g[j];
    }
    for ((h, c), o) in state.h.iter_mut().zip(&state.c).zip(o.iter()) {
        *h = o * tanh(*c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, fuse_ensemble};
    use crate::testkit::Rng;
    use burn::tensor::{Device, TensorData};

    /// Inputs like the encoder's: a few all-zero rows in front, sparse rows after.
    fn input(rng: &mut Rng, steps: usize, width: usize, padding: usize) -> EpisodeInput {
        let values: Vec<f32> = (0..steps * width)
            .map(|k| {
                if k / width < padding || !rng.chance(0.3) {
                    0.0
                } else {
                    (rng.unit() * 4.0 - 2.0) as f32
                }
            })
            .collect();
        EpisodeInput::from_dense(steps, width, &values)
    }

    /// A fresh model of these shapes, and its kernel for `steps` rows.
    fn model_and_kernel(
        width: usize,
        hidden: usize,
        layers: usize,
        steps: usize,
    ) -> (HoldModel, CpuLstm) {
        let model = ModelConfig::new(width)
            .with_hidden_size(hidden)
            .with_num_layers(layers)
            .init(&Device::flex());
        let kernel = CpuLstm::new(&model, steps).unwrap();
        (model, kernel)
    }

    /// `got` is within `tolerance` of `want`, relative to 1 + |want|.
    fn assert_close(got: f32, want: f32, tolerance: f32, what: &str) {
        assert!(
            (want - got).abs() <= tolerance * (1.0 + want.abs()),
            "{what}: {got} against {want}"
        );
    }

    fn burn_logit(model: &HoldModel, x: &EpisodeInput, device: &Device) -> f32 {
        let (steps, width) = x.shape();
        let t = Tensor::<3>::from_data(TensorData::new(x.to_dense(), [1, steps, width]), device);
        model.forward(t).into_data().iter::<f32>().next().unwrap()
    }

    #[test]
    fn matches_burns_forward_pass() {
        let device = Device::flex();
        let mut rng = Rng::new(3);
        for (layers, hidden, width, steps) in [(2, 8, 11, 6), (1, 5, 4, 3), (3, 16, 30, 9)] {
            let (model, kernel) = model_and_kernel(width, hidden, layers, steps);
            for padding in 0..=steps {
                let x = input(&mut rng, steps, width, padding);
                assert_close(
                    kernel.logit(&x).unwrap(),
                    burn_logit(&model, &x, &device),
                    1e-4,
                    &format!("layers {layers}, hidden {hidden}, padding {padding}: kernel, burn"),
                );
            }
        }
    }

    #[test]
    fn portable_and_vectorised_loops_agree() {
        let (_, mut kernel) = model_and_kernel(20, 12, 2, 7);
        let mut rng = Rng::new(9);
        let x = input(&mut rng, 7, 20, 2);
        let fast = kernel.logit(&x).unwrap();
        kernel.avx2 = false;
        let plain = kernel.logit(&x).unwrap();
        assert_close(fast, plain, 1e-5, "AVX2, portable");
    }

    #[test]
    fn fused_ensemble_weights_give_the_members_mean() {
        // The same kernel over a fused ensemble, a network of a different shape from each
        // member, must still give the members' mean logit.
        let device = Device::flex();
        let members: Vec<HoldModel> = (0..3)
            .map(|_| ModelConfig::new(9).with_hidden_size(6).init(&device))
            .collect();
        let fused = CpuLstm::new(&fuse_ensemble(&members, &device), 5).unwrap();
        let each: Vec<CpuLstm> = members
            .iter()
            .map(|m| CpuLstm::new(m, 5).unwrap())
            .collect();
        let mut rng = Rng::new(4);
        for padding in [0, 2, 5] {
            let x = input(&mut rng, 5, 9, padding);
            let mean = each.iter().map(|k| k.logit(&x).unwrap()).sum::<f32>() / 3.0;
            assert_close(fused.logit(&x).unwrap(), mean, 1e-4, "fused, members' mean");
        }
    }

    #[test]
    fn exp_is_close_to_the_c_librarys() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert!(sigmoid(-1e30) >= 0.0 && sigmoid(-1e30) < 1e-37);
        assert_eq!(sigmoid(1e30), 1.0);
        assert_eq!(tanh(1e30), 1.0);
        assert_eq!(tanh(-1e30), -1.0);
    }

    #[test]
    fn many_inputs_over_threads_keep_their_order() {
        let (_, kernel) = model_and_kernel(10, 4, 2, 5);
        let mut rng = Rng::new(11);
        let inputs: Vec<EpisodeInput> = (0..300).map(|k| input(&mut rng, 5, 10, k % 5)).collect();
        let refs: Vec<&EpisodeInput> = inputs.iter().collect();
        let all = kernel.logits(&refs).unwrap();
        let one_by_one: Vec<f32> = refs.iter().map(|x| kernel.logit(x).unwrap()).collect();
        assert_eq!(all, one_by_one);
        // A wrong shape anywhere fails the whole call.
        let wrong = EpisodeInput::from_dense(4, 10, &[0.0; 40]);
        let mut refs = refs;
        refs[200] = &wrong;
        assert!(kernel.logits(&refs).is_err());
    }

    #[test]
    fn wrong_shape_is_an_error() {
        let (_, kernel) = model_and_kernel(4, 3, 2, 3);
        let err = kernel
            .logit(&EpisodeInput::from_dense(2, 4, &[0.0; 8]))
            .unwrap_err();
        assert!(err.to_string().contains("expected (3, 4)"), "{err}");
    }
}
