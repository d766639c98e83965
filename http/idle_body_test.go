package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pixpooltest"
)

// newIdleServer serves a Server whose request bodies may idle for idle,
// with one user, and returns its URL and an Authorization header value.
func newIdleServer(t *testing.T, idle time.Duration) (url, bearer string) {
	t.Helper()
	env := pixpooltest.New(t)
	srv := &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger, BodyIdleTimeout: idle}
	ctx := context.Background()
	u := &pixpool.User{Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.org",
		Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0000"}
	if err := srv.Accounts.CreateUser(ctx, u, "correct horse"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := srv.Accounts.CreateAPIKey(ctx, u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL, "Bearer " + secret
}

// TestServer_StalledBodyClosed: a PUT that sends 3 of 100,000 bytes and
// stalls has its connection closed once the body idles for the timeout.
func TestServer_StalledBodyClosed(t *testing.T) {
	url, bearer := newIdleServer(t, 300*time.Millisecond)
	conn, err := net.Dial("tcp", url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "PUT /api/v1/images/stalled HTTP/1.1\r\nHost: pixpool\r\nAuthorization: "+bearer+
		"\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8\xff"); err != nil {
		t.Fatal(err)
	}
	// Far longer than the idle timeout: only a server that never times the
	// body out keeps the connection open this long.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("stalled upload answered %s", resp.Status)
		}
		_, err = io.Copy(io.Discard, conn)
		if err == nil {
			err = io.EOF
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the stalled body's connection is still open")
	}
}

// TestServer_SlowBodySucceeds: an upload that keeps sending, slowly, for
// longer in all than the idle timeout is stored.
func TestServer_SlowBodySucceeds(t *testing.T) {
	idle := time.Second
	url, bearer := newIdleServer(t, idle)
	photo := photo100KB(t)
	pr, pw := io.Pipe()
	go func() {
		const chunks = 25 // one every idle/10: 2.5 idle timeouts in all
		step := (len(photo) + chunks - 1) / chunks
		for b := photo; len(b) > 0; b = b[min(step, len(b)):] {
			if _, err := pw.Write(b[:min(step, len(b))]); err != nil {
				return
			}
			time.Sleep(idle / 10)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", url+"/api/v1/images/slow", pr)
	req.Header.Set("Authorization", bearer)
	req.ContentLength = int64(len(photo))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("slow upload: %s %s", resp.Status, body)
	}
	get, _ := http.NewRequest("GET", url+"/api/v1/images/slow", nil)
	get.Header.Set("Authorization", bearer)
	resp, err = http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, photo) {
		t.Fatalf("read back %d bytes, want the %d uploaded", len(got), len(photo))
	}
}

// TestServer_UnreadStalledBodyClosed: a request whose handler answers
// without reading the body (no credentials, no such route, a GET with a
// body), or refuses what it read of it, is answered and its connection
// closed, though the client sends 3 bytes of the body and stalls: the
// body's idle timeout holds whether or not the handler reads. (net/http
// reads up to 256 KiB of an unread body, with no deadline, before it
// answers.)
func TestServer_UnreadStalledBodyClosed(t *testing.T) {
	url, _ := newIdleServer(t, 300*time.Millisecond)
	addr := url[len("http://"):]
	for _, tt := range []struct {
		name, head string
		status     int
	}{
		{"PutNoAuth", "PUT /api/v1/images/slow HTTP/1.1\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n", http.StatusUnauthorized},
		{"NotFound", "POST /nosuch HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", http.StatusNotFound},
		{"GetWithBody", "GET /healthz HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", http.StatusOK},
		{"ChunkedNoAuth", "PUT /api/v1/images/slow HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n", http.StatusUnauthorized},
		{"HugeNoAuth", "PUT /api/v1/images/slow HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n", http.StatusUnauthorized},
		{"CompatUploadNoAuth", "POST /api/upload HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n--XX\r\n", http.StatusUnauthorized},
		// The handler reads the form, which stalls: 400, not a 500
		// from a store refusing the cancelled request.
		{"Login", "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nusername=", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := strings.Replace(tt.head, "\r\n", "\r\nHost: 127.0.0.1\r\n", 1)
			if _, err := io.WriteString(conn, head+"abc"); err != nil {
				t.Fatal(err)
			}
			// Far longer than the idle timeout: only a server that
			// leaves the stalled body untimed keeps the client waiting
			// this long.
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("no answer while the body stalls")
			}
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("answered %s %s, want %d", resp.Status, body, tt.status)
			}
			if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("answered, but the stalled body's connection is still open")
			}
		})
	}
}

// TestServer_ReadBodyKeepAlive: an upload the handler reads to its end
// (a PUT, a multipart form) leaves the connection open for the next
// request; only a body left unread closes it.
func TestServer_ReadBodyKeepAlive(t *testing.T) {
	url, bearer := newIdleServer(t, 300*time.Millisecond)
	photo := photo100KB(t)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("key", "form")
	fw, _ := mw.CreateFormFile("file", "photo.jpg")
	fw.Write(photo)
	mw.Close()
	for _, tt := range []struct {
		method, path, contentType string
		body                      []byte
	}{
		{"PUT", "/api/v1/images/one", "image/jpeg", photo},
		{"PUT", "/api/v1/images/two", "image/jpeg", photo},
		{"POST", "/api/upload", mw.FormDataContentType(), form.Bytes()},
		{"POST", "/nosuch", "text/plain", nil}, // no body: nothing to read
	} {
		req, _ := http.NewRequest(tt.method, url+tt.path, bytes.NewReader(tt.body))
		req.Header.Set("Authorization", bearer)
		req.Header.Set("Content-Type", tt.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 || resp.Close {
			t.Errorf("%s %s: %s %s, close=%v; want the connection kept", tt.method, tt.path, resp.Status, body, resp.Close)
		}
	}
}
