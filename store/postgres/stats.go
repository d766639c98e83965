package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pixpool/pixpool"
)

// AddStats stores one collection in one transaction, its statements sent
// in one round trip. A second collection at the same millisecond replaces
// the first.
func (s *Store) AddStats(ctx context.Context, p pixpool.PoolSample, nodes []pixpool.NodeSample) error {
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue(`INSERT INTO pool_samples (at, nodes, up, items, bytes, gets, hits, misses, sets)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (at) DO UPDATE SET nodes = excluded.nodes, up = excluded.up, items = excluded.items,
				bytes = excluded.bytes, gets = excluded.gets, hits = excluded.hits, misses = excluded.misses, sets = excluded.sets`,
			ts(p.At), p.Nodes, p.Up, p.Items, p.Bytes, p.Gets, p.Hits, p.Misses, p.Sets)
		for _, n := range nodes {
			b.Queue(`INSERT INTO node_samples (at, node, up, items, bytes, capacity, gets, hits, misses, sets, evictions)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
				ON CONFLICT (at, node) DO UPDATE SET up = excluded.up, items = excluded.items, bytes = excluded.bytes,
					capacity = excluded.capacity, gets = excluded.gets, hits = excluded.hits, misses = excluded.misses,
					sets = excluded.sets, evictions = excluded.evictions`,
				ts(n.At), n.Node, n.Up, n.Items, n.Bytes, n.Capacity, n.Gets, n.Hits, n.Misses, n.Sets, n.Evictions)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return wrap("add stats", err)
	}
	return nil
}

func scanPoolSample(row scanner) (pixpool.PoolSample, error) {
	var p pixpool.PoolSample
	err := row.Scan(&p.At, &p.Nodes, &p.Up, &p.Items, &p.Bytes, &p.Gets, &p.Hits, &p.Misses, &p.Sets)
	p.At = p.At.UTC()
	return p, err
}

// PoolSamples returns the pool-wide samples taken after since, oldest first.
func (s *Store) PoolSamples(ctx context.Context, since time.Time) ([]pixpool.PoolSample, error) {
	out, err := collect(ctx, s.pool, scanPoolSample, `SELECT at, nodes, up, items, bytes, gets, hits, misses, sets
		FROM pool_samples WHERE at > $1 ORDER BY at`, ts(since))
	if err != nil {
		return nil, wrap("pool samples", err)
	}
	return out, nil
}

func scanNodeSample(row scanner) (pixpool.NodeSample, error) {
	var n pixpool.NodeSample
	err := row.Scan(&n.At, &n.Node, &n.Up, &n.Items, &n.Bytes, &n.Capacity, &n.Gets, &n.Hits, &n.Misses, &n.Sets, &n.Evictions)
	n.At = n.At.UTC()
	return n, err
}

// NodeSamples returns the node samples taken after since, oldest first,
// then by node id, bytewise.
func (s *Store) NodeSamples(ctx context.Context, since time.Time) ([]pixpool.NodeSample, error) {
	out, err := collect(ctx, s.pool, scanNodeSample, `SELECT at, node, up, items, bytes, capacity, gets, hits, misses, sets, evictions
		FROM node_samples WHERE at > $1 ORDER BY at, node`, ts(since))
	if err != nil {
		return nil, wrap("node samples", err)
	}
	return out, nil
}

// DeleteStatsBefore removes samples taken before t and reports how many
// pool-wide samples went.
func (s *Store) DeleteStatsBefore(ctx context.Context, t time.Time) (int, error) {
	var n int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM pool_samples WHERE at < $1`, ts(t))
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM node_samples WHERE at < $1`, ts(t))
		return err
	})
	if err != nil {
		return 0, wrap("delete stats", err)
	}
	return int(n), nil
}
