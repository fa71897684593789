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

/// The default model in the source tree (`models/default`), or beside the installed binary.
pub fn shipped_model_dir() -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("holdadvisor-model")));
    match beside_exe {
        Some(d) if d.join("manifest.json").is_file() => d,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default"),
    }
}
