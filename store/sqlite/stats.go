package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/pixpool/pixpool"
)

// AddStats stores one collection in one transaction. A second collection
// at the same millisecond replaces the first.
func (s *Store) AddStats(ctx context.Context, p pixpool.PoolSample, nodes []pixpool.NodeSample) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		at := millis(p.At)
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO pool_samples
			(at, nodes, up, items, bytes, gets, hits, misses, sets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			at, p.Nodes, p.Up, p.Items, p.Bytes, p.Gets, p.Hits, p.Misses, p.Sets); err != nil {
			return err
		}
		for _, n := range nodes {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO node_samples
				(at, node, up, items, bytes, capacity, gets, hits, misses, sets, evictions)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				millis(n.At), n.Node, n.Up, n.Items, n.Bytes, n.Capacity, n.Gets, n.Hits, n.Misses, n.Sets, n.Evictions); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap("add stats", err)
	}
	return nil
}

// PoolSamples returns the pool-wide samples taken after since, oldest first.
func (s *Store) PoolSamples(ctx context.Context, since time.Time) ([]pixpool.PoolSample, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, nodes, up, items, bytes, gets, hits, misses, sets
		FROM pool_samples WHERE at > ? ORDER BY at`, millis(since))
	if err != nil {
		return nil, wrap("pool samples", err)
	}
	defer rows.Close()
	var out []pixpool.PoolSample
	for rows.Next() {
		var p pixpool.PoolSample
		var at int64
		if err := rows.Scan(&at, &p.Nodes, &p.Up, &p.Items, &p.Bytes, &p.Gets, &p.Hits, &p.Misses, &p.Sets); err != nil {
			return nil, wrap("pool samples", err)
		}
		p.At = fromMillis(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("pool samples", err)
	}
	return out, nil
}

// NodeSamples returns the node samples taken after since, oldest first.
func (s *Store) NodeSamples(ctx context.Context, since time.Time) ([]pixpool.NodeSample, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, node, up, items, bytes, capacity, gets, hits, misses, sets, evictions
		FROM node_samples WHERE at > ? ORDER BY at, node`, millis(since))
	if err != nil {
		return nil, wrap("node samples", err)
	}
	defer rows.Close()
	var out []pixpool.NodeSample
	for rows.Next() {
		var n pixpool.NodeSample
		var at int64
		if err := rows.Scan(&at, &n.Node, &n.Up, &n.Items, &n.Bytes, &n.Capacity, &n.Gets, &n.Hits, &n.Misses, &n.Sets, &n.Evictions); err != nil {
			return nil, wrap("node samples", err)
		}
		n.At = fromMillis(at)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("node samples", err)
	}
	return out, nil
}

// DeleteStatsBefore removes samples taken before t.
func (s *Store) DeleteStatsBefore(ctx context.Context, t time.Time) (int, error) {
	var n int64
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM pool_samples WHERE at < ?`, millis(t))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `DELETE FROM node_samples WHERE at < ?`, millis(t))
		return err
	})
	if err != nil {
		return 0, wrap("delete stats", err)
	}
	return int(n), nil
}
