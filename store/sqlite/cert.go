package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pixpool/pixpool"
)

// PutCertFile creates or replaces the file key.
func (s *Store) PutCertFile(ctx context.Context, key string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO cert_files (key, data, modified_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET data = excluded.data, modified_at = excluded.modified_at`,
		key, data, millis(timeNow()))
	if err != nil {
		return wrap(fmt.Sprintf("put cert file %q", key), err)
	}
	return nil
}

// CertFile returns the contents of the file key, or ENOTFOUND.
func (s *Store) CertFile(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM cert_files WHERE key = ?`, key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "cert file %q not found", key)
	} else if err != nil {
		return nil, wrap(fmt.Sprintf("cert file %q", key), err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// StatCertFile describes the file key, or returns ENOTFOUND.
func (s *Store) StatCertFile(ctx context.Context, key string) (pixpool.CertFileInfo, error) {
	fi := pixpool.CertFileInfo{Key: key}
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT length(data), modified_at FROM cert_files WHERE key = ?`, key).Scan(&fi.Size, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return fi, pixpool.Errorf(pixpool.ENOTFOUND, "cert file %q not found", key)
	} else if err != nil {
		return fi, wrap(fmt.Sprintf("stat cert file %q", key), err)
	}
	fi.Modified = fromMillis(ms)
	return fi, nil
}

// CertFiles describes every file whose key starts with prefix, in key
// order. substr and length count characters alike, and keys are text.
func (s *Store) CertFiles(ctx context.Context, prefix string) ([]pixpool.CertFileInfo, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT key, length(data), modified_at FROM cert_files
		WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key`, prefix)
	if err != nil {
		return nil, wrap(fmt.Sprintf("cert files %q", prefix), err)
	}
	defer rows.Close()
	var out []pixpool.CertFileInfo
	for rows.Next() {
		var fi pixpool.CertFileInfo
		var ms int64
		if err := rows.Scan(&fi.Key, &fi.Size, &ms); err != nil {
			return nil, wrap(fmt.Sprintf("cert files %q", prefix), err)
		}
		fi.Modified = fromMillis(ms)
		out = append(out, fi)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("cert files %q", prefix), err)
	}
	return out, nil
}

// DeleteCertFiles removes the file key and every file under key + "/".
func (s *Store) DeleteCertFiles(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, `
		DELETE FROM cert_files WHERE key = ?1 OR substr(key, 1, length(?2)) = ?2`, key, key+"/")
	if err != nil {
		return wrap(fmt.Sprintf("delete cert files %q", key), err)
	}
	return nil
}
