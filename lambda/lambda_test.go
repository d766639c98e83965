package lambda_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/pixpool/pixpool/lambda"
)

// event is an API Gateway HTTP API event as the service sends it.
func event(method, rawPath, rawQuery string) *events.APIGatewayV2HTTPRequest {
	e := &events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        rawPath,
		RawQueryString: rawQuery,
		Headers:        map[string]string{"host": "abc.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"},
	}
	e.RequestContext.DomainName = "abc.execute-api.us-east-1.amazonaws.com"
	e.RequestContext.HTTP.Method = method
	e.RequestContext.HTTP.Path = rawPath
	e.RequestContext.HTTP.Protocol = "HTTP/1.1"
	e.RequestContext.HTTP.SourceIP = "203.0.113.7"
	return e
}

func TestRequest(t *testing.T) {
	t.Run("PathAndQuery", func(t *testing.T) {
		// Repeated keys and escapes stay as the client sent them.
		e := event("GET", "/api/v1/images/a%2Fb c", "tag=x&tag=y&q=a%26b")
		e.RawPath = "/api/v1/images/a%2Fb%20c"
		r, err := lambda.Request(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.URL.EscapedPath(), "/api/v1/images/a%2Fb%20c"; got != want {
			t.Errorf("EscapedPath()=%q, want %q", got, want)
		}
		if got, want := r.URL.Path, "/api/v1/images/a/b c"; got != want {
			t.Errorf("Path=%q, want %q", got, want)
		}
		if got, want := r.URL.Query()["tag"], []string{"x", "y"}; !slices.Equal(got, want) {
			t.Errorf("tag=%q, want %q", got, want)
		}
		if got, want := r.URL.Query().Get("q"), "a&b"; got != want {
			t.Errorf("q=%q, want %q", got, want)
		}
		if got, want := r.Host, "abc.execute-api.us-east-1.amazonaws.com"; got != want {
			t.Errorf("Host=%q, want %q", got, want)
		}
		if got, want := r.RemoteAddr, "203.0.113.7:0"; got != want {
			t.Errorf("RemoteAddr=%q, want %q", got, want)
		}
		if r.TLS == nil || r.TLS.ServerName != "abc.execute-api.us-east-1.amazonaws.com" {
			t.Errorf("TLS=%+v for a request that came over HTTPS", r.TLS)
		}
		delete(e.Headers, "x-forwarded-proto")
		if r, _ := lambda.Request(context.Background(), e); r.TLS != nil {
			t.Error("TLS set without X-Forwarded-Proto: https")
		}
	})
	t.Run("Headers", func(t *testing.T) {
		e := event("GET", "/", "")
		e.Headers["accept"] = "image/webp,image/png"
		e.Headers["x-forwarded-for"] = "198.51.100.1, 203.0.113.7"
		r, err := lambda.Request(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Header.Get("Accept"), "image/webp,image/png"; got != want {
			t.Errorf("Accept=%q, want %q", got, want)
		}
		if got, want := r.Header.Get("X-Forwarded-For"), "198.51.100.1, 203.0.113.7"; got != want {
			t.Errorf("X-Forwarded-For=%q, want %q", got, want)
		}
		if r.Header.Get("Host") != "" {
			t.Error("Host left in the header map; net/http keeps it in Request.Host")
		}
	})
	t.Run("Cookies", func(t *testing.T) {
		e := event("GET", "/", "")
		e.Cookies = []string{"pixpool_session=abc", "theme=dark"}
		r, err := lambda.Request(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Cookie("pixpool_session")
		if err != nil || c.Value != "abc" {
			t.Fatalf("Cookie(pixpool_session)=%v, %v; want abc", c, err)
		}
		if got, want := len(r.Cookies()), 2; got != want {
			t.Errorf("len(Cookies())=%d, want %d", got, want)
		}
		if got, want := r.Header.Values("Cookie"), []string{"pixpool_session=abc; theme=dark"}; !slices.Equal(got, want) {
			t.Errorf("Cookie header=%q, want %q", got, want)
		}
	})
	t.Run("Base64Body", func(t *testing.T) {
		body := []byte{0x89, 'P', 'N', 'G', 0, 0xff, 0xfe, '\r', '\n'}
		e := event("POST", "/api/upload", "")
		e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		r, err := lambda.Request(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, body) {
			t.Errorf("body=%x, want %x", got, body)
		}
		if r.ContentLength != int64(len(body)) {
			t.Errorf("ContentLength=%d, want %d", r.ContentLength, len(body))
		}
	})
	t.Run("TextBody", func(t *testing.T) {
		e := event("POST", "/login", "")
		e.Body = "username=a&password=b"
		r, err := lambda.Request(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r.Body); string(got) != e.Body {
			t.Errorf("body=%q, want %q", got, e.Body)
		}
	})
	t.Run("ErrBadBase64", func(t *testing.T) {
		e := event("POST", "/", "")
		e.Body, e.IsBase64Encoded = "not base64!", true
		if _, err := lambda.Request(context.Background(), e); err == nil {
			t.Fatal("want an error for a body that is not base64")
		}
	})
	t.Run("ErrNotHTTP", func(t *testing.T) {
		if _, err := lambda.Request(context.Background(), &events.APIGatewayV2HTTPRequest{}); err == nil {
			t.Fatal("want an error for an event without a method")
		}
	})
}

func serve(t *testing.T, h *lambda.Handler, e *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h.ServeEvent(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	// What the runtime sends must be JSON Lambda takes back.
	if _, err := json.Marshal(resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestServeEvent(t *testing.T) {
	t.Run("Binary", func(t *testing.T) {
		img := make([]byte, 70000)
		for i := range img {
			img[i] = byte(i * 7)
		}
		h := &lambda.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(img[:1000])
			w.Write(img[1000:])
		})}
		resp := serve(t, h, event("GET", "/x", ""))
		if !resp.IsBase64Encoded {
			t.Fatal("an image's body is not base64")
		}
		got, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil || !bytes.Equal(got, img) {
			t.Fatalf("body differs after the round trip (err %v)", err)
		}
		if got, want := resp.StatusCode, 200; got != want {
			t.Errorf("StatusCode=%d, want %d", got, want)
		}
	})
	t.Run("Text", func(t *testing.T) {
		h := &lambda.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"success":"true","key":"é"}`)
		})}
		resp := serve(t, h, event("POST", "/x", ""))
		if resp.IsBase64Encoded || resp.Body != `{"success":"true","key":"é"}` {
			t.Fatalf("body=%q (base64 %v), want the JSON as is", resp.Body, resp.IsBase64Encoded)
		}
		if got, want := resp.StatusCode, 201; got != want {
			t.Errorf("StatusCode=%d, want %d", got, want)
		}
	})
	t.Run("TextNotUTF8", func(t *testing.T) {
		h := &lambda.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=latin1")
			w.Write([]byte{'c', 'a', 'f', 0xe9})
		})}
		resp := serve(t, h, event("GET", "/x", ""))
		got, _ := base64.StdEncoding.DecodeString(resp.Body)
		if !resp.IsBase64Encoded || !bytes.Equal(got, []byte{'c', 'a', 'f', 0xe9}) {
			t.Fatalf("body=%q (base64 %v), want latin-1 bytes in base64", resp.Body, resp.IsBase64Encoded)
		}
	})
	t.Run("HeadersAndCookies", func(t *testing.T) {
		h := &lambda.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "pixpool_session", Value: "s1", HttpOnly: true, Path: "/"})
			http.SetCookie(w, &http.Cookie{Name: "csrf", Value: "t2", Path: "/"})
			w.Header().Add("Vary", "Cookie")
			w.Header().Add("Vary", "Accept")
			w.Header().Set("Location", "/images")
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusSeeOther)
		})}
		resp := serve(t, h, event("POST", "/login", ""))
		if got, want := resp.Cookies, []string{"pixpool_session=s1; Path=/; HttpOnly", "csrf=t2; Path=/"}; !slices.Equal(got, want) {
			t.Errorf("Cookies=%q, want %q", got, want)
		}
		if _, ok := resp.Headers["Set-Cookie"]; ok {
			t.Error("Set-Cookie also in the headers")
		}
		if got, want := resp.Headers["Vary"], "Cookie,Accept"; got != want {
			t.Errorf("Vary=%q, want %q", got, want)
		}
		if got, want := resp.Headers["Location"], "/images"; got != want {
			t.Errorf("Location=%q, want %q", got, want)
		}
		if _, ok := resp.Headers["Content-Length"]; ok {
			t.Error("Content-Length passed on; API Gateway sets it")
		}
		if resp.StatusCode != http.StatusSeeOther || resp.Body != "" {
			t.Errorf("status %d body %q, want 303 and no body", resp.StatusCode, resp.Body)
		}
	})
	t.Run("CookiesRoundTrip", func(t *testing.T) {
		// A cookie the handler sets, sent back in the next event's array,
		// is the cookie the handler reads.
		h := &lambda.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("s"); err == nil {
				io.WriteString(w, "hello "+c.Value)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "v=1", Path: "/", Secure: true, SameSite: http.SameSiteLaxMode})
		})}
		first := serve(t, h, event("GET", "/", ""))
		var jar []string
		for _, c := range first.Cookies {
			parsed, err := http.ParseSetCookie(c)
			if err != nil {
				t.Fatal(err)
			}
			jar = append(jar, parsed.Name+"="+parsed.Value)
		}
		e := event("GET", "/", "")
		e.Cookies = jar
		if got, want := serve(t, h, e).Body, "hello v=1"; got != want {
			t.Errorf("body=%q, want %q", got, want)
		}
	})
	t.Run("DetectContentType", func(t *testing.T) {
		h := &lambda.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html>hi</html>")
		})}
		resp := serve(t, h, event("GET", "/", ""))
		if got, want := resp.Headers["Content-Type"], "text/html; charset=utf-8"; got != want {
			t.Errorf("Content-Type=%q, want %q", got, want)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		big := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(make([]byte, 5000))
		}
		h := &lambda.Handler{Handler: http.HandlerFunc(big), MaxResponse: 4000}
		resp := serve(t, h, event("GET", "/big", ""))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(resp.Body, "larger than AWS Lambda's limit") {
			t.Fatalf("status %d body %q, want 502 saying the response is too large", resp.StatusCode, resp.Body)
		}
	})
}
