//! Where the cache and the model live: a flag, else an environment variable, else the
//! config file (`$XDG_CONFIG_HOME/holdadvisor/config.toml`, then `/etc/holdadvisor.toml`), else
//! the per-user default under `$XDG_CACHE_HOME`. A facilitator points every user at one
//! shared cache (written only by `collect`) with `cache = "/path"` in `/etc/holdadvisor.toml`.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The config file's keys.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub cache: Option<PathBuf>,
    pub model: Option<PathBuf>,
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(fallback)))
}

/// The config files that exist, most specific first.
pub fn config_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(p) = std::env::var_os("HOLDADVISOR_CONFIG") {
        files.push(PathBuf::from(p));
    }
    if let Some(dir) = xdg("XDG_CONFIG_HOME", ".config") {
        files.push(dir.join("holdadvisor/config.toml"));
    }
    files.push(PathBuf::from("/etc/holdadvisor.toml"));
    files.into_iter().filter(|p| p.is_file()).collect()
}

fn read_config(path: &Path) -> anyhow::Result<ConfigFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| {
        format!(
            "{}: expected `cache = \"PATH\"` and/or `model = \"DIR\"`",
            path.display()
        )
    })
}

/// The cache file to use.
pub fn cache_path(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("HOLDADVISOR_CACHE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    for file in config_files() {
        if let Some(p) = read_config(&file)?.cache {
            return Ok(p);
        }
    }
    own_cache_path()
}

/// This user's own cache (`$XDG_CACHE_HOME/holdadvisor/cache.sqlite`): the default, and where
/// `q` and `scan` keep what they compute when the configured cache is shared and read-only
/// to them.
pub fn own_cache_path() -> anyhow::Result<PathBuf> {
    let dir =
        xdg("XDG_CACHE_HOME", ".cache").context("no HOME or XDG_CACHE_HOME: give --cache PATH")?;
    Ok(dir.join("holdadvisor/cache.sqlite"))
}

/// The model directory to use: flag, `HOLDADVISOR_MODEL`, config file, else the default
/// model shipped with holdadvisor (trained on simulated data).
pub fn model_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("HOLDADVISOR_MODEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    for file in config_files() {
        if let Some(p) = read_config(&file)?.model {
            return Ok(p);
        }
    }
    Ok(shipped_model_dir())
}

/// The shipped model, compiled into the binary (about 160 KB): an installed or copied
/// binary has it without the source tree.
const EMBEDDED_MODEL: &[(&str, &[u8])] = &[
    (
        "manifest.json",
        include_bytes!("../models/default/manifest.json"),
    ),
    (
        "encoder.json",
        include_bytes!("../models/default/encoder.json"),
    ),
    ("model.json", include_bytes!("../models/default/model.json")),
    ("model.bpk", include_bytes!("../models/default/model.bpk")),
    (
        "training.json",
        include_bytes!("../models/default/training.json"),
    ),
    (
        "metrics.jsonl",
        include_bytes!("../models/default/metrics.jsonl"),
    ),
    ("README.md", include_bytes!("../models/default/README.md")),
];

/// The shipped model's manifest, as compiled in.
pub fn embedded_manifest() -> &'static [u8] {
    EMBEDDED_MODEL[0].1
}

/// The default model: a `holdadvisor-model` directory beside the binary (a packager's
/// choice), else the model compiled into the binary, written out once under the user's cache
/// directory (the loader reads a directory). A copy there that differs from the compiled
/// bytes is written again, so nothing another user left in a shared temporary directory is
/// loaded as the shipped model.
pub fn shipped_model_dir() -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("holdadvisor-model")));
    match beside_exe {
        Some(d) if d.join("manifest.json").is_file() => d,
        _ => write_embedded_model().unwrap_or_else(|e| {
            eprintln!("holdadvisor: could not write out the shipped model: {e:#}");
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default")
        }),
    }
}

fn write_embedded_model() -> anyhow::Result<PathBuf> {
    // FNV-1a of every file: a new model gets a new directory.
    let mut fnv = holdadvisor_models::hash::Fnv64::default();
    for (_, bytes) in EMBEDDED_MODEL {
        fnv.write(bytes);
    }
    let hash = fnv.finish();
    let base = match xdg("XDG_CACHE_HOME", ".cache") {
        Some(d) => d.join("holdadvisor/models"),
        // SAFETY: getuid has no preconditions.
        None => {
            std::env::temp_dir().join(format!("holdadvisor-models-{}", unsafe { libc::getuid() }))
        }
    };
    let dir = base.join(format!("shipped-{hash:016x}"));
    let intact = |dir: &Path| {
        EMBEDDED_MODEL
            .iter()
            .all(|(name, bytes)| std::fs::read(dir.join(name)).is_ok_and(|b| b == *bytes))
    };
    if intact(&dir) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    // Written beside, then renamed into place: a concurrent process sees all of it or none.
    let tmp = base.join(format!(".shipped-{hash:016x}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    for (name, bytes) in EMBEDDED_MODEL {
        std::fs::write(tmp.join(name), bytes)
            .with_context(|| format!("writing {}", tmp.join(name).display()))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("replacing {}", dir.display()))?;
    }
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        // Another process put an intact copy there first.
        if !intact(&dir) {
            return Err(e)
                .with_context(|| format!("moving the shipped model to {}", dir.display()));
        }
    }
    Ok(dir)
}
