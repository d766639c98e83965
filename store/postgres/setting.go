package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

// Setting returns a named setting's value, or ENOTFOUND.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "setting %q not found", name)
	if !storable(name) {
		return "", notFound
	}
	var value string
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound
	} else if err != nil {
		return "", wrap(fmt.Sprintf("setting %q", name), err)
	}
	return value, nil
}

// SetSetting creates or replaces a setting.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return wrap(fmt.Sprintf("set setting %q", name), err)
	}
	return nil
}

// AddSetting creates a setting unless one of that name exists, and
// returns the value stored after the call. One statement does both: the
// conflict's update writes the stored value back unchanged, so that
// RETURNING gives it (DO NOTHING would return no row), and a concurrent
// insert of the same name waits for the first to commit and then sees its
// row.
func (s *Store) AddSetting(ctx context.Context, name, value string) (string, error) {
	var stored string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = settings.value
		RETURNING value`, name, value).Scan(&stored)
	if err != nil {
		return "", wrap(fmt.Sprintf("add setting %q", name), err)
	}
	return stored, nil
}

// DeleteSetting removes a setting; a missing one is not an error.
func (s *Store) DeleteSetting(ctx context.Context, name string) error {
	if !storable(name) {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM settings WHERE name = $1`, name); err != nil {
		return wrap(fmt.Sprintf("delete setting %q", name), err)
	}
	return nil
}

// Settings returns every setting by name.
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, value FROM settings`)
	if err != nil {
		return nil, wrap("settings", err)
	}
	defer rows.Close()
	m := make(map[string]string)
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, wrap("settings", err)
		}
		m[name] = value
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("settings", err)
	}
	return m, nil
}

// failureKey makes an attempt key (Store.TakeAttempt) storable. Keys hold what a client
// typed ("user:" + a username never validated), so unlike other text they
// may be anything, and a failed login must still be counted rather than
// fail. NUL and invalid UTF-8 become U+FFFD, which merges only keys that
// no valid username or address could produce.
func failureKey(key string) string {
	if storable(key) {
		return key
	}
	return strings.ReplaceAll(strings.ToValidUTF8(key, "\uFFFD"), "\x00", "\uFFFD")
}
