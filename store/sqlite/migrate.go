package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema changes, oldest first. Migration i brings the
// schema to version i+1. Append to the list; never edit an entry that has
// been released, since databases in the field record only the version.
//
// Times are integer Unix milliseconds; booleans are 0 or 1; birthday is a
// 'YYYY-MM-DD' text. Image keys use SQLite's default BINARY collation, so
// they compare and sort bytewise, and case-sensitively.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	username      TEXT    NOT NULL,
	first_name    TEXT    NOT NULL,
	last_name     TEXT    NOT NULL,
	email         TEXT    NOT NULL,
	birthday      TEXT    NOT NULL,
	phone         TEXT    NOT NULL,
	admin         INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (lower(username));

CREATE TABLE sessions (
	token_hash TEXT    PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf_token TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE api_keys (
	id           INTEGER PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT    NOT NULL,
	prefix       TEXT    NOT NULL,
	hash         TEXT    NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER
);
CREATE INDEX api_keys_user_id ON api_keys (user_id);

CREATE TABLE images (
	id           INTEGER PRIMARY KEY,
	owner_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	key          TEXT    NOT NULL,
	blob_key     TEXT    NOT NULL,
	thumb_key    TEXT    NOT NULL,
	size         INTEGER NOT NULL,
	content_type TEXT    NOT NULL,
	width        INTEGER NOT NULL,
	height       INTEGER NOT NULL,
	checksum     TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	UNIQUE (owner_id, key)
);

CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE login_failures (
	key TEXT    NOT NULL,
	at  INTEGER NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);
CREATE INDEX login_failures_at ON login_failures (at);
`,
	// 2: the newest images of an owner, for the home page.
	`CREATE INDEX images_owner_created ON images (owner_id, created_at, id);`,
	// 3: the cache pool's stats history.
	`
CREATE TABLE pool_samples (
	at     INTEGER PRIMARY KEY, -- Unix milliseconds
	nodes  INTEGER NOT NULL,
	up     INTEGER NOT NULL,
	items  INTEGER NOT NULL,
	bytes  INTEGER NOT NULL,
	gets   INTEGER NOT NULL,
	hits   INTEGER NOT NULL,
	misses INTEGER NOT NULL,
	sets   INTEGER NOT NULL
);
CREATE TABLE node_samples (
	at        INTEGER NOT NULL,
	node      TEXT NOT NULL,
	up        INTEGER NOT NULL,
	items     INTEGER NOT NULL,
	bytes     INTEGER NOT NULL,
	capacity  INTEGER NOT NULL,
	gets      INTEGER NOT NULL,
	hits      INTEGER NOT NULL,
	misses    INTEGER NOT NULL,
	sets      INTEGER NOT NULL,
	evictions INTEGER NOT NULL,
	PRIMARY KEY (at, node)
);
`,
	// 4: leases, which elect one process for a role (AcquireLease).
	`
CREATE TABLE leases (
	name       TEXT    PRIMARY KEY,
	holder     TEXT    NOT NULL,
	expires_at INTEGER NOT NULL -- Unix milliseconds
);
`,
	// 5: the recognition queue and results (AnalysisStore), and their
	// full-text index. analysis_search holds one row per done analysis,
	// its rowid the image id, its doc the label names and text lines. It
	// uses unicode61 without removing diacritics, to match whole words
	// case-insensitively as PostgreSQL's 'simple' configuration does. The
	// trigger removes an image's row with the image (a cascade from images
	// would not reach a virtual table), since SQLite may reuse a deleted
	// image's id.
	`
CREATE TABLE analyses (
	image_id      INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
	checksum      TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	labels        TEXT    NOT NULL, -- JSON of []pixpool.Label
	lines         TEXT    NOT NULL, -- JSON of []pixpool.TextLine
	error         TEXT    NOT NULL,
	attempts      INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL, -- Unix milliseconds
	claimed_until INTEGER,          -- Unix milliseconds; NULL when not leased
	queued_at     INTEGER NOT NULL  -- Unix milliseconds
);
CREATE INDEX analyses_queue ON analyses (status, queued_at, image_id);

CREATE VIRTUAL TABLE analysis_search USING fts5(doc, tokenize = 'unicode61 remove_diacritics 0');

CREATE TRIGGER images_delete_search AFTER DELETE ON images BEGIN
	DELETE FROM analysis_search WHERE rowid = old.id;
END;
`,
	// 6: the admin setup token, out of settings (and so of backups), with
	// an expiry, ended by the database itself whenever a user becomes an
	// admin, by any path; login and sign-up pacing (attempts, replacing
	// login_failures); sign-up invites.
	`
DROP TABLE login_failures;
DELETE FROM settings WHERE name = 'setup_token_sha256';

CREATE TABLE setup_tokens (
	hash       TEXT    PRIMARY KEY, -- SHA-256 of the token, hex
	expires_at INTEGER NOT NULL
);
CREATE TRIGGER users_insert_admin_ends_setup AFTER INSERT ON users WHEN NEW.admin BEGIN
	DELETE FROM setup_tokens;
END;
CREATE TRIGGER users_update_admin_ends_setup AFTER UPDATE OF admin ON users WHEN NEW.admin BEGIN
	DELETE FROM setup_tokens;
END;

CREATE TABLE attempts (
	key     TEXT    PRIMARY KEY,
	tries   INTEGER NOT NULL,
	next_at INTEGER NOT NULL, -- no attempt before, Unix milliseconds
	last_at INTEGER NOT NULL
);
CREATE INDEX attempts_last_at ON attempts (last_at);

CREATE TABLE invites (
	id         INTEGER PRIMARY KEY,
	hash       TEXT    NOT NULL UNIQUE,
	prefix     TEXT    NOT NULL,
	created_by INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,
	used_by    INTEGER
);
`,
	// 7: the authentication generation (AuthGeneration), a counter the
	// database itself bumps, in the same transaction, whenever a session
	// is deleted or changed, an API key is deleted or given another
	// secret or owner, or an account changes or goes (password, admin
	// rights, disabling, a restore), by any path. Processes poll it to
	// drop the sessions and API keys they cache. Not backed up.
	`
CREATE TABLE auth_generation (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);
INSERT INTO auth_generation (id, n) VALUES (1, 0);
CREATE TRIGGER users_update_bumps_auth AFTER UPDATE ON users BEGIN
	UPDATE auth_generation SET n = n + 1;
END;
CREATE TRIGGER users_delete_bumps_auth AFTER DELETE ON users BEGIN
	UPDATE auth_generation SET n = n + 1;
END;
CREATE TRIGGER sessions_update_bumps_auth AFTER UPDATE ON sessions BEGIN
	UPDATE auth_generation SET n = n + 1;
END;
CREATE TRIGGER sessions_delete_bumps_auth AFTER DELETE ON sessions BEGIN
	UPDATE auth_generation SET n = n + 1;
END;
CREATE TRIGGER api_keys_update_bumps_auth AFTER UPDATE OF hash, user_id ON api_keys BEGIN
	UPDATE auth_generation SET n = n + 1;
END;
CREATE TRIGGER api_keys_delete_bumps_auth AFTER DELETE ON api_keys BEGIN
	UPDATE auth_generation SET n = n + 1;
END;
`,
	// 8: the files of automatic HTTPS (CertStore): ACME accounts,
	// certificates and keys, challenge tokens. Not backed up.
	`
CREATE TABLE cert_files (
	key         TEXT    PRIMARY KEY,
	data        BLOB    NOT NULL,
	modified_at INTEGER NOT NULL -- Unix milliseconds
);
`,
	// 9: what users of image hosts expect (issue 17). Quotas per user
	// (NULL: the admin's default, in the storage policy setting); the
	// sizes of every file an image has, so usage is counted honestly;
	// the uploaded original, kept apart when what is served was stripped
	// of its metadata and the policy keeps originals; the metadata read
	// from it (JSON, shown to the owner only); the checksum of the bytes
	// as uploaded, which finds an owner's identical images so they share
	// one copy of the bytes; the trash, where deleted images wait to be
	// restored or purged; the variants made of an image (resized or
	// converted copies, kept in the blob store); share links.
	`
ALTER TABLE users ADD COLUMN quota_bytes  INTEGER; -- NULL: the policy's default
ALTER TABLE users ADD COLUMN quota_images INTEGER; -- NULL: the policy's default

ALTER TABLE images ADD COLUMN thumb_size      INTEGER NOT NULL DEFAULT 0;  -- bytes of the thumbnail; 0 until made
ALTER TABLE images ADD COLUMN original_key    TEXT    NOT NULL DEFAULT ''; -- blob key of the kept original; '' if none
ALTER TABLE images ADD COLUMN original_size   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN metadata        TEXT    NOT NULL DEFAULT ''; -- JSON of pixpool.ImageMetadata; '' if none
ALTER TABLE images ADD COLUMN source_checksum TEXT    NOT NULL DEFAULT ''; -- hex SHA-256 of the bytes as uploaded
CREATE INDEX images_owner_source ON images (owner_id, source_checksum);
CREATE INDEX images_blob_key ON images (blob_key);

CREATE TABLE trash (
	id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a purged entry's id sent again finds nothing
	owner_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	key             TEXT    NOT NULL,
	blob_key        TEXT    NOT NULL,
	thumb_key       TEXT    NOT NULL,
	size            INTEGER NOT NULL,
	content_type    TEXT    NOT NULL,
	width           INTEGER NOT NULL,
	height          INTEGER NOT NULL,
	checksum        TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	thumb_size      INTEGER NOT NULL,
	original_key    TEXT    NOT NULL,
	original_size   INTEGER NOT NULL,
	metadata        TEXT    NOT NULL,
	source_checksum TEXT    NOT NULL,
	deleted_at      INTEGER NOT NULL, -- Unix milliseconds
	purge_at        INTEGER NOT NULL  -- Unix milliseconds: purged from then on
);
CREATE INDEX trash_owner ON trash (owner_id, deleted_at);
CREATE INDEX trash_purge ON trash (purge_at);
CREATE INDEX trash_blob_key ON trash (blob_key);
CREATE INDEX trash_owner_source ON trash (owner_id, source_checksum);

CREATE TABLE variants (
	blob_key   TEXT    PRIMARY KEY, -- var/xx/<id>/<spec>.<format>
	source_key TEXT    NOT NULL,    -- blob_key of the image it was made from
	owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	spec       TEXT    NOT NULL,    -- the canonical parameters
	size       INTEGER NOT NULL,
	created_at INTEGER NOT NULL     -- Unix milliseconds
);
CREATE INDEX variants_source ON variants (source_key);
CREATE INDEX variants_owner ON variants (owner_id);

CREATE TABLE shares (
	id         INTEGER PRIMARY KEY,
	owner_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT    NOT NULL,    -- 'image' or 'album'
	key        TEXT    NOT NULL,    -- the image's key, or the album's key prefix
	title      TEXT    NOT NULL,
	created_at INTEGER NOT NULL,    -- Unix milliseconds
	expires_at INTEGER,             -- Unix milliseconds; NULL: never
	max_views  INTEGER,             -- NULL: no limit
	views      INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER              -- Unix milliseconds; NULL: live
);
CREATE INDEX shares_owner ON shares (owner_id, created_at);
`,
}

// migrate brings the schema up to date, one migration per transaction, and
// records each in schema_migrations. Because write transactions begin
// IMMEDIATE, two processes opening one new database at once take turns, and
// the second finds the work done.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for {
		done, err := s.migrateOne(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateOne applies the next pending migration, reporting done if there
// was none.
func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		v, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		switch {
		case v > len(migrations):
			return fmt.Errorf("database schema version %d is newer than this build of pixpool knows (%d); run a newer pixpool", v, len(migrations))
		case v == len(migrations):
			done = true
			return nil
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v+1, millis(timeNow())); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	return done, nil
}

// rowQuerier is a *sql.DB or a *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion returns the number of migrations applied.
func schemaVersion(ctx context.Context, db rowQuerier) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return v, nil
}
