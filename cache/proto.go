package cache

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"time"
)

// This file is the memcached text protocol: one method per command, with
// memcached 1.6's exact answers (see docs/cachenode.md for the few
// deliberate differences).

// maxRelativeExptime is memcached's bound: a larger exptime is a unix time.
const maxRelativeExptime = 60 * 60 * 24 * 30

const (
	msgError       = "ERROR\r\n"
	msgBadFormat   = "CLIENT_ERROR bad command line format\r\n"
	msgBadChunk    = "CLIENT_ERROR bad data chunk\r\n"
	msgBadExptime  = "CLIENT_ERROR invalid exptime argument\r\n"
	msgBadDelta    = "CLIENT_ERROR invalid numeric delta argument\r\n"
	msgNonNumeric  = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
	msgTooLarge    = "SERVER_ERROR object too large for cache\r\n"
	msgNoMemory    = "SERVER_ERROR out of memory storing object\r\n"
	msgDeleteUsage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
)

// dispatch serves one command line and reports whether to keep the
// connection open.
func (c *conn) dispatch(line []byte) bool {
	toks := c.tokenize(line)
	if !c.authed {
		return c.authenticate(toks)
	}
	if len(toks) == 0 {
		c.wr.str(msgError)
		return true
	}
	args := toks[1:]
	switch string(toks[0]) {
	case "get":
		c.retrieve(line, false, false)
	case "gets":
		c.retrieve(line, true, false)
	case "gat":
		c.retrieve(line, false, true)
	case "gats":
		c.retrieve(line, true, true)
	case "set":
		return c.update(opSet, args)
	case "add":
		return c.update(opAdd, args)
	case "replace":
		return c.update(opReplace, args)
	case "append":
		return c.update(opAppend, args)
	case "prepend":
		return c.update(opPrepend, args)
	case "cas":
		return c.update(opCAS, args)
	case "delete":
		c.delete(args)
	case "incr":
		c.incr(opIncr, args)
	case "decr":
		c.incr(opDecr, args)
	case "touch":
		c.touch(args)
	case "mg":
		c.metaGet(line)
	case "mn":
		c.wr.str("MN\r\n")
	case "flush_all":
		c.flushAll(args)
	case "version":
		c.wr.str("VERSION ")
		c.wr.str(c.srv.version())
		c.wr.str("\r\n")
	case "verbosity":
		c.verbosity(args)
	case "quit":
		return false
	case "stats":
		c.stats(args)
	case "cache_memlimit":
		c.memlimit(args)
	case "cache_policy":
		c.policy(args)
	case "lru_crawler":
		c.lruCrawler(args)
	case "shutdown":
		c.wr.str("ERROR: shutdown not enabled\r\n")
	default:
		c.wr.str(msgError)
	}
	return true
}

// maxTokens bounds tokenize; no command but the retrievals (which scan
// their keys themselves) takes more than 7 arguments.
const maxTokens = 9

// tokenize splits line at spaces, as memcached does (a tab is part of a
// token). It returns at most maxTokens tokens; a longer line yields exactly
// maxTokens, which no command's arity accepts.
func (c *conn) tokenize(line []byte) [][]byte {
	toks := c.toks[:0]
	for p := 0; len(toks) < maxTokens; {
		t := nextToken(line, &p)
		if t == nil {
			break
		}
		toks = append(toks, t)
	}
	c.toks = toks
	return toks
}

// nextToken returns the token of line at or after *p and advances *p past
// it; nil at the end.
func nextToken(line []byte, p *int) []byte {
	i := *p
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i == len(line) {
		*p = i
		return nil
	}
	j := i
	for j < len(line) && line[j] != ' ' {
		j++
	}
	*p = j
	return line[i:j]
}

// reply writes msg unless the command asked for noreply.
func (c *conn) reply(noreply bool, msg string) {
	if !noreply {
		c.wr.str(msg)
	}
}

func isNoreply(t []byte) bool { return string(t) == "noreply" }

