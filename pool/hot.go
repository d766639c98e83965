package pool

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// The hot tier keeps recently read values in process, so that a hit does
// not carry the value across from its node again. It is exact: an entry
// is served only after its node confirmed, by memcached's meta get without
// the value ("mg <key> c", answered "HD c<cas>"), that the key still holds
// the very version the entry copied. Every modification of an item gives
// it a new CAS unique, on memcached and on pixpool's nodes, so a write
// through any replica, a delete, an eviction or a flush is seen by the next
// read here. An entry names the node (and the connection generation, see
// metaConn) it was read from: a key that moved to another node in a resize
// or a node that restarted with its CAS counter from 1 never validates an
// old copy. A node that fails to answer is a miss, never an unvalidated hit.

// hotEntry is one value of the hot tier.
type hotEntry struct {
	key   string
	value []byte
	node  *node
	gen   uint64 // node.gen when the value was read
	cas   uint64
}

// hotOverhead is what an entry costs besides its key and value.
const hotOverhead = 128

func (e *hotEntry) size() int64 { return int64(len(e.key) + len(e.value) + hotOverhead) }

// hotTier is a byte-bounded LRU of hotEntry.
type hotTier struct {
	max int64

	mu   sync.Mutex
	used int64
	ll   list.List // front: most recently used
	m    map[string]*list.Element
}

func newHotTier(max int64) *hotTier {
	return &hotTier{max: max, m: make(map[string]*list.Element)}
}

func (h *hotTier) get(key string) (hotEntry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	el := h.m[key]
	if el == nil {
		return hotEntry{}, false
	}
	h.ll.MoveToFront(el)
	return *el.Value.(*hotEntry), true
}

// put stores e, replacing any entry for its key; a value larger than an
// eighth of the tier is not kept (it would push out too many others).
func (h *hotTier) put(e *hotEntry) {
	if e.size() > h.max/8 {
		h.drop(e.key)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if el := h.m[e.key]; el != nil {
		h.used -= el.Value.(*hotEntry).size()
		h.ll.Remove(el)
	}
	h.m[e.key] = h.ll.PushFront(e)
	h.used += e.size()
	for h.used > h.max {
		el := h.ll.Back()
		old := el.Value.(*hotEntry)
		h.ll.Remove(el)
		delete(h.m, old.key)
		h.used -= old.size()
	}
}

func (h *hotTier) drop(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if el := h.m[key]; el != nil {
		h.used -= el.Value.(*hotEntry).size()
		h.ll.Remove(el)
		delete(h.m, key)
	}
}

func (h *hotTier) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m = make(map[string]*list.Element)
	h.ll.Init()
	h.used = 0
}

// stats returns the entries and bytes held.
func (h *hotTier) stats() (int, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m), h.used
}

// metaKey reports whether key can be sent in a meta command as is (the
// keys gomemcache accepts).
func metaKey(key string) bool {
	if len(key) == 0 || len(key) > 250 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] == 0x7f {
			return false
		}
	}
	return true
}

// hotGet is Get through the hot tier: validate a local copy with "mg key
// c", else read the value and its CAS with "mg key v c" and keep it.
func (c *Client) hotGet(n *node, key string) ([]byte, bool, error) {
	if e, ok := c.hot.get(key); ok {
		if e.node == n {
			r, err, shared := n.validate(key)
			if err != nil {
				if shared {
					// Another validation of the same batch counted the
					// failure (one broken connection is one failure).
					c.hot.drop(key)
					c.misses.Add(1)
					return nil, false, fmt.Errorf("pool: meta get from %s: %w", n.ID, err)
				}
				return nil, false, c.metaFailed(n, key, err)
			}
			if !r.found {
				c.hot.drop(key)
				c.ok(n)
				c.misses.Add(1)
				return nil, false, errMiss
			}
			if r.cas == e.cas && r.gen == e.gen {
				c.ok(n)
				c.hits.Add(1)
				return e.value, true, nil
			}
		}
		c.hot.drop(key)
	}
	r, err := n.metaGet(key, true)
	if err != nil {
		return nil, false, c.metaFailed(n, key, err)
	}
	c.ok(n)
	if !r.found {
		c.misses.Add(1)
		return nil, false, errMiss
	}
	if r.cas != 0 { // 0: the node keeps no CAS (memcached -C); nothing to validate with
		c.hot.put(&hotEntry{key: key, value: r.value, node: n, gen: r.gen, cas: r.cas})
	}
	c.hits.Add(1)
	return r.value, false, nil
}

