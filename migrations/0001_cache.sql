-- holdadvisor's prediction cache. One row per job, per hold episode, per prediction (per
-- model), per observed outcome, and per ingested log file.

CREATE TABLE jobs (
    cluster    INTEGER NOT NULL,
    proc       INTEGER NOT NULL,
    owner      TEXT,
    user_log   TEXT,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (cluster, proc)
);

-- A hold episode: the job's n-th hold (0-based), identified by the time of its 012 event.
CREATE TABLE hold_episodes (
    id        INTEGER PRIMARY KEY,
    cluster   INTEGER NOT NULL,
    proc      INTEGER NOT NULL,
    episode   INTEGER NOT NULL,
    hold_time INTEGER NOT NULL,
    code      INTEGER NOT NULL,
    subcode   INTEGER NOT NULL,
    reason    TEXT,
    site      TEXT,
    -- The job's EnteredCurrentStatus while this hold lasted, once condor_q has shown it:
    -- how `q` finds the episode of a held job without reading its log.
    entered   INTEGER,
    UNIQUE (cluster, proc, hold_time)
);
CREATE INDEX hold_episodes_entered ON hold_episodes (cluster, proc, entered);
CREATE INDEX hold_episodes_code ON hold_episodes (code, subcode, hold_time);

CREATE TABLE predictions (
    id          INTEGER PRIMARY KEY,
    episode_id  INTEGER NOT NULL REFERENCES hold_episodes (id),
    model_id    TEXT NOT NULL,
    probability REAL NOT NULL,
    advice      TEXT NOT NULL,
    confidence  REAL NOT NULL,
    explanation TEXT NOT NULL,
    commands    TEXT NOT NULL,
    created     INTEGER NOT NULL,
    UNIQUE (episode_id, model_id)
);

-- What happened after the hold, once the log says: 'positive' (released and finished
-- normally), 'negative' (held again, failed or removed after release), 'censored' (removed
-- without a release).
CREATE TABLE outcomes (
    episode_id INTEGER PRIMARY KEY REFERENCES hold_episodes (id),
    label      TEXT NOT NULL,
    observed   INTEGER NOT NULL
);

-- How far each ingested log file has been read, by file identity.
CREATE TABLE ingest_positions (
    path    TEXT PRIMARY KEY,
    dev     INTEGER NOT NULL,
    inode   INTEGER NOT NULL,
    offset  INTEGER NOT NULL,
    line    INTEGER NOT NULL,
    updated INTEGER NOT NULL
);

-- Commands `scan --apply` ran, and what came of them.
CREATE TABLE actions (
    id      INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    status  INTEGER,
    output  TEXT,
    run_at  INTEGER NOT NULL
);