// absExptime turns a protocol exptime into an absolute unix time: 0 never,
// up to 30 days relative, else absolute; negative means already expired.
func (c *conn) absExptime(t int64) int64 {
	switch {
	case t == 0:
		return 0
	case t < 0:
		return -1
	case t <= maxRelativeExptime:
		return c.st.unix() + t
	}
	return t
}

// retrieve serves get, gets, gat and gats. Keys are scanned from the line
// rather than tokenized, so a long multi-get costs no token slice.
func (c *conn) retrieve(line []byte, withCAS, touch bool) {
	p := 0
	nextToken(line, &p) // the command
	var exp int64
	if touch {
		t := nextToken(line, &p)
		if t == nil {
			c.wr.str(msgError)
			return
		}
		v, ok := parseInt(t, 32)
		if !ok {
			c.wr.str(msgBadExptime)
			return
		}
		exp = c.absExptime(v)
	}
	keys := p
	n := 0
	for q := keys; ; n++ {
		k := nextToken(line, &q)
		if k == nil {
			break
		}
		if len(k) > MaxKeyLen {
			c.wr.str(msgBadFormat)
			return
		}
	}
	if n == 0 && !touch {
		c.wr.str(msgError)
		return
	}
	for q := keys; ; {
		k := nextToken(line, &q)
		if k == nil {
			break
		}
		v, ok := c.st.get(bytesKey(k), touch, exp)
		if !ok {
			continue
		}
		b := append(c.wr.buf, "VALUE "...)
		b = append(b, k...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(v.flags), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(len(v.value)), 10)
		if withCAS {
			b = append(b, ' ')
			b = strconv.AppendUint(b, v.cas, 10)
		}
		c.wr.buf = append(b, '\r', '\n')
		c.wr.value(v.value)
		c.wr.str("\r\n")
	}
	c.wr.str("END\r\n")
}

// metaGet serves memcached's meta get, mg <key> <flag>*, with the flags
// v (return the value), c (CAS), k (key), f (client flags), s (size),
// t (seconds to expiry, -1 for none), O<opaque> (echoed) and q (no answer
// to a miss). Without v a hit answers "HD <flags>", with v
// "VA <size> <flags>" and the value; a miss answers "EN". Returned flags
// come in the order asked, as memcached 1.6 sends them. memcached's other
// flags (base64 keys, touch, vivify, recache, ...) answer
// "CLIENT_ERROR invalid flag" and change nothing. A lookup counts as a get.
func (c *conn) metaGet(line []byte) {
	p := 0
	nextToken(line, &p) // mg
	key := nextToken(line, &p)
	if key == nil {
		c.wr.str(msgError)
		return
	}
	if len(key) > MaxKeyLen {
		c.wr.str(msgBadFormat)
		return
	}
	flagsAt := p
	var seen [128]bool
	value, quiet := false, false
	for {
		f := nextToken(line, &p)
		if f == nil {
			break
		}
		switch f[0] {
		case 'v', 'c', 'k', 'f', 's', 't', 'q':
			if len(f) != 1 {
				c.wr.str("CLIENT_ERROR invalid flag\r\n")
				return
			}
		case 'O':
			if len(f) > 33 {
				c.wr.str("CLIENT_ERROR opaque token too long\r\n")
				return
			}
		default:
			c.wr.str("CLIENT_ERROR invalid flag\r\n")
			return
		}
		if seen[f[0]] {
			c.wr.str("CLIENT_ERROR duplicate flag\r\n")
			return
		}
		seen[f[0]] = true
		value = value || f[0] == 'v'
		quiet = quiet || f[0] == 'q'
	}
	v, ok := c.st.get(bytesKey(key), false, 0)
	if !ok {
		if !quiet {
			c.wr.str("EN\r\n")
		}
		return
	}
	b := c.wr.buf
	if value {
		b = append(b, "VA "...)
		b = strconv.AppendInt(b, int64(len(v.value)), 10)
	} else {
		b = append(b, "HD"...)
	}
	for q := flagsAt; ; {
		f := nextToken(line, &q)
		if f == nil {
			break
		}
		switch f[0] {
		case 'c':
			b = append(b, " c"...)
			b = strconv.AppendUint(b, v.cas, 10)
		case 'k':
			b = append(b, " k"...)
			b = append(b, key...)
		case 'f':
			b = append(b, " f"...)
			b = strconv.AppendUint(b, uint64(v.flags), 10)
		case 's':
			b = append(b, " s"...)
			b = strconv.AppendInt(b, int64(len(v.value)), 10)
		case 't':
			b = append(b, " t"...)
			if v.exp == 0 {
				b = append(b, "-1"...)
			} else {
				b = strconv.AppendInt(b, max(v.exp-c.st.unix(), 0), 10)
			}
		case 'O':
			b = append(b, ' ')
			b = append(b, f...)
		}
	}
	c.wr.buf = append(b, '\r', '\n')
	if value {
		c.wr.value(v.value)
		c.wr.str("\r\n")
	}
}

