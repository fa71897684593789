//! The prediction cache: one SQLite file (WAL, busy timeout), shared by every holdadvisor
//! process on an access point. This module is the one place that opens it.
//!
//! Writes take the write lock up front (`BEGIN IMMEDIATE`) so that concurrent readers and
//! writers wait for each other (up to the busy timeout) instead of failing with "database is
//! locked"; each write is one transaction, so a crash loses nothing that was committed and
//! leaves nothing half-written.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection};

/// Bound parameters per statement: SQLite's default limit (SQLITE_MAX_VARIABLE_NUMBER).
const MAX_BOUND: usize = 32766;

/// The cache's schema, from `migrations/`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// SQLite's write-ahead log beside the cache file.
fn wal_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// How long a process waits for another's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct EpisodeRow {
    pub id: i64,
    pub cluster: i64,
    pub proc: i64,
    pub episode: i64,
    pub hold_time: i64,
    pub code: i64,
    pub subcode: i64,
    pub reason: Option<String>,
    pub site: Option<String>,
    pub entered: Option<i64>,
}

/// A hold episode to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEpisode {
    pub cluster: i64,
    pub proc: i64,
    pub episode: i64,
    pub hold_time: i64,
    pub code: i64,
    pub subcode: i64,
    pub reason: Option<String>,
    pub site: Option<String>,
    /// EnteredCurrentStatus from condor_q, when known.
    pub entered: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct PredictionRow {
    pub episode_id: i64,
    pub model_id: String,
    pub probability: f64,
    pub advice: String,
    pub confidence: f64,
    pub explanation: String,
    /// The commands, one per line.
    pub commands: String,
    pub created: i64,
}

/// A prediction joined with its episode and, when known, its outcome (for `feedback`).
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct JudgedPrediction {
    pub hold_time: i64,
    /// The job's holds before this one (NumHolds − 1 at this hold).
    pub episode: i64,
    pub code: i64,
    pub subcode: i64,
    pub probability: f64,
    pub advice: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Position {
    pub path: String,
    pub dev: i64,
    pub inode: i64,
    pub offset: i64,
    pub line: i64,
}

/// A prediction to store, with its episode and what is known of the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub episode: NewEpisode,
    pub prediction: PredictionRow,
    pub owner: Option<String>,
    pub user_log: Option<String>,
}

/// Per-(code, subcode) outcomes recorded in this pool.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CodeHistory {
    pub episodes: i64,
    pub positive: i64,
    pub negative: i64,
}

/// A recorded episode of a job and the prediction a model made for it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodePrediction {
    pub cluster: i64,
    pub proc: i64,
    pub episode: i64,
    pub hold_time: i64,
    pub entered: Option<i64>,
    pub prediction: Option<CachedPrediction>,
}

/// What `q` and `scan` show of a stored prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedPrediction {
    pub probability: f64,
    pub advice: String,
    pub confidence: f64,
    pub explanation: String,
    pub commands: String,
}

/// A job's newest hold with no outcome in the log yet, with its newest prediction: held, or
/// released and not yet ended (the dashboard's open holds).
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct OpenHold {
    pub cluster: i64,
    pub proc: i64,
    pub owner: Option<String>,
    pub hold_time: i64,
    pub code: i64,
    pub subcode: i64,
    pub reason: Option<String>,
    pub site: Option<String>,
    pub advice: Option<String>,
    pub probability: Option<f64>,
    pub confidence: Option<f64>,
}

/// One hold of a job, its outcome when known and its newest prediction (a job's page).
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct JobHold {
    pub episode: i64,
    pub hold_time: i64,
    pub code: i64,
    pub subcode: i64,
    pub reason: Option<String>,
    pub site: Option<String>,
    /// `positive`, `negative` or `censored` (see `migrations/`), once the log says.
    pub outcome: Option<String>,
    pub outcome_observed: Option<i64>,
    pub model_id: Option<String>,
    pub advice: Option<String>,
    pub probability: Option<f64>,
    pub confidence: Option<f64>,
    pub explanation: Option<String>,
    pub commands: Option<String>,
    pub predicted: Option<i64>,
}

