//! `holdadvisor serve`: the facilitator's dashboard, a read-only web app over the cache that
//! `collect` writes. Every page has its JSON under `/api/`; no route changes anything (other
//! methods get 405), and the cache is opened read-only.

pub mod data;
pub mod html;

use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;

use crate::cache::Cache;
use data::Overview;

/// What the server holds: the cache (read-only), the model's manifest, and what the cache
/// held when it last changed, with its overview.
pub struct App {
    cache: Mutex<Cache>,
    cache_path: PathBuf,
    model_dir: String,
    manifest: serde_json::Value,
    current: Mutex<Option<Current>>,
    refresh_seconds: u32,
}

/// The cache as of one [`Version`]: its open holds and their overview.
#[derive(Clone)]
struct Current {
    version: Version,
    snapshot: Arc<data::Snapshot>,
    overview: Arc<Overview>,
}

/// The cache files' sizes and modification times: a `collect` that writes changes them.
type Version = Vec<(u64, Option<SystemTime>)>;

fn version(path: &FsPath) -> Version {
    ["", "-wal"]
        .iter()
        .map(|suffix| {
            let mut p = path.as_os_str().to_os_string();
            p.push(suffix);
            std::fs::metadata(PathBuf::from(p))
                .map(|m| (m.len(), m.modified().ok()))
                .unwrap_or((0, None))
        })
        .collect()
}

impl App {
    pub fn new(cache: Cache, model_dir: String, manifest: serde_json::Value) -> App {
        App {
            cache_path: cache.path().to_path_buf(),
            cache: Mutex::new(cache),
            model_dir,
            manifest,
            current: Mutex::new(None),
            refresh_seconds: 30,
        }
    }

    fn with_cache<T>(&self, f: impl FnOnce(&Cache) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let cache = self
            .cache
            .lock()
            .map_err(|_| anyhow::anyhow!("the cache connection was poisoned"))?;
        f(&cache)
    }

    /// The cache's open holds and overview, read and computed again only when the cache
    /// files changed since the last time.
    fn current(&self) -> anyhow::Result<Current> {
        let now = version(&self.cache_path);
        if let Ok(memo) = self.current.lock()
            && let Some(c) = memo.as_ref()
            && c.version == now
        {
            return Ok(c.clone());
        }
        let snapshot = self.with_cache(data::snapshot)?;
        let fresh = Current {
            version: now,
            overview: Arc::new(data::overview(&snapshot, None)),
            snapshot: Arc::new(snapshot),
        };
        if let Ok(mut memo) = self.current.lock() {
            *memo = Some(fresh.clone());
        }
        Ok(fresh)
    }

    pub fn overview(&self) -> anyhow::Result<Arc<Overview>> {
        Ok(self.current()?.overview)
    }

    /// One owner's overview, from the same read of the cache.
    pub fn owner_overview(&self, owner: &str) -> anyhow::Result<Overview> {
        Ok(data::overview(&self.current()?.snapshot, Some(owner)))
    }
}

/// An error as a plain-text 500 (or the status it names).
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n"))
    }
}

/// Runs `f` where blocking is allowed: the cache's own runtime answers it.
async fn blocking<T: Send + 'static>(
    app: Arc<App>,
    f: impl FnOnce(&App) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))?
        .map_err(Failure::from)
}

fn parse_job(id: &str) -> Result<(i64, i64), Failure> {
    data::job_id(id).ok_or_else(|| {
        Failure(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not a job id: expected ClusterId.ProcId, as 1234.0\n"),
        )
    })
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(overview_page))
        .route("/owner/{owner}", get(owner_page))
        .route("/job/{id}", get(job_page))
        .route("/feedback", get(feedback_page))
        .route("/model", get(model_page))
        .route("/static/style.css", get(stylesheet))
        .route("/plot/holds-per-day.svg", get(holds_per_day_plot))
        .route("/plot/reliability.svg", get(reliability_plot))
        .route("/api/overview", get(overview_api))
        .route("/api/owners/{owner}", get(owner_api))
        .route("/api/jobs/{id}", get(job_api))
        .route("/api/feedback", get(feedback_api))
        .route("/api/model", get(model_api))
        .with_state(app)
}