// metaFailed handles an mg that got no usable answer: the key is a miss.
// A node that does not speak the meta protocol (memcached before 1.6) is
// read without the hot tier from then on.
func (c *Client) metaFailed(n *node, key string, err error) error {
	c.hot.drop(key)
	c.misses.Add(1)
	var pe metaProtoError
	if errors.As(err, &pe) {
		if !n.noMeta.Swap(true) {
			c.logger().Warn("cache node does not answer meta get; reading it without the hot tier", "node", n.ID, "answer", string(pe))
		}
		c.ok(n)
		return fmt.Errorf("pool: meta get from %s: %w", n.ID, err)
	}
	c.fail(n, err)
	return fmt.Errorf("pool: meta get from %s: %w", n.ID, err)
}

// metaConn is a pooled connection for meta commands. Every connection a
// node's pool dials increments the node's gen before its first command: a
// node that restarted (and numbers CAS uniques from 1 again) can only be
// reached by a new connection, so no entry read before the restart
// validates after it.
type metaConn struct {
	nc   net.Conn
	r    *bufio.Reader
	buf  []byte
	last time.Time
}

// maxMetaIdle bounds the idle meta connections kept per node.
const maxMetaIdle = 64

// metaResult is an mg's answer.
type metaResult struct {
	found bool
	cas   uint64
	value []byte // with the value only
	gen   uint64 // node.gen while the connection was in use
}

// metaProtoError is an answer that is not the meta protocol's.
type metaProtoError string

func (e metaProtoError) Error() string { return "unexpected answer " + strconv.Quote(string(e)) }

// maxMetaValue bounds the size a node may announce for a value.
const maxMetaValue = 1 << 30

func (n *node) getMetaConn() (*metaConn, error) {
	now := time.Now()
	n.metaMu.Lock()
	for len(n.metaIdle) > 0 {
		mc := n.metaIdle[len(n.metaIdle)-1]
		n.metaIdle = n.metaIdle[:len(n.metaIdle)-1]
		if now.Sub(mc.last) <= n.maxIdle {
			n.metaMu.Unlock()
			return mc, nil
		}
		mc.nc.Close() // the node may close it any moment; replace it
	}
	n.metaMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	nc, err := n.dial(ctx)
	if err != nil {
		return nil, err
	}
	n.gen.Add(1)
	return &metaConn{nc: nc, r: bufio.NewReaderSize(nc, 4096)}, nil
}

func (n *node) putMetaConn(mc *metaConn) {
	mc.last = time.Now()
	n.metaMu.Lock()
	if len(n.metaIdle) < maxMetaIdle {
		n.metaIdle = append(n.metaIdle, mc)
		mc = nil
	}
	n.metaMu.Unlock()
	if mc != nil {
		mc.nc.Close()
	}
}

// metaGet sends "mg <key> c", or with value "mg <key> v c", and reads the
// answer. Any error closes the connection and moves the node's gen on.
func (n *node) metaGet(key string, value bool) (metaResult, error) {
	mc, err := n.getMetaConn()
	if err != nil {
		n.gen.Add(1)
		return metaResult{}, err
	}
	r, err := mc.metaGet(key, value, n.timeout, n.gen.Load())
	if err != nil {
		mc.nc.Close()
		n.gen.Add(1)
		return metaResult{}, err
	}
	n.putMetaConn(mc)
	return r, nil
}

func (mc *metaConn) metaGet(key string, value bool, timeout time.Duration, gen uint64) (metaResult, error) {
	mc.nc.SetDeadline(time.Now().Add(timeout))
	b := appendMetaGet(mc.buf[:0], key, value)
	mc.buf = b
	if _, err := mc.nc.Write(b); err != nil {
		return metaResult{gen: gen}, err
	}
	return mc.readMeta(value, gen)
}

// appendMetaGet appends "mg <key> c", or with value "mg <key> v c".
func appendMetaGet(b []byte, key string, value bool) []byte {
	b = append(b, "mg "...)
	b = append(b, key...)
	if value {
		return append(b, " v c\r\n"...)
	}
	return append(b, " c\r\n"...)
}

// readMeta reads the answer to one mg.
func (mc *metaConn) readMeta(value bool, gen uint64) (metaResult, error) {
	res := metaResult{gen: gen}
	line, err := mc.r.ReadSlice('\n')
	if err != nil {
		return res, err
	}
	line = trimCRLF(line)
	if string(line) == "EN" {
		return res, nil
	}
	// "HD c<cas>" or "VA <size> c<cas>"
	size := -1
	var rest []byte
	switch {
	case !value && len(line) > 3 && string(line[:3]) == "HD ":
		rest = line[3:]
	case value && len(line) > 3 && string(line[:3]) == "VA ":
		sz, tail := cutSpace(line[3:])
		v, err := strconv.ParseUint(string(sz), 10, 64)
		if err != nil || v > maxMetaValue {
			return res, metaProtoError(line)
		}
		size, rest = int(v), tail
	default:
		return res, metaProtoError(line)
	}
	if len(rest) < 2 || rest[0] != 'c' {
		return res, metaProtoError(line)
	}
	cas, err := strconv.ParseUint(string(rest[1:]), 10, 64)
	if err != nil {
		return res, metaProtoError(line)
	}
	res.found, res.cas = true, cas
	if size >= 0 {
		v := make([]byte, size+2)
		if _, err := io.ReadFull(mc.r, v); err != nil {
			return res, err
		}
		if v[size] != '\r' || v[size+1] != '\n' {
			return res, metaProtoError("value not ended by CRLF")
		}
		res.value = v[:size:size]
	}
	return res, nil
}