// update serves set, add, replace, append, prepend and cas:
// <cmd> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]
func (c *conn) update(o op, args [][]byte) bool {
	want := 4
	if o == opCAS {
		want = 5
	}
	if len(args) != want && len(args) != want+1 {
		c.wr.str(msgError)
		return true
	}
	noreply := len(args) == want+1 && isNoreply(args[want])
	key := args[0]
	if len(key) > MaxKeyLen {
		c.reply(noreply, msgBadFormat)
		return true
	}
	flags, ok1 := parseUint(args[1], 32)
	exptime, ok2 := parseInt(args[2], 32)
	n, ok3 := parseInt(args[3], 32)
	var cas uint64
	ok4 := true
	if o == opCAS {
		cas, ok4 = parseUint(args[4], 64)
	}
	if !ok1 || !ok2 || !ok3 || !ok4 || n < 0 || n > math.MaxInt32-2 {
		// As memcached: the data block is not skipped, so it will be read
		// as a command.
		c.reply(noreply, msgBadFormat)
		return true
	}
	if c.st.tooBig(itemSize(len(key), int(n))) {
		// Changes nothing (memcached also deletes the old value of a set).
		c.st.tooLarge.Add(1)
		c.reply(noreply, msgTooLarge)
		if c.wr.flush() != nil {
			return false
		}
		return c.rd.discard(n+2) == nil
	}
	k := string(key) // copy: reading the value reuses the line's buffer
	value, err := c.rd.readValue(int(n))
	if err != nil || c.rd.readFull(c.crlf[:]) != nil {
		return false
	}
	if c.crlf != [2]byte{'\r', '\n'} {
		c.reply(noreply, msgBadChunk)
		return true
	}
	_, err = c.st.write(&writeReq{op: o, key: k, value: value, flags: uint32(flags), exp: c.absExptime(exptime), cas: cas})
	switch err {
	case nil:
		c.reply(noreply, "STORED\r\n")
	case ErrNotStored:
		c.reply(noreply, "NOT_STORED\r\n")
	case ErrExists:
		c.reply(noreply, "EXISTS\r\n")
	case ErrNotFound:
		c.reply(noreply, "NOT_FOUND\r\n")
	case ErrTooLarge:
		c.reply(noreply, msgTooLarge)
	default:
		c.reply(noreply, msgNoMemory)
	}
	return true
}

