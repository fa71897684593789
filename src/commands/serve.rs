//! `holdadvisor serve`: the dashboard ([`crate::dashboard`]) over the configured cache.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::cache::Cache;
use crate::config;
use crate::dashboard::{App, loopback_only, manifest_of, router};

/// Arguments of `holdadvisor serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The cache to show (opened read-only); default: the configured one, as `q` finds it.
    #[arg(long, value_name = "PATH")]
    pub cache: Option<PathBuf>,
    /// Address and port to listen on; port 0 takes a free one. Anything but loopback makes
    /// every held job's owner, reason and advice visible to whoever can reach it.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The model whose manifest the model page shows; default: as `q` finds it.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let path = config::cache_path(args.cache.as_deref())?;
    let cache = Cache::open_read_only(&path)
        .with_context(|| format!("opening the cache {} to read", path.display()))?;
    let model_dir = config::model_dir(args.model.as_deref())?;
    let app = Arc::new(App::new(
        cache,
        model_dir.display().to_string(),
        manifest_of(&model_dir),
    ));
    if !loopback_only(&args.listen) {
        eprintln!(
            "holdadvisor serve: warning: listening on {}, not loopback: anyone who can reach it sees every held job's owner, reason and advice (there is no login)",
            args.listen
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let bound = listener.local_addr()?;
        // The first line says where: scripts and tests read it (port 0 picks one).
        println!(
            "serving http://{bound}/ (cache {}, read-only)",
            path.display()
        );
        use std::io::Write as _;
        std::io::stdout().flush()?;
        axum::serve(listener, router(app))
            .await
            .context("serving the dashboard")
    })?;
    Ok(ExitCode::SUCCESS)
}
