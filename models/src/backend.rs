//! Which burn backend runs a model, chosen at run time through burn's `Device`: burn's
//! pure-Rust CPU backend (`flex`) by default, LibTorch with the `tch` feature.

use anyhow::bail;
use burn::tensor::Device;

/// Which burn backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the default build).
    #[default]
    Flex,
    /// LibTorch on the CPU (`--features tch`).
    #[cfg(feature = "tch")]
    LibTorch,
    /// LibTorch on CUDA device N (`--features tch`).
    #[cfg(feature = "tch")]
    LibTorchCuda(usize),
}

impl Backend {
    /// What `--device` accepts.
    pub const HELP: &'static str = "flex (burn's pure-Rust CPU backend, the default), cpu (LibTorch on the CPU; also `tch`, `libtorch`) or cuda[:N] (LibTorch on CUDA device N); cpu and cuda need holdadvisor built with `--features tch`";

    /// `flex`; `cpu` (also `tch`, `libtorch`): LibTorch on the CPU; `cuda` / `cuda:N`:
    /// LibTorch on a CUDA device. The LibTorch ones fail clearly in a build without `tch`.
    pub fn parse(name: &str) -> anyhow::Result<Backend> {
        let cuda = match name {
            "flex" => return Ok(Backend::Flex),
            "cpu" | "tch" | "libtorch" => None,
            "cuda" => Some(0),
            n if n.starts_with("cuda:") => {
                Some(n["cuda:".len()..].parse::<usize>().map_err(|_| {
                    anyhow::anyhow!("device {name:?}: expected cuda:N with N a device number")
                })?)
            }
            _ => bail!("unknown device {name:?}: expected {}", Backend::HELP),
        };
        #[cfg(feature = "tch")]
        return Ok(match cuda {
            None => Backend::LibTorch,
            Some(n) => Backend::LibTorchCuda(n),
        });
        #[cfg(not(feature = "tch"))]
        {
            let _ = cuda;
            bail!(
                "device {name:?} runs on LibTorch, but this holdadvisor was built without it: rebuild with `cargo build --release --features tch` (README: \"LibTorch (tch) backend\"), or use --device flex"
            )
        }
    }

    /// The name `parse` reads back.
    pub fn name(self) -> String {
        match self {
            Backend::Flex => "flex".into(),
            #[cfg(feature = "tch")]
            Backend::LibTorch => "cpu".into(),
            #[cfg(feature = "tch")]
            Backend::LibTorchCuda(n) => format!("cuda:{n}"),
        }
    }

    /// Whether the device is the machine's CPU (flex, or LibTorch's CPU device): there a few
    /// inputs are predicted by plain loops over the weights ([`CpuLstm`]).
    pub fn is_cpu(self) -> bool {
        match self {
            Backend::Flex => true,
            #[cfg(feature = "tch")]
            Backend::LibTorch => true,
            #[cfg(feature = "tch")]
            Backend::LibTorchCuda(_) => false,
        }
    }

    /// The burn device (without autodiff).
    #[allow(deprecated)]
    pub fn device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            #[cfg(feature = "tch")]
            Backend::LibTorch => Device::libtorch(),
            #[cfg(feature = "tch")]
            Backend::LibTorchCuda(n) => Device::libtorch_cuda(n),
        }
    }
}
