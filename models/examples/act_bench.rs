//! Time of burn's elementwise activations on flex, per `[1024, 128]` tensor (a batch of LSTM
//! gates with hidden 32): why the model computes tanh as 2σ(2x) − 1 and, at inference,
//! σ(x) as 1/(1 + e^(−x)). One thread:
//!     RAYON_NUM_THREADS=1 cargo run --release -p holdadvisor-models --example act_bench
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;
fn main() {
    let device = Device::flex();
    let x = Tensor::<2>::random([1024, 128], Distribution::Uniform(-4.0, 4.0), &device);
    let n = 2000;
    for round in 0..2 {
        let t = Instant::now();
        for _ in 0..n {
            let y = sigmoid(x.clone() * 1.0);
            std::hint::black_box(y);
        }
        let a = t.elapsed().as_secs_f64() / n as f64 * 1e6;
        let t = Instant::now();
        for _ in 0..n {
            let y = (x.clone() * -1.0).exp().add_scalar(1.0).recip();
            std::hint::black_box(y);
        }
        let b = t.elapsed().as_secs_f64() / n as f64 * 1e6;
        let t = Instant::now();
        for _ in 0..n {
            let y = x.clone() * 1.0;
            std::hint::black_box(y);
        }
        let c = t.elapsed().as_secs_f64() / n as f64 * 1e6;
        let t = Instant::now();
        for _ in 0..n {
            let y = (x.clone() * 1.0).tanh();
            std::hint::black_box(y);
        }
        let d = t.elapsed().as_secs_f64() / n as f64 * 1e6;
        let t = Instant::now();
        for _ in 0..n {
            let y = (x.clone() * -1.0).exp();
            std::hint::black_box(y);
        }
        let e = t.elapsed().as_secs_f64() / n as f64 * 1e6;
        println!(
            "round {round}: µs per [1024,128]: mul {c:.1}, sigmoid(+mul) {a:.1}, 1/(1+exp(-x)) {b:.1}, tanh(+mul) {d:.1}, exp(+mul) {e:.1}"
        );
    }
}
