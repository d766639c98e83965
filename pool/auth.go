package pool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// credential is what connections to the nodes authenticate with.
type credential struct {
	user, password string
}

// DefaultUser is the user SetAuth takes for an empty one.
const DefaultUser = "pixpool"

// SetAuth sets the user and password that every new connection to a node
// authenticates with, by memcached's ASCII authentication (nodes started
// with memcached -Y, or pixpool cachenode --auth-file or PIXPOOL_AUTH). An
// empty user is DefaultUser; an empty password turns authentication off.
// Connections already open keep working. A node that answers without
// authentication is refused rather than sent the password: it is
// misconfigured, and anyone who can reach it can read the cache.
func (c *Client) SetAuth(user, password string) {
	if password == "" {
		c.auth.Store(nil)
		return
	}
	if user == "" {
		user = DefaultUser
	}
	c.auth.Store(&credential{user, password})
}

// ErrNodeOpen is returned for a node that requires no authentication while
// the client has credentials.
var ErrNodeOpen = errors.New("pool: cache node requires no authentication; not sending it the secret")

// dial connects to a node and authenticates if the client has credentials.
func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: c.timeout()}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if cr := c.auth.Load(); cr != nil {
		if err := authenticate(ctx, nc, cr, c.timeout()); err != nil {
			nc.Close()
			return nil, fmt.Errorf("pool: authenticate to %s: %w", addr, err)
		}
	}
	return nc, nil
}

// authenticate runs memcached's ASCII authentication on a new connection:
// first a "version", which a node requiring authentication refuses (so the
// password never goes to a node that would store it as a value), then
// "set <key> 0 0 <n>" with "<user> <password>", answered STORED.
func authenticate(ctx context.Context, nc net.Conn, cr *credential, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})
	// The node sends nothing unasked, so the reader holds no more than the
	// answers to these two commands.
	r := bufio.NewReaderSize(nc, 256)
	ask := func(cmd string) (string, error) {
		if _, err := nc.Write([]byte(cmd)); err != nil {
			return "", err
		}
		line, err := r.ReadString('\n')
		return strings.TrimRight(line, "\r\n"), err
	}
	line, err := ask("version\r\n")
	switch {
	case err != nil:
		return err
	case strings.HasPrefix(line, "VERSION"):
		return ErrNodeOpen
	case line != "CLIENT_ERROR unauthenticated":
		return fmt.Errorf("unexpected answer %q to version", line)
	}
	data := cr.user + " " + cr.password
	line, err = ask("set auth 0 0 " + strconv.Itoa(len(data)) + "\r\n" + data + "\r\n")
	switch {
	case err != nil:
		return err
	case line != "STORED":
		return fmt.Errorf("%s", line) // CLIENT_ERROR authentication failure
	}
	return nil
}

// idleConn is a connection that gomemcache keeps in its pool. One left
// idle longer than maxIdle is replaced by a new one (authenticated again)
// before its next request, so that a node's idle timeout never closes it
// under a request: that would count as the node failing.
//
// gomemcache sets a deadline when it takes a connection for a request, and
// at no other time, so SetDeadline marks the start of a request.
// A connection serves one request at a time.
type idleConn struct {
	net.Conn
	redial  func(ctx context.Context) (net.Conn, error)
	maxIdle time.Duration
	last    time.Time // start of the last request
	stale   bool      // replace before the next write
	dl      time.Time // the request's deadline
}

func (c *idleConn) SetDeadline(t time.Time) error {
	now := time.Now()
	if !c.last.IsZero() && now.Sub(c.last) > c.maxIdle {
		c.stale = true
	}
	c.last, c.dl = now, t
	return c.Conn.SetDeadline(t)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.stale {
		c.stale = false
		c.Conn.Close()
		ctx, cancel := context.WithDeadline(context.Background(), c.dl)
		nc, err := c.redial(ctx)
		cancel()
		if err != nil {
			return 0, err
		}
		nc.SetDeadline(c.dl)
		c.Conn = nc
	}
	return c.Conn.Write(p)
}
