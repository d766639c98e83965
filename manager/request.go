package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
)

// Requests let another process (the `pixpool pool` command) change a
// running pool: it writes a Request into the store, the manager applies it
// and writes a Result with the same sequence number.
const (
	requestSetting = "pool.request"
	resultSetting  = "pool.result"
)

// Request is one change asked of the manager.
type Request struct {
	Seq int64  `json:"seq"`
	Op  string `json:"op"` // "resize", "capacity", "policy" or "clear"
	Arg string `json:"arg,omitempty"`
}

// Result answers the Request with the same Seq.
type Result struct {
	Seq   int64  `json:"seq"`
	Error string `json:"error,omitempty"`
	State State  `json:"state"`
}

// Apply carries out one request.
func (m *Manager) Apply(ctx context.Context, r Request) error {
	switch r.Op {
	case "resize":
		n, err := strconv.Atoi(r.Arg)
		if err != nil {
			return pixpool.Errorf(pixpool.EINVALID, "The pool size must be a number, not %q.", r.Arg)
		}
		_, err = m.Resize(ctx, n, "manual")
		return err
	case "capacity":
		mb, err := strconv.Atoi(r.Arg)
		if err != nil {
			return pixpool.Errorf(pixpool.EINVALID, "The capacity must be a number of MB, not %q.", r.Arg)
		}
		return m.SetCapacity(ctx, mb)
	case "policy":
		return m.SetPolicy(ctx, r.Arg)
	case "clear":
		return m.Clear(ctx)
	case "mode":
		var mr modeRequest
		if err := json.Unmarshal([]byte(r.Arg), &mr); err != nil {
			return pixpool.Errorf(pixpool.EINVALID, "Malformed mode request.")
		}
		return m.SetMode(ctx, mr.Mode, mr.Auto)
	}
	return pixpool.Errorf(pixpool.EINVALID, "Unknown pool operation %q.", r.Op)
}

// Watch applies requests from the store until ctx ends, checking every
// interval (if zero, 1 s).
func (m *Manager) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	var done int64
	if v, err := m.Store.Setting(ctx, resultSetting); err == nil {
		var res Result
		if json.Unmarshal([]byte(v), &res) == nil {
			done = res.Seq
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := m.Store.Setting(ctx, requestSetting)
		if err != nil {
			continue
		}
		var req Request
		if json.Unmarshal([]byte(v), &req) != nil || req.Seq <= done {
			continue
		}
		done = req.Seq
		if err := m.answer(ctx, req); err != nil {
			m.logger().Error("pool request result", "err", err)
		}
	}
}

// Ask sends a request to the manager of a running server through store
// and waits for its result.
func Ask(ctx context.Context, store pixpool.Store, op, arg string) (Result, error) {
	req := Request{Seq: time.Now().UnixNano(), Op: op, Arg: arg}
	b, _ := json.Marshal(req)
	if err := store.SetSetting(ctx, requestSetting, string(b)); err != nil {
		return Result{}, err
	}
	for {
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("no answer from a running server (is `pixpool serve` running on this data?): %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		v, err := store.Setting(ctx, resultSetting)
		if err != nil {
			continue
		}
		var res Result
		if json.Unmarshal([]byte(v), &res) == nil && res.Seq == req.Seq {
			if res.Error != "" {
				return res, fmt.Errorf("%s", res.Error)
			}
			return res, nil
		}
	}
}

// LoadState reads the pool state a server keeps in store.
func LoadState(ctx context.Context, store pixpool.Store) (State, error) {
	m := &Manager{Store: store}
	st, err := m.load(ctx)
	return st, err
}

// answer applies req and stores its result for the process that asked
// (Ask), reporting only a failure to store it.
func (m *Manager) answer(ctx context.Context, req Request) error {
	res := Result{Seq: req.Seq}
	if err := m.Apply(ctx, req); err != nil {
		res.Error = pixpool.ErrorMessage(err)
		if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
			res.Error = err.Error()
		}
		m.logger().Warn("pool request failed", "op", req.Op, "arg", req.Arg, "err", err)
	}
	res.State = m.State()
	b, _ := json.Marshal(res)
	return m.Store.SetSetting(ctx, resultSetting, string(b))
}
