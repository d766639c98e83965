package cache

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
)

// Credential is a user name and password a Server accepts (Server.Credentials).
type Credential struct {
	User, Password string
}

// maxAuthBytes bounds the data block of an authentication: memcached's
// file lines are at most 255 bytes, so no genuine one is longer. A longer
// one closes the connection before anything is buffered.
const maxAuthBytes = 1024

// ReadAuthFile reads a file of credentials in memcached's -Y format: one
// "user:password" per line (the password is everything after the first
// colon, to the end of the line). Blank lines are skipped.
func ReadAuthFile(name string) ([]Credential, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cache: auth file: %w", err)
	}
	creds, err := ParseAuthFile(b)
	if err != nil {
		return nil, fmt.Errorf("cache: auth file %s: %w", name, err)
	}
	return creds, nil
}

// ParseAuthFile parses the contents of a memcached -Y file (see
// ReadAuthFile). It refuses a file without credentials, a line without a
// colon, and users or passwords that the authentication command cannot
// carry (empty, or holding a space).
func ParseAuthFile(b []byte) ([]Credential, error) {
	var creds []Credential
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		user, pass, ok := bytes.Cut(line, []byte(":"))
		switch {
		case !ok:
			return nil, fmt.Errorf("line %d: want user:password", i+1)
		case len(user) == 0 || len(pass) == 0:
			return nil, fmt.Errorf("line %d: empty user or password", i+1)
		case bytes.ContainsAny(line, " \t\x00"):
			return nil, fmt.Errorf("line %d: spaces are not allowed in users or passwords", i+1)
		case len(line) > 255:
			return nil, fmt.Errorf("line %d: longer than memcached's 255 bytes", i+1)
		}
		creds = append(creds, Credential{User: string(user), Password: string(pass)})
	}
	if len(creds) == 0 {
		return nil, errors.New("no user:password line")
	}
	return creds, nil
}

// authenticate serves a command of a connection that has not yet
// authenticated: only "set <key> <flags> <exptime> <bytes> [noreply]" with
// "<user> <password>" as its data is taken (its key, flags, exptime and
// noreply are ignored, and nothing is stored), as memcached does; the
// answers are memcached's. quit closes the connection; every other
// command is answered "CLIENT_ERROR unauthenticated" and not run.
func (c *conn) authenticate(toks [][]byte) bool {
	if len(toks) == 1 && string(toks[0]) == "quit" {
		return false
	}
	var n uint64
	ok := len(toks) >= 5 && string(toks[0]) == "set"
	if ok {
		n, ok = parseUint(toks[4], 32)
	}
	if !ok {
		c.wr.str("CLIENT_ERROR unauthenticated\r\n")
		return true
	}
	c.srv.authCmds.Add(1)
	if n > maxAuthBytes {
		c.srv.authErrors.Add(1)
		c.wr.str("CLIENT_ERROR bad authentication token format\r\n")
		return false
	}
	var buf [maxAuthBytes + 2]byte
	data := buf[:n+2]
	if c.rd.readFull(data) != nil {
		return false
	}
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		c.srv.authErrors.Add(1)
		c.wr.str("CLIENT_ERROR bad command line termination\r\n")
		return true
	}
	p := 0
	user := nextToken(data[:n], &p)
	pass := nextToken(data[:n], &p)
	if pass == nil {
		c.srv.authErrors.Add(1)
		c.wr.str("CLIENT_ERROR bad authentication token format\r\n")
		return true
	}
	// Every credential is compared, in constant time, so the answer's
	// timing tells nothing about which part was wrong.
	match := 0
	for _, cr := range c.srv.Credentials {
		match |= subtle.ConstantTimeCompare(user, []byte(cr.User)) & subtle.ConstantTimeCompare(pass, []byte(cr.Password))
	}
	if match != 1 {
		c.srv.authErrors.Add(1)
		c.wr.str("CLIENT_ERROR authentication failure\r\n")
		return true
	}
	c.authed = true
	c.wr.str("STORED\r\n")
	return true
}
