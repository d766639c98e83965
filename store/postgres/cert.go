package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

// PutCertFile creates or replaces the file key.
func (s *Store) PutCertFile(ctx context.Context, key string, data []byte) error {
	if !storable(key) {
		return pixpool.Errorf(pixpool.EINVALID, "cert file key %q is not valid UTF-8 without NUL", key)
	}
	if data == nil {
		data = []byte{}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO cert_files (key, data, modified_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET data = excluded.data, modified_at = excluded.modified_at`,
		key, data, timeNow())
	if err != nil {
		return wrap(fmt.Sprintf("put cert file %q", key), err)
	}
	return nil
}

// CertFile returns the contents of the file key, or ENOTFOUND.
func (s *Store) CertFile(ctx context.Context, key string) ([]byte, error) {
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "cert file %q not found", key)
	if !storable(key) {
		return nil, notFound
	}
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM cert_files WHERE key = $1`, key).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
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
	notFound := pixpool.Errorf(pixpool.ENOTFOUND, "cert file %q not found", key)
	if !storable(key) {
		return fi, notFound
	}
	err := s.pool.QueryRow(ctx, `SELECT length(data), modified_at FROM cert_files WHERE key = $1`, key).Scan(&fi.Size, &fi.Modified)
	if errors.Is(err, pgx.ErrNoRows) {
		return fi, notFound
	} else if err != nil {
		return fi, wrap(fmt.Sprintf("stat cert file %q", key), err)
	}
	fi.Modified = fi.Modified.UTC()
	return fi, nil
}

// CertFiles describes every file whose key starts with prefix, in key
// order (bytewise: the column is COLLATE "C").
func (s *Store) CertFiles(ctx context.Context, prefix string) ([]pixpool.CertFileInfo, error) {
	if !storable(prefix) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT key, length(data), modified_at FROM cert_files
		WHERE starts_with(key, $1) ORDER BY key`, prefix)
	if err != nil {
		return nil, wrap(fmt.Sprintf("cert files %q", prefix), err)
	}
	defer rows.Close()
	var out []pixpool.CertFileInfo
	for rows.Next() {
		var fi pixpool.CertFileInfo
		if err := rows.Scan(&fi.Key, &fi.Size, &fi.Modified); err != nil {
			return nil, wrap(fmt.Sprintf("cert files %q", prefix), err)
		}
		fi.Modified = fi.Modified.UTC()
		out = append(out, fi)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("cert files %q", prefix), err)
	}
	return out, nil
}

// DeleteCertFiles removes the file key and every file under key + "/".
func (s *Store) DeleteCertFiles(ctx context.Context, key string) error {
	if !storable(key) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM cert_files WHERE key = $1 OR starts_with(key, $2)`, key, key+"/")
	if err != nil {
		return wrap(fmt.Sprintf("delete cert files %q", key), err)
	}
	return nil
}
