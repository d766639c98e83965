// Package pool spreads cache keys over a pool of memcached-protocol cache
// nodes: rendezvous hashing picks a key's node, a Client implements
// pixpool.Cache over them with failure isolation, and Resize moves keys to
// their new owners before a new layout takes effect.
package pool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// NodeInfo names a node: ID is stable across restarts (the ring hashes it),
// Addr is where it listens now.
type NodeInfo struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// node is a NodeInfo with its connections and health.
type node struct {
	NodeInfo
	mc      *memcache.Client
	timeout time.Duration
	dial    func(ctx context.Context) (net.Conn, error) // connected and authenticated

	fails atomic.Int32 // consecutive failures
	down  atomic.Bool  // skipped until a probe finds it healthy again

	ownHits, ownMisses atomic.Int64 // lookups the client made itself (ownGet)

	// The hot tier's meta connections (hot.go).
	maxIdle  time.Duration
	metaMu   sync.Mutex
	metaIdle []*metaConn
	gen      atomic.Uint64 // moves on with every new or failed meta connection
	noMeta   atomic.Bool   // the node does not speak the meta protocol

	// Validations waiting for the next pipelined batch (validate, hot.go).
	valMu      sync.Mutex
	valBusy    bool // a batch is being sent or answered
	valPending []*validation
	valSpare   []*validation
}

// ownGet is a lookup the client makes for itself (copying keys in a
// resize), counted apart so that rates can leave it out: the node counts
// it like any other.
func (n *node) ownGet(key string) (*memcache.Item, error) {
	it, err := n.mc.Get(key)
	switch {
	case err == nil:
		n.ownHits.Add(1)
	case errors.Is(err, memcache.ErrCacheMiss):
		n.ownMisses.Add(1)
	}
	return it, err
}

func (c *Client) newNode(info NodeInfo) *node {
	n := &node{NodeInfo: info, timeout: c.timeout(), maxIdle: c.maxIdle()}
	n.dial = func(ctx context.Context) (net.Conn, error) { return c.dial(ctx, info.Addr) }
	n.mc = memcache.New(info.Addr)
	n.mc.Timeout = n.timeout
	n.mc.MaxIdleConns = 64
	maxIdle := c.maxIdle()
	n.mc.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		nc, err := n.dial(ctx)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: nc, redial: n.dial, maxIdle: maxIdle}, nil
	}
	return n
}

// command sends one text-protocol command on a fresh connection (admin
// commands are rare) and returns the reply: every line up to END for a
// listing, else the one reply line, which must be OK.
func (n *node) command(ctx context.Context, cmd string, listing bool) ([]string, error) {
	conn, err := n.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(conn, 64<<10)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "ERROR" || strings.HasPrefix(line, "CLIENT_ERROR") || strings.HasPrefix(line, "SERVER_ERROR"):
			return nil, fmt.Errorf("%s: %s", cmd, line)
		case !listing && line == "OK":
			return nil, nil
		case !listing:
			return nil, fmt.Errorf("%s: unexpected reply %q", cmd, line)
		case line == "END":
			return lines, nil
		}
		lines = append(lines, line)
	}
}

// NodeStats are one node's counters, as its `stats` command reports them.
type NodeStats struct {
	NodeInfo
	Up             bool   `json:"up"`
	Items          int64  `json:"items"`
	Bytes          int64  `json:"bytes"`
	Capacity       int64  `json:"capacity"`
	Gets           int64  `json:"gets"`
	Sets           int64  `json:"sets"`
	Hits           int64  `json:"hits"`
	Misses         int64  `json:"misses"`
	Evictions      int64  `json:"evictions"`
	RequestsLast5s int64  `json:"requests_last_5s"`
	Policy         string `json:"policy,omitempty"`
	Uptime         int64  `json:"uptime"`
	// OwnHits and OwnMisses count the lookups this client made on the
	// node itself, copying keys in resizes, since it first used the node
	// at this address. Hits and Misses include them; they are no user's.
	OwnHits   int64 `json:"-"`
	OwnMisses int64 `json:"-"`
}

func (n *node) stats(ctx context.Context) (NodeStats, error) {
	s := NodeStats{NodeInfo: n.NodeInfo}
	lines, err := n.command(ctx, "stats", true)
	if err != nil {
		return s, err
	}
	// memcached's stat names, and where each goes.
	counters := map[string]*int64{
		"curr_items": &s.Items, "bytes": &s.Bytes, "limit_maxbytes": &s.Capacity,
		"cmd_get": &s.Gets, "cmd_set": &s.Sets, "get_hits": &s.Hits, "get_misses": &s.Misses,
		"evictions": &s.Evictions, "requests_last_5s": &s.RequestsLast5s, "uptime": &s.Uptime,
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "STAT" {
			continue
		}
		if f[1] == "policy" {
			s.Policy = f[2]
		} else if field, ok := counters[f[1]]; ok {
			*field, _ = strconv.ParseInt(f[2], 10, 64)
		}
	}
	s.Up = true
	return s, nil
}

// KeyInfo is one item in a node's LRU order.
type KeyInfo struct {
	Key        string    `json:"key"`
	Size       int64     `json:"size"`
	LastAccess time.Time `json:"last_access"`
}

// keys lists the node's items least recently used first, from memcached's
// `lru_crawler metadump all`.
func (n *node) keys(ctx context.Context) ([]KeyInfo, error) {
	lines, err := n.command(ctx, "lru_crawler metadump all", true)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(lines))
	for _, line := range lines {
		var k KeyInfo
		for _, field := range strings.Fields(line) {
			name, val, _ := strings.Cut(field, "=")
			switch name {
			case "key":
				k.Key, _ = url.QueryUnescape(val)
			case "size":
				k.Size, _ = strconv.ParseInt(val, 10, 64)
			case "la":
				if sec, err := strconv.ParseInt(val, 10, 64); err == nil {
					k.LastAccess = time.Unix(sec, 0).UTC()
				}
			}
		}
		if k.Key != "" {
			out = append(out, k)
		}
	}
	return out, nil
}

// setCapacity applies memcached's run-time capacity command.
func (n *node) setCapacity(ctx context.Context, mb int) error {
	_, err := n.command(ctx, "cache_memlimit "+strconv.Itoa(mb), false)
	return err
}

// setPolicy applies pixpool's extension command; stock memcached answers
// ERROR, which is reported.
func (n *node) setPolicy(ctx context.Context, policy string) error {
	_, err := n.command(ctx, "cache_policy "+policy, false)
	return err
}

func (n *node) flush(ctx context.Context) error {
	_, err := n.command(ctx, "flush_all", false)
	return err
}

// isAnswer reports the errors that are the node's answers, not failures
// of the node: a miss, "not stored", or a SERVER_ERROR such as "object too
// large for cache" (an image over the node's item size limit).
func isAnswer(err error) bool {
	return errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) ||
		strings.Contains(err.Error(), "SERVER_ERROR")
}
