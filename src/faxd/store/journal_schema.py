"""The journal's tables, as created in a new journal and completed in an older one."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    path TEXT NOT NULL,
    sidecar TEXT,
    attachments TEXT NOT NULL DEFAULT '[]',
    files TEXT NOT NULL DEFAULT '[]',
    provider TEXT NOT NULL,
    sender TEXT,
    dft INTEGER NOT NULL DEFAULT 0,
    reference TEXT,
    rule TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    error TEXT,
    ino INTEGER,
    received_at REAL NOT NULL,
    finished_at REAL,
    archive_plan TEXT,
    archived_at REAL,
    archived_path TEXT,
    delay_noted_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_active_path ON jobs(path) WHERE archived_at IS NULL;
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at);
-- `faxd status` lists the newest jobs: without this, a year of jobs is sorted on every call.
CREATE INDEX IF NOT EXISTS jobs_received ON jobs(received_at);
CREATE INDEX IF NOT EXISTS jobs_active_received ON jobs(received_at) WHERE archived_at IS NULL;
-- "which unfiled job has this spool file": a new version saved at its name, a retry's name.
CREATE INDEX IF NOT EXISTS jobs_active_path ON jobs(path) WHERE archived_at IS NULL;
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, received_at);
CREATE TABLE IF NOT EXISTS transmissions (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    number TEXT NOT NULL,
    state TEXT NOT NULL,
    method TEXT,
    remote_id TEXT,
    status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    lookups INTEGER NOT NULL DEFAULT 0,
    first_attempt_at REAL,
    submit_started_at REAL,
    submitted_at REAL,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    error TEXT,
    updated_at REAL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS tx_due ON transmissions(state, next_attempt_at);
-- "is this provider id one of ours": one probe, not a scan of a year of transmissions
CREATE INDEX IF NOT EXISTS tx_remote_id ON transmissions(remote_id) WHERE remote_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS dft_cache (
    provider TEXT NOT NULL,
    number TEXT NOT NULL,
    supported INTEGER NOT NULL,
    checked_at REAL NOT NULL,
    PRIMARY KEY (provider, number)
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tx_number_state ON transmissions(number, state);
CREATE TABLE IF NOT EXISTS known_numbers (
    number TEXT PRIMARY KEY,
    added_at REAL NOT NULL,
    job_id TEXT
);
CREATE TABLE IF NOT EXISTS releases (
    job_id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    started_at REAL NOT NULL,
    done_at REAL
);
-- A provider id belongs to exactly one transmission: the primary key refuses a second
-- claim even when two outcome lookups find the same upload at the same moment.
CREATE TABLE IF NOT EXISTS remote_claims (
    provider TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (provider, remote_id)
);
-- notices, deliveries and alerts owed to people (store/outbox.py)
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    subject TEXT,
    payload TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    done_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, channel, seq);
CREATE TABLE IF NOT EXISTS audit_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS filed_records (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    state TEXT NOT NULL,
    queued_at REAL NOT NULL,
    sha256 TEXT,
    pages INTEGER,
    report_pdf TEXT,
    error TEXT,
    done_at REAL,
    purged_at REAL
);
-- `faxd retry`: a failed job's document put back in its spool folder at `path` (inode
-- `ino`). The job intake next takes from there (`next_job`) names the earlier attempt in
-- its report; the earlier report's text is kept here, its files leave failed/.
CREATE TABLE IF NOT EXISTS retries (
    job_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    ino INTEGER,
    retried_at REAL NOT NULL,
    report TEXT,
    note TEXT,
    next_job TEXT
);
CREATE INDEX IF NOT EXISTS retries_waiting ON retries(path) WHERE next_job IS NULL;
CREATE INDEX IF NOT EXISTS retries_next ON retries(next_job);
"""

# (table, column, declaration) added after the first release; see Journal._add_missing_columns.
COLUMN_MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    # When the notice monitor looked at a job whose delay ran out (its `delayed` notice
    # and alert queued), so that it reads each such job once, not at every look.
    ("jobs", "delay_noted_at", "REAL"),
)
