package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pixpool/pixpool"
)

// Setting returns a named setting's value, or ENOTFOUND.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var value string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", pixpool.Errorf(pixpool.ENOTFOUND, "setting %q not found", name)
	} else if err != nil {
		return "", wrap(fmt.Sprintf("setting %q", name), err)
	}
	return value, nil
}

// SetSetting creates or replaces a setting.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO settings (name, value) VALUES (?, ?)
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
	err := s.db.QueryRowContext(ctx, `
		INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = settings.value
		RETURNING value`, name, value).Scan(&stored)
	if err != nil {
		return "", wrap(fmt.Sprintf("add setting %q", name), err)
	}
	return stored, nil
}

// DeleteSetting removes a setting; a missing one is not an error.
func (s *Store) DeleteSetting(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM settings WHERE name = ?`, name); err != nil {
		return wrap(fmt.Sprintf("delete setting %q", name), err)
	}
	return nil
}

// Settings returns every setting by name.
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM settings`)
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