/// What the cache knows of a job.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct JobRow {
    pub owner: Option<String>,
    pub user_log: Option<String>,
    pub first_seen: i64,
}

/// The lookup's JSON array per row, in the order of its `json_array(...)` (see
/// `episodes_with_predictions`); serde reads a struct from an array field by field.
#[derive(serde::Deserialize)]
struct EpisodePredictionColumns {
    cluster: i64,
    proc: i64,
    episode: i64,
    hold_time: i64,
    entered: Option<i64>,
    probability: Option<f64>,
    advice: Option<String>,
    confidence: Option<f64>,
    explanation: Option<String>,
    commands: Option<String>,
}

/// The cache. Methods are synchronous: each runs on the cache's own small runtime.
pub struct Cache {
    rt: tokio::runtime::Runtime,
    pool: SqlitePool,
    path: PathBuf,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// SQLite can answer SQLITE_BUSY at once, without waiting out the busy timeout (a WAL
/// snapshot that moved, a connection opening while another checkpoints). Such an answer is
/// retried, with a growing pause, for up to the busy timeout; a transaction that got it was
/// rolled back, so running it again is safe.
fn retry_busy<T, E: std::fmt::Display>(mut attempt: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match attempt() {
            Err(e)
                if started.elapsed() < BUSY_TIMEOUT && {
                    let text = e.to_string().to_ascii_lowercase();
                    text.contains("database is locked") || text.contains("database is busy")
                } =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

impl Cache {
    /// Opens (creating if needed) the cache at `path` for writing and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> anyhow::Result<Cache> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the cache directory {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .with_context(|| format!("cache path {}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let cache = Cache::connect(path, options)?;
        cache.refuse_newer_schema()?;
        cache.migrate()?;
        Ok(cache)
    }

    /// Opens an existing cache only to read it: the shared cache a facilitator's `collect`
    /// writes and users may not. Its schema is taken as it is (a reader cannot migrate it).
    ///
    /// SQLite reads a WAL database read-only through its `-shm` file, which exists while a
    /// writer (`collect --follow`) has it open; when none has, and the directory is not
    /// writable, it cannot make one. Then, if no `-wal` file is left beside it (everything is
    /// in the main file), it is read as immutable.
    pub fn open_read_only(path: &Path) -> anyhow::Result<Cache> {
        if !path.is_file() {
            anyhow::bail!("no cache at {}", path.display());
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .with_context(|| format!("cache path {}", path.display()))?
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The first query (the schema check) is what fails without a `-shm`.
        let opened = Cache::connect(path, options.clone()).and_then(|c| {
            c.refuse_newer_schema()?;
            Ok(c)
        });
        let cache = match opened {
            Ok(c) => return Ok(c),
            Err(e) if !wal_file(path).exists() => {
                let immutable = options.immutable(true);
                Cache::connect(path, immutable).map_err(|_| e)?
            }
            Err(e) => return Err(e),
        };
        cache.refuse_newer_schema()?;
        Ok(cache)
    }

    /// Whether this process may write the cache at `path` (the file, or where it would be
    /// created, and the directory SQLite keeps its `-wal` and `-shm` files in).
    pub fn writable(path: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let can_write = |p: &Path| {
            let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
                return false;
            };
            // SAFETY: a NUL-terminated path; access(2) only reads it.
            unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
        };
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d.to_path_buf(),
            None => PathBuf::from("."),
        };
        if path.exists() {
            can_write(path) && can_write(&dir)
        } else {
            // Created with its directories: the nearest existing ancestor decides.
            let mut d = dir.as_path();
            loop {
                if d.exists() {
                    return can_write(d);
                }
                match d.parent().filter(|p| !p.as_os_str().is_empty()) {
                    Some(p) => d = p,
                    None => return can_write(Path::new(".")),
                }
            }
        }
    }

    fn connect(path: &Path, options: SqliteConnectOptions) -> anyhow::Result<Cache> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the cache's runtime")?;
        let pool = retry_busy(|| {
            rt.block_on(
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(BUSY_TIMEOUT)
                    .connect_with(options.clone()),
            )
        })
        .with_context(|| format!("opening the cache {}", path.display()))?;
        Ok(Cache {
            rt,
            pool,
            path: path.to_path_buf(),
        })
    }