// delete serves delete <key> [0] [noreply].
func (c *conn) delete(args [][]byte) {
	if len(args) < 1 || len(args) > 3 {
		c.wr.str(msgError)
		return
	}
	noreply := false
	if len(args) > 1 {
		zero := string(args[1]) == "0"
		noreply = isNoreply(args[len(args)-1])
		if !(len(args) == 2 && (zero || noreply) || len(args) == 3 && zero && noreply) {
			c.reply(noreply, msgDeleteUsage)
			return
		}
	}
	if len(args[0]) > MaxKeyLen {
		c.reply(noreply, msgBadFormat)
		return
	}
	if c.st.Delete(bytesKey(args[0])) {
		c.reply(noreply, "DELETED\r\n")
	} else {
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// keyArgs checks the arguments of a "<key> <number> [noreply]" command,
// answering the error itself when they are wrong, and reports noreply.
func (c *conn) keyArgs(args [][]byte) (noreply, ok bool) {
	if len(args) != 2 && len(args) != 3 {
		c.wr.str(msgError)
		return false, false
	}
	noreply = len(args) == 3 && isNoreply(args[2])
	if len(args[0]) > MaxKeyLen {
		c.reply(noreply, msgBadFormat)
		return noreply, false
	}
	return noreply, true
}

// incr serves incr|decr <key> <delta> [noreply].
func (c *conn) incr(o op, args [][]byte) {
	noreply, ok := c.keyArgs(args)
	if !ok {
		return
	}
	delta, ok := parseUint(args[1], 64)
	if !ok {
		c.reply(noreply, msgBadDelta)
		return
	}
	r, err := c.st.write(&writeReq{op: o, key: bytesKey(args[0]), delta: delta})
	switch err {
	case nil:
		if !noreply {
			c.wr.buf = append(strconv.AppendUint(c.wr.buf, r.num, 10), '\r', '\n')
		}
	case ErrNotFound:
		c.reply(noreply, "NOT_FOUND\r\n")
	case ErrNonNumeric:
		c.reply(noreply, msgNonNumeric)
	case ErrTooLarge:
		c.reply(noreply, msgTooLarge)
	default:
		c.reply(noreply, msgNoMemory)
	}
}

// touch serves touch <key> <exptime> [noreply].
func (c *conn) touch(args [][]byte) {
	noreply, ok := c.keyArgs(args)
	if !ok {
		return
	}
	t, ok := parseInt(args[1], 32)
	if !ok {
		c.reply(noreply, msgBadExptime)
		return
	}
	if c.st.Touch(bytesKey(args[0]), c.absExptime(t)) {
		c.reply(noreply, "TOUCHED\r\n")
	} else {
		c.reply(noreply, "NOT_FOUND\r\n")
	}
}

// flushAll serves flush_all [delay] [noreply].
func (c *conn) flushAll(args [][]byte) {
	if len(args) > 2 {
		c.wr.str(msgError)
		return
	}
	noreply := len(args) > 0 && isNoreply(args[len(args)-1])
	var delay time.Duration
	if len(args) > 0 && !(len(args) == 1 && noreply) {
		t, ok := parseInt(args[0], 32)
		if !ok {
			c.reply(noreply, msgBadExptime)
			return
		}
		if t > 0 {
			delay = time.Duration(c.absExptime(t)-c.st.unix()) * time.Second
		}
	}
	c.st.FlushAfter(delay)
	c.reply(noreply, "OK\r\n")
}

// verbosity serves verbosity <level> [noreply]; the level is only kept.
func (c *conn) verbosity(args [][]byte) {
	if len(args) != 1 && len(args) != 2 {
		c.wr.str(msgError)
		return
	}
	noreply := isNoreply(args[len(args)-1])
	v, ok := parseUint(args[0], 32)
	if !ok {
		c.reply(noreply, msgBadFormat)
		return
	}
	c.srv.verbosity.Store(uint32(v))
	c.reply(noreply, "OK\r\n")
}

// memlimit serves cache_memlimit <megabytes> [noreply]: a new capacity,
// applied at once (shrinking evicts by the policy before the answer).
func (c *conn) memlimit(args [][]byte) {
	if len(args) != 1 && len(args) != 2 {
		c.wr.str(msgError)
		return
	}
	noreply := len(args) == 2 && isNoreply(args[1])
	mb, ok := parseUint(args[0], 32)
	switch {
	case !ok:
		c.wr.str(msgError)
	case mb < 1:
		c.reply(noreply, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 1m\r\n")
	case mb > 1000000000:
		c.reply(noreply, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n")
	case c.srv.maxCap > 0 && int64(mb)<<20 > c.srv.maxCap:
		c.reply(noreply, "CLIENT_ERROR memory limit of "+strconv.FormatUint(mb, 10)+" MB is more than this machine's memory ("+
			strconv.FormatInt(c.srv.maxCap>>20, 10)+" MB)\r\n")
	default:
		c.st.SetCapacity(int64(mb) << 20)
		c.reply(noreply, "OK\r\n")
	}
}

// policy serves the extension cache_policy [lru|rr] [noreply]: with no
// argument it answers "POLICY <name>", else switches and answers OK.
func (c *conn) policy(args [][]byte) {
	switch {
	case len(args) == 0:
		c.wr.str("POLICY ")
		c.wr.str(c.st.Policy().String())
		c.wr.str("\r\n")
	case len(args) <= 2:
		noreply := len(args) == 2 && isNoreply(args[1])
		p, err := ParsePolicy(string(args[0]))
		if err != nil {
			c.reply(noreply, msgBadFormat)
			return
		}
		c.st.SetPolicy(p)
		c.reply(noreply, "OK\r\n")
	default:
		c.wr.str(msgError)
	}
}

// lruCrawler serves lru_crawler metadump all|1: one line per item in LRU
// order, least recently used first, then END. Items all live in class 1.
func (c *conn) lruCrawler(args [][]byte) {
	if len(args) != 2 || string(args[0]) != "metadump" {
		c.wr.str(msgError)
		return
	}
	if s := string(args[1]); s != "all" && s != "1" {
		c.wr.str("BADCLASS invalid class id\r\n")
		return
	}
	c.st.Walk(func(k KeyInfo) bool {
		b := append(c.wr.buf, "key="...)
		b = appendURLEscaped(b, k.Key)
		b = append(b, " exp="...)
		if k.Exp == 0 {
			b = append(b, "-1"...)
		} else {
			b = strconv.AppendInt(b, k.Exp, 10)
		}
		b = append(b, " la="...)
		b = strconv.AppendInt(b, k.LastAccess, 10)
		b = append(b, " cas="...)
		b = strconv.AppendUint(b, k.CAS, 10)
		if k.Fetched {
			b = append(b, " fetch=yes"...)
		} else {
			b = append(b, " fetch=no"...)
		}
		b = append(b, " cls=1 size="...)
		b = strconv.AppendInt(b, k.Size, 10)
		c.wr.buf = append(b, '\n')
		if len(c.wr.buf) >= flushAt {
			c.wr.flush()
		}
		return c.wr.err == nil
	})
	c.wr.str("END\r\n")
}

// appendURLEscaped escapes key as memcached's metadump does: letters,
// digits and "-._~" stay, every other byte becomes %XX.
func appendURLEscaped(b []byte, key string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(key); i++ {
		ch := key[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
			ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b = append(b, ch)
		} else {
			b = append(b, '%', hex[ch>>4], hex[ch&15])
		}
	}
	return b
}

// stats serves stats, stats settings and stats reset.
func (c *conn) stats(args [][]byte) {
	if len(args) == 0 {
		c.statsGeneral()
		return
	}
	switch string(args[0]) {
	case "settings":
		c.statsSettings()
	case "reset":
		c.st.ResetStats()
		c.wr.str("RESET\r\n")
	default:
		c.wr.str(msgError)
	}
}

func (c *conn) stat(name string, v uint64) {
	b := append(c.wr.buf, "STAT "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, v, 10)
	c.wr.buf = append(b, '\r', '\n')
}

func (c *conn) statString(name, v string) {
	c.wr.str("STAT " + name + " " + v + "\r\n")
}

func (c *conn) statsGeneral() {
	s := c.srv
	st := c.st.Stats()
	now := time.Now()
	read, written := s.ioTotals()
	user, sys := rusage()
	s.mu.Lock()
	uptime := now.Sub(s.started)
	s.mu.Unlock()
	c.stat("pid", uint64(os.Getpid()))
	c.stat("uptime", uint64(uptime/time.Second))
	c.stat("time", uint64(now.Unix()))
	c.statString("version", s.version())
	c.stat("pointer_size", 64)
	c.statString("rusage_user", formatSeconds(user))
	c.statString("rusage_system", formatSeconds(sys))
	c.stat("max_connections", uint64(s.maxConns()))
	c.stat("curr_connections", uint64(s.currConns.Load()))
	c.stat("total_connections", s.totalConns.Load())
	c.stat("rejected_connections", s.rejectedConns.Load())
	c.stat("auth_cmds", s.authCmds.Load())
	c.stat("auth_errors", s.authErrors.Load())
	c.stat("cmd_get", st.Gets)
	c.stat("cmd_set", st.Sets)
	c.stat("cmd_flush", st.Flushes)
	c.stat("cmd_touch", st.Touches)
	c.stat("get_hits", st.Hits)
	c.stat("get_misses", st.Misses)
	c.stat("get_expired", st.GetExpired)
	c.stat("get_flushed", 0)
	c.stat("delete_misses", st.DeleteMisses)
	c.stat("delete_hits", st.DeleteHits)
	c.stat("incr_misses", st.IncrMisses)
	c.stat("incr_hits", st.IncrHits)
	c.stat("decr_misses", st.DecrMisses)
	c.stat("decr_hits", st.DecrHits)
	c.stat("cas_misses", st.CasMisses)
	c.stat("cas_hits", st.CasHits)
	c.stat("cas_badval", st.CasBadval)
	c.stat("touch_hits", st.TouchHits)
	c.stat("touch_misses", st.TouchMisses)
	c.stat("store_too_large", st.TooLarge)
	c.stat("store_no_memory", st.NoMemory)
	c.stat("bytes_read", read)
	c.stat("bytes_written", written)
	c.stat("limit_maxbytes", uint64(st.Capacity))
	c.stat("threads", uint64(runtime.GOMAXPROCS(0)))
	c.stat("bytes", uint64(st.Bytes))
	c.stat("curr_items", uint64(st.Items))
	c.stat("total_items", st.TotalItems)
	c.stat("expired_unfetched", st.ExpiredUnfetched)
	c.stat("evicted_unfetched", st.EvictedUnfetched)
	c.stat("evictions", st.Evictions)
	c.stat("reclaimed", st.Reclaimed)
	// pixpool's own:
	c.statString("policy", st.Policy.String())
	c.stat("requests_last_5s", st.RequestsLast5s)
	c.wr.str("END\r\n")
}

func (c *conn) statsSettings() {
	s := c.srv
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	c.stat("maxbytes", uint64(c.st.Capacity()))
	c.stat("maxconns", uint64(s.maxConns()))
	c.stat("tcpport", uint64(port))
	c.stat("verbosity", uint64(s.verbosity.Load()))
	c.statString("evictions", "on")
	c.stat("num_threads", uint64(runtime.GOMAXPROCS(0)))
	c.statString("cas_enabled", "yes")
	c.stat("item_size_max", uint64(c.st.MaxItemBytes()))
	c.stat("idle_timeout", uint64(s.idleTimeout()/time.Second))
	c.statString("auth_enabled_sasl", "no")
	if len(s.Credentials) > 0 {
		c.statString("auth_enabled_ascii", "yes")
	} else {
		c.statString("auth_enabled_ascii", "no")
	}
	c.statString("policy", c.st.Policy().String())
	c.wr.str("END\r\n")
}

func (s *Server) maxConns() int {
	if s.MaxConns > 0 {
		return s.MaxConns
	}
	return DefaultMaxConns
}

// formatSeconds formats d as memcached's rusage: seconds.microseconds.
func formatSeconds(d time.Duration) string {
	us := d.Microseconds()
	frac := strconv.FormatInt(us%1e6, 10)
	for len(frac) < 6 {
		frac = "0" + frac
	}
	return strconv.FormatInt(us/1e6, 10) + "." + frac
}

// parseUint parses decimal digits into an unsigned integer of the given bit
// size, refusing anything else (signs, spaces, overflow).
func parseUint(b []byte, bits uint) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if bits < 64 && n >= 1<<bits {
		return 0, false
	}
	return n, true
}

// parseInt parses an optionally signed decimal integer of the given bit size.
func parseInt(b []byte, bits uint) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, ok := parseUint(b, 64)
	if !ok {
		return 0, false
	}
	lim := uint64(1) << (bits - 1) // |min| of the signed range
	if neg {
		if u > lim {
			return 0, false
		}
		return -int64(u), true
	}
	if u >= lim {
		return 0, false
	}
	return int64(u), true
}
