//! Progress bars on stderr for long work (reading a large event log), drawn only when stderr
//! is a terminal: redirected output and logs stay free of them.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` bytes of `what`, or `None` when stderr is not a terminal.
pub fn bytes(len: u64, what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    Some(bar)
}

/// A bar over the bytes of the file at `path`, labelled "reading PATH"; see [`bytes`].
pub fn reading(path: &Path) -> Option<ProgressBar> {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    bytes(len, &format!("reading {}", path.display()))
}