    /// A cache whose schema is newer than this version knows was written by a newer
    /// holdadvisor: reading or migrating it would misread it, so say so in those words.
    fn refuse_newer_schema(&self) -> anyhow::Result<()> {
        let known = MIGRATOR
            .migrations
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        let applied: Option<i64> = self
            .read(
                sqlx::query_scalar(
                    "SELECT MAX(version) FROM _sqlx_migrations
                 WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
                )
                .fetch_optional(&self.pool),
            )
            .or_else(|e| {
                // A cache made before any migration ran has no such table.
                if format!("{e:#}").contains("no such table") {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?
            .flatten();
        if let Some(v) = applied.filter(|&v| v > known) {
            anyhow::bail!(
                "the cache {} was written by a newer version of holdadvisor (its schema is version {v}; this version knows up to {known}): use that version, or give another --cache",
                self.path.display()
            );
        }
        Ok(())
    }

    /// Runs a read, naming the cache in its error (a damaged file says "database disk image is
    /// malformed", which does not say which file).
    fn read<T>(
        &self,
        query: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> anyhow::Result<T> {
        self.rt
            .block_on(query)
            .with_context(|| format!("reading the cache {}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves everything in the write-ahead log into the database file and empties the log
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`): a writer that is done leaves its data in the file
    /// that is copied and backed up, not in `-wal`. Readers still open keep it from finishing;
    /// that is reported as not done, not as an error.
    pub fn checkpoint(&self) -> anyhow::Result<bool> {
        let (busy, _, _): (i64, i64, i64) = retry_busy(|| {
            self.rt
                .block_on(sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.pool))
        })
        .with_context(|| format!("checkpointing the cache {}", self.path.display()))?;
        Ok(busy == 0)
    }

    fn migrate(&self) -> anyhow::Result<()> {
        // Two processes opening a new cache at once may race to apply the same migration;
        // the loser sees it applied when it looks again.
        let mut last = None;
        for _ in 0..5 {
            match retry_busy(|| self.rt.block_on(MIGRATOR.run(&self.pool))) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        Err(anyhow::anyhow!(
            "migrating the cache {}: {}",
            self.path.display(),
            last.map(|e| e.to_string()).unwrap_or_default()
        ))
    }

    /// Runs `f` inside `BEGIN IMMEDIATE ... COMMIT` on one connection.
    fn write<T>(
        &self,
        f: impl AsyncFn(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> anyhow::Result<T> {
        retry_busy(|| {
            self.rt.block_on(async {
                let mut conn = self.pool.acquire().await?;
                sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
                match f(&mut conn).await {
                    Ok(v) => {
                        sqlx::query("COMMIT").execute(&mut *conn).await?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                        Err(e)
                    }
                }
            })
        })
        .with_context(|| format!("writing the cache {}", self.path.display()))
    }

    /// Records episodes (ignoring ones already recorded) and moves an ingestion position, in
    /// one transaction: a crash keeps both or neither, so nothing is lost or counted twice.
    /// Returns (episodes added, outcomes added or changed).
    pub fn record(
        &self,
        episodes: &[NewEpisode],
        outcomes: &[(i64, i64, i64, String)],
        position: Option<&Position>,
    ) -> anyhow::Result<(usize, usize)> {
        self.write(async |c| {
            let mut added = 0;
            for e in episodes {
                let r = sqlx::query(
                    "INSERT OR IGNORE INTO hold_episodes (cluster, proc, episode, hold_time, code, subcode, reason, site)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(e.cluster)
                .bind(e.proc)
                .bind(e.episode)
                .bind(e.hold_time)
                .bind(e.code)
                .bind(e.subcode)
                .bind(&e.reason)
                .bind(&e.site)
                .execute(&mut *c)
                .await?;
                added += r.rows_affected() as usize;
            }
            let mut changed = 0;
            for (cluster, proc, hold_time, label) in outcomes {
                let r = sqlx::query(
                    "INSERT INTO outcomes (episode_id, label, observed)
                     SELECT id, ?, ? FROM hold_episodes WHERE cluster = ? AND proc = ? AND hold_time = ? AND true
                     ON CONFLICT (episode_id) DO UPDATE SET label = excluded.label WHERE label != excluded.label",
                )
                .bind(label)
                .bind(now())
                .bind(cluster)
                .bind(proc)
                .bind(hold_time)
                .execute(&mut *c)
                .await?;
                changed += r.rows_affected() as usize;
            }
            if let Some(p) = position {
                sqlx::query(
                    "INSERT INTO ingest_positions (path, dev, inode, offset, line, updated) VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (path) DO UPDATE SET dev = excluded.dev, inode = excluded.inode,
                     offset = excluded.offset, line = excluded.line, updated = excluded.updated",
                )
                .bind(&p.path)
                .bind(p.dev)
                .bind(p.inode)
                .bind(p.offset)
                .bind(p.line)
                .bind(now())
                .execute(&mut *c)
                .await?;
            }
            Ok((added, changed))
        })
    }

    /// One recorded episode of a job, chosen by `condition` over (cluster, proc, value).
    fn find_episode(
        &self,
        condition: &str,
        cluster: i64,
        proc: i64,
        value: Option<i64>,
    ) -> anyhow::Result<Option<EpisodeRow>> {
        let sql = format!("SELECT * FROM hold_episodes WHERE cluster = ? AND proc = ? {condition}");
        let mut q = sqlx::query_as::<_, EpisodeRow>(&sql)
            .bind(cluster)
            .bind(proc);
        if let Some(v) = value {
            q = q.bind(v);
        }
        self.read(q.fetch_optional(&self.pool))
    }

    /// The episode of a job held at `hold_time` (the 012's time in the log).
    pub fn episode(
        &self,
        cluster: i64,
        proc: i64,
        hold_time: i64,
    ) -> anyhow::Result<Option<EpisodeRow>> {
        self.find_episode("AND hold_time = ?", cluster, proc, Some(hold_time))
    }

    /// The episode of a job that condor_q showed held since `entered` (EnteredCurrentStatus).
    pub fn episode_entered(
        &self,
        cluster: i64,
        proc: i64,
        entered: i64,
    ) -> anyhow::Result<Option<EpisodeRow>> {
        self.find_episode("AND entered = ?", cluster, proc, Some(entered))
    }

    /// The latest recorded episode of a job.
    pub fn latest_episode(&self, cluster: i64, proc: i64) -> anyhow::Result<Option<EpisodeRow>> {
        self.find_episode("ORDER BY hold_time DESC LIMIT 1", cluster, proc, None)
    }

    pub fn prediction(
        &self,
        episode_id: i64,
        model_id: &str,
    ) -> anyhow::Result<Option<PredictionRow>> {
        self.read(
            sqlx::query_as::<_, PredictionRow>(
                "SELECT episode_id, model_id, probability, advice, confidence, explanation, commands, created
                 FROM predictions WHERE episode_id = ? AND model_id = ?",
            )
            .bind(episode_id)
            .bind(model_id)
            .fetch_optional(&self.pool),
        )
    }

    /// Every recorded episode of these jobs, each with this model's prediction when there is
    /// one. One query however many jobs: the ids go in as one JSON parameter and the rows come
    /// back as one JSON text (a scan asks for a hundred thousand jobs, and decoding that many
    /// rows one by one through the driver took seconds; SQLite builds the JSON in C).
    pub fn episodes_with_predictions(
        &self,
        jobs: &[(i64, i64)],
        model_id: &str,
    ) -> anyhow::Result<Vec<EpisodePrediction>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = serde_json::to_string(jobs)?;
        let rows: Option<String> = self.read(
            sqlx::query_scalar(
                "SELECT json_group_array(json_array(
                        e.cluster, e.proc, e.episode, e.hold_time, e.entered, p.probability,
                        p.advice, p.confidence, p.explanation, p.commands))
                 FROM json_each(?) AS w
                 CROSS JOIN hold_episodes e
                   ON e.cluster = w.value ->> 0 AND e.proc = w.value ->> 1
                 LEFT JOIN predictions p ON p.episode_id = e.id AND p.model_id = ?",
            )
            .bind(wanted)
            .bind(model_id)
            .fetch_one(&self.pool),
        )?;
        let rows: Vec<EpisodePredictionColumns> = match rows {
            Some(text) => serde_json::from_str(&text).with_context(|| {
                format!("reading episodes from the cache {}", self.path.display())
            })?,
            None => Vec::new(),
        };
        Ok(rows
            .into_iter()
            .map(|r| EpisodePrediction {
                cluster: r.cluster,
                proc: r.proc,
                episode: r.episode,
                hold_time: r.hold_time,
                entered: r.entered,
                prediction: match (r.probability, r.advice, r.confidence) {
                    (Some(probability), Some(advice), Some(confidence)) => Some(CachedPrediction {
                        probability,
                        advice,
                        confidence,
                        explanation: r.explanation.unwrap_or_default(),
                        commands: r.commands.unwrap_or_default(),
                    }),
                    _ => None,
                },
            })
            .collect())
    }

    /// Stores predictions (and their episodes and jobs) in one transaction; an existing
    /// prediction for the same episode and model is kept (the first answer given is the one
    /// that will be judged). Returns how many predictions this call added: another process
    /// storing the same holds at once adds the rest.
    ///
    /// Rows go in as multi-row VALUES, up to SQLite's limit of bound parameters per
    /// statement: a scan stores a hundred thousand predictions, and one statement per row cost
    /// seconds (so did one JSON parameter per table, taken apart by `json_each`).
    pub fn store_predictions(&self, items: &[Stored]) -> anyhow::Result<usize> {
        let first_seen = now();
        let jobs: Vec<&Stored> = items
            .iter()
            .filter(|s| s.owner.is_some() || s.user_log.is_some())
            .collect();
        // With JSON, SQLite spent more time taking it apart than writing the rows.
        self.write(async |c| {
            let mut added = 0;
            for chunk in jobs.chunks(MAX_BOUND / 5) {
                let mut insert = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO jobs (cluster, proc, owner, user_log, first_seen) ",
                );
                insert.push_values(chunk, |mut row, s| {
                    row.push_bind(s.episode.cluster)
                        .push_bind(s.episode.proc)
                        .push_bind(s.owner.as_deref())
                        .push_bind(s.user_log.as_deref())
                        .push_bind(first_seen);
                });
                insert.push(
                    " ON CONFLICT (cluster, proc) DO UPDATE SET owner = COALESCE(excluded.owner, owner),
                      user_log = COALESCE(excluded.user_log, user_log)",
                );
                insert.build().execute(&mut *c).await?;
            }
            for chunk in items.chunks(MAX_BOUND / 9) {
                let mut insert = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO hold_episodes (cluster, proc, episode, hold_time, code, subcode, reason, site, entered) ",
                );
                insert.push_values(chunk, |mut row, Stored { episode: e, .. }| {
                    row.push_bind(e.cluster)
                        .push_bind(e.proc)
                        .push_bind(e.episode)
                        .push_bind(e.hold_time)
                        .push_bind(e.code)
                        .push_bind(e.subcode)
                        .push_bind(e.reason.as_deref())
                        .push_bind(e.site.as_deref())
                        .push_bind(e.entered);
                });
                insert.push(
                    " ON CONFLICT (cluster, proc, hold_time) DO UPDATE SET entered = COALESCE(excluded.entered, entered)",
                );
                insert.build().execute(&mut *c).await?;
            }
            for chunk in items.chunks(MAX_BOUND / 10) {
                let mut insert = QueryBuilder::<Sqlite>::new(
                    "WITH new (cluster, proc, hold_time, model_id, probability, advice, confidence,
                               explanation, commands, created) AS (",
                );
                insert.push_values(chunk, |mut row, Stored { episode: e, prediction: p, .. }| {
                    row.push_bind(e.cluster)
                        .push_bind(e.proc)
                        .push_bind(e.hold_time)
                        .push_bind(p.model_id.as_str())
                        .push_bind(p.probability)
                        .push_bind(p.advice.as_str())
                        .push_bind(p.confidence)
                        .push_bind(p.explanation.as_str())
                        .push_bind(p.commands.as_str())
                        .push_bind(p.created);
                });
                insert.push(
                    ") INSERT OR IGNORE INTO predictions (episode_id, model_id, probability, advice, confidence, explanation, commands, created)
                     SELECT e.id, n.model_id, n.probability, n.advice, n.confidence, n.explanation, n.commands, n.created
                     FROM new AS n CROSS JOIN hold_episodes e
                       ON e.cluster = n.cluster AND e.proc = n.proc AND e.hold_time = n.hold_time",
                );
                added += insert.build().execute(&mut *c).await?.rows_affected() as usize;
            }
            Ok(added)
        })
    }

    pub fn position(&self, path: &str) -> anyhow::Result<Option<Position>> {
        self.read(
            sqlx::query_as::<_, Position>(
                "SELECT path, dev, inode, offset, line FROM ingest_positions WHERE path = ?",
            )
            .bind(path)
            .fetch_optional(&self.pool),
        )
    }

    /// Outcomes recorded for a (code, subcode) in this pool, and how many such holds there were.
    pub fn code_history(&self, code: i64, subcode: i64) -> anyhow::Result<CodeHistory> {
        let (episodes, positive, negative): (i64, i64, i64) = self.read(
            sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(o.label = 'positive'), 0), COALESCE(SUM(o.label = 'negative'), 0)
                 FROM hold_episodes e LEFT JOIN outcomes o ON o.episode_id = e.id WHERE e.code = ? AND e.subcode = ?",
            )
            .bind(code)
            .bind(subcode)
            .fetch_one(&self.pool),
        )?;
        Ok(CodeHistory {
            episodes,
            positive,
            negative,
        })
    }

    /// Whether an outcome is recorded for this episode (by any log this cache has read).
    pub fn has_outcome(&self, episode_id: i64) -> anyhow::Result<bool> {
        self.read(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outcomes WHERE episode_id = ?)")
                .bind(episode_id)
                .fetch_one(&self.pool),
        )
    }

    /// Predictions made after their hold's outcome was already recorded here (by `q` on a
    /// stale snapshot, or by an older version): not judged, since the answer could have
    /// known it.
    pub fn after_the_fact_predictions(&self) -> anyhow::Result<i64> {
        self.read(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM predictions p JOIN outcomes o ON o.episode_id = p.episode_id
                 WHERE p.created > o.observed",
            )
            .fetch_one(&self.pool),
        )
    }

    /// Every job's newest hold that has no outcome yet, newest first, with its newest
    /// prediction.
    ///
    /// Read as one JSON text and sorted out here: decoding 100,000 rows column by column cost
    /// more than the query, and a job's older holds without an outcome are rare enough that
    /// dropping them here is cheaper than a correlated subquery per hold.
    pub fn open_holds(&self) -> anyhow::Result<Vec<OpenHold>> {
        #[derive(serde::Deserialize)]
        struct Columns(
            i64,
            i64,
            Option<String>,
            i64,
            i64,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<f64>,
            Option<f64>,
            Option<i64>,
        );
        let rows: Option<String> = self.read(
            sqlx::query_scalar(
                "SELECT json_group_array(json_array(
                        e.cluster, e.proc, j.owner, e.hold_time, e.code, e.subcode, e.reason, e.site,
                        p.advice, p.probability, p.confidence, p.created))
                 FROM hold_episodes e
                 LEFT JOIN jobs j ON j.cluster = e.cluster AND j.proc = e.proc
                 LEFT JOIN predictions p ON p.episode_id = e.id
                 WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.episode_id = e.id)",
            )
            .fetch_one(&self.pool),
        )?;
        let rows: Vec<Columns> = match rows {
            Some(text) => serde_json::from_str(&text).with_context(|| {
                format!("reading open holds from the cache {}", self.path.display())
            })?,
            None => Vec::new(),
        };
        // Per job: the newest hold, and of its predictions the newest.
        let mut newest: std::collections::HashMap<(i64, i64), Columns> =
            std::collections::HashMap::with_capacity(rows.len());
        for r in rows {
            match newest.entry((r.0, r.1)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(r);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let kept = o.get();
                    if (r.3, r.11) > (kept.3, kept.11) {
                        o.insert(r);
                    }
                }
            }
        }
        // A job with a newer hold that has an outcome is not held on its older one.
        let newest_resolved: std::collections::HashMap<(i64, i64), i64> = self
            .read(
                sqlx::query_as::<_, (i64, i64, i64)>(
                    "SELECT e.cluster, e.proc, MAX(e.hold_time) FROM hold_episodes e
                     WHERE EXISTS (SELECT 1 FROM outcomes o WHERE o.episode_id = e.id)
                     GROUP BY e.cluster, e.proc",
                )
                .fetch_all(&self.pool),
            )?
            .into_iter()
            .map(|(c, p, t)| ((c, p), t))
            .collect();
        let mut out: Vec<OpenHold> = newest
            .into_values()
            .filter(|r| newest_resolved.get(&(r.0, r.1)).is_none_or(|&t| t < r.3))
            .map(|r| OpenHold {
                cluster: r.0,
                proc: r.1,
                owner: r.2,
                hold_time: r.3,
                code: r.4,
                subcode: r.5,
                reason: r.6,
                site: r.7,
                advice: r.8,
                probability: r.9,
                confidence: r.10,
            })
            .collect();
        out.sort_by(|a, b| {
            b.hold_time
                .cmp(&a.hold_time)
                .then(a.cluster.cmp(&b.cluster))
                .then(a.proc.cmp(&b.proc))
        });
        Ok(out)
    }

    /// Holds by the UTC day they began (Unix day number, holds that day, of them still
    /// without an outcome).
    pub fn holds_per_day(&self) -> anyhow::Result<Vec<(i64, i64, i64)>> {
        self.read(
            sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT e.hold_time / 86400 AS day, COUNT(*),
                        SUM(NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.episode_id = e.id))
                 FROM hold_episodes e GROUP BY day ORDER BY day",
            )
            .fetch_all(&self.pool),
        )
    }

    /// The job's row, if the cache has seen it.
    pub fn job(&self, cluster: i64, proc: i64) -> anyhow::Result<Option<JobRow>> {
        self.read(
            sqlx::query_as::<_, JobRow>(
                "SELECT owner, user_log, first_seen FROM jobs WHERE cluster = ? AND proc = ?",
            )
            .bind(cluster)
            .bind(proc)
            .fetch_optional(&self.pool),
        )
    }

    /// The job's holds, oldest first, each with its outcome and newest prediction.
    pub fn job_holds(&self, cluster: i64, proc: i64) -> anyhow::Result<Vec<JobHold>> {
        self.read(
            sqlx::query_as::<_, JobHold>(
                "SELECT e.episode, e.hold_time, e.code, e.subcode, e.reason, e.site,
                        o.label AS outcome, o.observed AS outcome_observed,
                        p.model_id, p.advice, p.probability, p.confidence, p.explanation, p.commands,
                        p.created AS predicted
                 FROM hold_episodes e
                 LEFT JOIN outcomes o ON o.episode_id = e.id
                 LEFT JOIN predictions p ON p.id =
                     (SELECT id FROM predictions WHERE episode_id = e.id ORDER BY created DESC, id DESC LIMIT 1)
                 WHERE e.cluster = ? AND e.proc = ?
                 ORDER BY e.hold_time",
            )
            .bind(cluster)
            .bind(proc)
            .fetch_all(&self.pool),
        )
    }

    /// Every prediction whose episode has an observed outcome, made before that outcome was
    /// recorded.
    pub fn judged_predictions(&self) -> anyhow::Result<Vec<JudgedPrediction>> {
        self.read(
            sqlx::query_as::<_, JudgedPrediction>(
                "SELECT e.hold_time, e.episode, e.code, e.subcode, p.probability, p.advice, o.label
                 FROM predictions p JOIN hold_episodes e ON e.id = p.episode_id JOIN outcomes o ON o.episode_id = e.id
                 WHERE p.created <= o.observed
                 ORDER BY e.hold_time",
            )
            .fetch_all(&self.pool),
        )
    }

    pub fn log_action(
        &self,
        command: &str,
        status: Option<i32>,
        output: &str,
    ) -> anyhow::Result<()> {
        self.write(async |c| {
            sqlx::query(
                "INSERT INTO actions (command, status, output, run_at) VALUES (?, ?, ?, ?)",
            )
            .bind(command)
            .bind(status)
            .bind(output)
            .bind(now())
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // Close connections on our runtime so the WAL is checkpointed cleanly.
        let pool = self.pool.clone();
        self.rt.block_on(pool.close());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(cluster: i64, proc: i64, entered: Option<i64>, advice: &str) -> Stored {
        Stored {
            episode: NewEpisode {
                cluster,
                proc,
                episode: 0,
                hold_time: 1_700_000_000 + proc,
                code: 13,
                subcode: 2,
                reason: Some(format!("reason of {cluster}.{proc}, with 'quotes'")),
                site: (proc % 2 == 0).then(|| "SiteA".to_string()),
                entered,
            },
            prediction: PredictionRow {
                episode_id: 0,
                model_id: "m1".into(),
                probability: proc as f64 / 10_000.0,
                advice: advice.into(),
                confidence: 0.5,
                explanation: format!("why {proc}"),
                commands: format!("condor_rm {cluster}.{proc}\ncondor_q {cluster}.{proc}"),
                created: 1,
            },
            owner: Some("alice".into()),
            user_log: None,
        }
    }

    #[test]
    fn storing_many_predictions_keeps_every_row_across_statement_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache.sqlite")).unwrap();
        // More rows than one statement binds for each table (3,276 predictions, 3,640
        // episodes, 6,553 jobs per statement).
        let n = 7_000;
        let items: Vec<Stored> = (0..n).map(|p| stored(42, p, None, "remove")).collect();
        assert_eq!(cache.store_predictions(&items).unwrap(), n as usize);
        let jobs: Vec<(i64, i64)> = (0..n).map(|p| (42, p)).collect();
        let rows = cache.episodes_with_predictions(&jobs, "m1").unwrap();
        assert_eq!(rows.len(), n as usize);
        for r in &rows {
            let p = r
                .prediction
                .as_ref()
                .expect("a prediction for every episode");
            assert_eq!(p.probability, r.proc as f64 / 10_000.0);
            assert_eq!(p.explanation, format!("why {}", r.proc));
            assert_eq!(p.commands.lines().count(), 2);
            assert_eq!(r.entered, None);
        }
        // Again, with EnteredCurrentStatus now known and other advice: the episode learns
        // its entered time, the first prediction is the one kept.
        let again: Vec<Stored> = (0..n).map(|p| stored(42, p, Some(p), "release")).collect();
        // Nothing new is counted: every prediction was stored before.
        assert_eq!(cache.store_predictions(&again).unwrap(), 0);
        let rows = cache.episodes_with_predictions(&jobs, "m1").unwrap();
        assert_eq!(rows.len(), n as usize);
        assert!(rows.iter().all(|r| r.entered == Some(r.proc)));
        assert!(
            rows.iter()
                .all(|r| r.prediction.as_ref().unwrap().advice == "remove")
        );
    }
}