async fn overview_page(State(app): State<Arc<App>>) -> Result<Html<String>, Failure> {
    let refresh = app.refresh_seconds;
    let o = blocking(app, |a| a.overview()).await?;
    Ok(Html(html::page(
        "Held jobs",
        &html::overview(&o, None),
        refresh,
    )))
}

async fn overview_api(State(app): State<Arc<App>>) -> Result<Json<Arc<Overview>>, Failure> {
    Ok(Json(blocking(app, |a| a.overview()).await?))
}

async fn owner_page(
    State(app): State<Arc<App>>,
    Path(owner): Path<String>,
) -> Result<Html<String>, Failure> {
    let refresh = app.refresh_seconds;
    let who = owner.clone();
    let o = blocking(app, move |a| a.owner_overview(&who)).await?;
    Ok(Html(html::page(
        &format!("Held jobs of {owner}"),
        &html::overview(&o, Some(&owner)),
        refresh,
    )))
}

async fn owner_api(
    State(app): State<Arc<App>>,
    Path(owner): Path<String>,
) -> Result<Json<Overview>, Failure> {
    Ok(Json(
        blocking(app, move |a| a.owner_overview(&owner)).await?,
    ))
}

async fn job_data(app: Arc<App>, id: &str) -> Result<data::JobPage, Failure> {
    let (cluster, proc) = parse_job(id)?;
    let page = blocking(app, move |a| a.with_cache(|c| data::job(c, cluster, proc))).await?;
    if page.job.is_none() && page.holds.is_empty() {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("job {id} is not in the cache\n"),
        ));
    }
    Ok(page)
}

async fn job_page(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Html<String>, Failure> {
    let refresh = app.refresh_seconds;
    let page = job_data(app, &id).await?;
    Ok(Html(html::page(
        &format!("Job {}", page.id),
        &html::job(&page),
        refresh,
    )))
}

async fn job_api(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<data::JobPage>, Failure> {
    Ok(Json(job_data(app, &id).await?))
}

async fn feedback_page(State(app): State<Arc<App>>) -> Result<Html<String>, Failure> {
    let refresh = app.refresh_seconds;
    let (f, _, _) = blocking(app, |a| a.with_cache(data::feedback)).await?;
    Ok(Html(html::page(
        "How past advice turned out",
        &html::feedback(&f),
        refresh,
    )))
}

async fn feedback_api(State(app): State<Arc<App>>) -> Result<Json<data::FeedbackPage>, Failure> {
    Ok(Json(
        blocking(app, |a| a.with_cache(data::feedback)).await?.0,
    ))
}

async fn model_page(State(app): State<Arc<App>>) -> Html<String> {
    Html(html::page(
        "The model",
        &html::model(&app.manifest, &app.model_dir),
        app.refresh_seconds,
    ))
}

async fn model_api(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "dir": app.model_dir, "manifest": app.manifest }))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("style.css"),
    )
}

fn svg(text: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], text).into_response()
}

async fn holds_per_day_plot(State(app): State<Arc<App>>) -> Result<Response, Failure> {
    let o = blocking(app, |a| a.overview()).await?;
    let days: Vec<(String, i64, i64)> = o
        .holds_per_day
        .iter()
        .map(|d| (d.day.clone(), d.holds, d.open))
        .collect();
    let text = tokio::task::spawn_blocking(move || {
        crate::report::holds_per_day_svg_text("Holds a day (UTC)", &days)
    })
    .await
    .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(svg(text))
}

async fn reliability_plot(State(app): State<Arc<App>>) -> Result<Response, Failure> {
    let text = blocking(app, |a| {
        let (f, probs, labels) = a.with_cache(data::feedback)?;
        crate::report::reliability_svg_text(
            &format!(
                "How past advice turned out: {} scored holds ({} censored left out)",
                f.report.all.predictions, f.report.all.censored
            ),
            "past predictions",
            &probs,
            &labels,
        )
    })
    .await?;
    Ok(svg(text))
}

/// Whether `addr` is reachable only from this machine.
pub fn loopback_only(addr: &std::net::SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// The manifest of the model directory, or of the model compiled in.
pub fn manifest_of(dir: &FsPath) -> serde_json::Value {
    std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .or_else(|| serde_json::from_slice(crate::config::embedded_manifest()).ok())
        .unwrap_or(serde_json::Value::Null)
}
