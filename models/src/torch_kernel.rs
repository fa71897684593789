//! Inference on LibTorch through LibTorch's own fused LSTM (`at::lstm`, the kernel behind
//! PyTorch's `nn.LSTM`), with the model's weights.
//!
//! burn drives LibTorch one small operation at a time: about 300 calls for one job, whose
//! per-call cost (0.61 ms a job, `bench/lstm.sh`) is more than the arithmetic. The network is
//! the same one: gate order (input, forget, cell, output), activations and the head are those
//! of [`crate::model`], and the weights are the trained burn module's, copied once when the
//! model is loaded. Training stays burn's. `tests/cross_backend.rs` checks that this path
//! predicts what flex predicts.

use anyhow::Context;

use burn::module::Param;
use burn::tensor::Tensor;

use crate::backend::Backend;
use crate::encode::EpisodeInput;
use crate::model::HoldModel;

/// Episodes per kernel call (bounds the `[T, B, F]` input).
const BATCH: usize = 1024;

/// A [`HoldModel`]'s weights as LibTorch tensors, laid out for `at::lstm`.
pub struct TorchLstm {
    /// Per layer: `w_ih [4H, I]`, `w_hh [4H, H]`, `b_ih [4H]`, `b_hh [4H]` (zeros: burn's
    /// fused layer has one bias).
    params: Vec<tch::Tensor>,
    /// `[H, 1]` and `[1]`.
    head_weight: tch::Tensor,
    head_bias: tch::Tensor,
    layers: usize,
    hidden: usize,
    device: tch::Device,
}

impl std::fmt::Debug for TorchLstm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchLstm")
            .field("layers", &self.layers)
            .field("hidden", &self.hidden)
            .field("device", &self.device)
            .finish()
    }
}

/// A burn tensor's values as a LibTorch tensor of the same shape, on `device`.
fn to_torch<const D: usize>(t: Tensor<D>, device: tch::Device) -> anyhow::Result<tch::Tensor> {
    let shape: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
    let v: Vec<f32> = t
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading model weights: {e:?}"))?;
    Ok(tch::Tensor::from_slice(&v).reshape(shape).to_device(device))
}

/// A `Linear`'s weight: burn keeps `[in, out]`, at::lstm wants `[out, in]`.
fn weight(w: &Param<Tensor<2>>, device: tch::Device) -> anyhow::Result<tch::Tensor> {
    Ok(to_torch(w.val(), device)?.transpose(0, 1).contiguous())
}

/// A `Linear`'s bias, or `len` zeros when it has none.
fn bias(
    b: Option<&Param<Tensor<1>>>,
    len: i64,
    device: tch::Device,
) -> anyhow::Result<tch::Tensor> {
    match b {
        Some(b) => to_torch(b.val(), device),
        None => Ok(tch::Tensor::zeros([len], (tch::Kind::Float, device))),
    }
}

impl TorchLstm {
    /// The weights of `model`, on the LibTorch device of `backend`; `None` for flex.
    pub fn new(model: &HoldModel, backend: Backend) -> anyhow::Result<Option<TorchLstm>> {
        let device = match backend {
            Backend::Flex => return Ok(None),
            Backend::LibTorch => tch::Device::Cpu,
            Backend::LibTorchCuda(n) => tch::Device::Cuda(n),
        };
        let hidden = model.layers[0].hidden_size;
        let h4 = 4 * hidden as i64;
        let mut params = Vec::with_capacity(4 * model.layers.len());
        for layer in &model.layers {
            params.extend([
                weight(&layer.input.weight, device)?,
                weight(&layer.recurrent.weight, device)?,
                bias(layer.input.bias.as_ref(), h4, device)?,
                // at::lstm adds a second bias; burn's fused layer has one.
                bias(None, h4, device)?,
            ]);
        }
        // The head's `[H, 1]` weight is used as it is (`last · W`).
        let head_weight = to_torch(model.head.weight.val(), device)?;
        let head_bias = bias(model.head.bias.as_ref(), 1, device)?;
        Ok(Some(TorchLstm {
            params,
            head_weight,
            head_bias,
            layers: model.layers.len(),
            hidden,
            device,
        }))
    }

    /// Logits for `inputs` (all of one shape), in order.
    pub fn logits(&self, inputs: &[&EpisodeInput]) -> anyhow::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(inputs.len());
        tch::no_grad(|| -> anyhow::Result<()> {
            for chunk in inputs.chunks(BATCH) {
                out.extend(self.chunk_logits(chunk)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn chunk_logits(&self, inputs: &[&EpisodeInput]) -> anyhow::Result<Vec<f32>> {
        let Some(first) = inputs.first() else {
            return Ok(Vec::new());
        };
        let (steps, width) = first.shape();
        let b = inputs.len();
        // Time-major `[T, B, F]`, padding rows included (zeros, as the encoder wrote them).
        let mut values = vec![0f32; steps * b * width];
        for (slot, x) in inputs.iter().enumerate() {
            x.write_time_major(0, slot, b, &mut values);
        }
        let x = tch::Tensor::from_slice(&values)
            .reshape([steps as i64, b as i64, width as i64])
            .to_device(self.device);
        let zeros = tch::Tensor::zeros(
            [self.layers as i64, b as i64, self.hidden as i64],
            (tch::Kind::Float, self.device),
        );
        let (y, _, _) = x.f_lstm(
            &[&zeros, &zeros],
            &self.params.iter().collect::<Vec<_>>(),
            true,
            self.layers as i64,
            0.0,
            false,
            false,
            false,
        )?;
        let last = y.get(steps as i64 - 1);
        let logits = (last.matmul(&self.head_weight) + &self.head_bias)
            .reshape([b as i64])
            .to_device(tch::Device::Cpu);
        Vec::<f32>::try_from(&logits).context("reading LibTorch's logits")
    }
}