// A validation is one "mg <key> c" waiting to be sent in a batch.
type validation struct {
	key    string
	res    metaResult
	err    error
	shared bool          // err is the batch's, counted by the first validation that got it
	lead   bool          // set before done signals: send the next batch
	done   chan struct{} // signalled once res and err are set, or to hand over the lead
}

var validationPool = sync.Pool{New: func() any { return &validation{done: make(chan struct{}, 1)} }}

// validate asks the node for key's CAS ("mg <key> c"). Concurrent
// validations on one node are pipelined: while a batch is sent and
// answered, the validations that arrive wait, and the next batch sends
// them all in one write on one connection and reads their answers in
// order, so the node parses them from one read and answers in one write.
// Every validation's own mg is sent after validate was called, so its
// answer is the node's state at some moment during the call: exactly what
// an mg of its own would say. The node counts every mg, as before.
//
// shared reports, with an error, that another validation of the same
// batch counts the failure, so that a broken connection is one failure.
func (n *node) validate(key string) (r metaResult, err error, shared bool) {
	v := validationPool.Get().(*validation)
	v.key, v.res, v.err, v.shared, v.lead = key, metaResult{}, nil, false, false
	n.valMu.Lock()
	n.valPending = append(n.valPending, v)
	if n.valBusy {
		n.valMu.Unlock()
		<-v.done
		if !v.lead {
			r, err, shared = v.res, v.err, v.shared
			validationPool.Put(v)
			return r, err, shared
		}
		n.valMu.Lock() // handed the lead: v is first in n.valPending
	}
	n.valBusy = true
	batch := n.valPending
	n.valPending = n.valSpare[:0]
	n.valSpare = nil
	n.valMu.Unlock()

	n.validateBatch(batch)
	r, err, shared = v.res, v.err, v.shared

	n.valMu.Lock()
	var next *validation
	if len(n.valPending) > 0 {
		next = n.valPending[0]
	} else {
		n.valBusy = false
	}
	n.valMu.Unlock()
	for i, w := range batch {
		if w != v {
			w.done <- struct{}{}
		}
		batch[i] = nil
	}
	if next != nil {
		next.lead = true
		next.done <- struct{}{}
	}
	n.valMu.Lock()
	if n.valSpare == nil {
		n.valSpare = batch[:0]
	}
	n.valMu.Unlock()
	validationPool.Put(v)
	return r, err, shared
}

// maxBatchWrite bounds the bytes of commands written at once.
const maxBatchWrite = 16 << 10

// validateBatch sends the batch's mg commands on one connection and reads
// their answers in order, setting each one's res and err. An error closes
// the connection and moves the node's gen on; the validations not answered
// get it, all but the first of them marked shared, so that the failure is
// counted once even when the connection broke after some answers.
func (n *node) validateBatch(batch []*validation) {
	fail := func(from int, err error) {
		for i, w := range batch[from:] {
			w.err, w.shared = err, i > 0
		}
	}
	mc, err := n.getMetaConn()
	if err != nil {
		n.gen.Add(1)
		fail(0, err)
		return
	}
	gen := n.gen.Load()
	mc.nc.SetDeadline(time.Now().Add(n.timeout))
	for sent := 0; sent < len(batch); {
		b := mc.buf[:0]
		end := sent
		for end < len(batch) && (end == sent || len(b) < maxBatchWrite) {
			b = appendMetaGet(b, batch[end].key, false)
			end++
		}
		mc.buf = b
		if _, err := mc.nc.Write(b); err != nil {
			mc.nc.Close()
			n.gen.Add(1)
			fail(sent, err)
			return
		}
		for i := sent; i < end; i++ {
			res, err := mc.readMeta(false, gen)
			if err != nil {
				mc.nc.Close()
				n.gen.Add(1)
				fail(i, err)
				return
			}
			batch[i].res = res
		}
		sent = end
	}
	n.putMetaConn(mc)
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func cutSpace(b []byte) ([]byte, []byte) {
	for i := 0; i < len(b); i++ {
		if b[i] == ' ' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}
