package userflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/userflow-sync/userflow-sync/internal/buildinfo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testKey = "ak_test_S3CRET_9f8e7d"
	// baseURLPath is the path prefix of every test server's base URL, so that
	// every test checks that requests stay below it.
	baseURLPath = "/api-prefix"
)

// setup starts a fresh server and returns a client for it, and the mux on
// which the test registers the endpoints it expects (paths without the
// prefix). Any other request fails the test.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
	})
	api := http.NewServeMux()
	api.Handle(baseURLPath+"/", http.StripPrefix(baseURLPath, mux))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base URL path: %s %s", r.Method, r.URL)
		http.Error(w, "outside base path", http.StatusTeapot)
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL+baseURLPath, testKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, mux
}

func testMethod(t *testing.T, r *http.Request, want string) {
	t.Helper()
	if r.Method != want {
		t.Errorf("method = %s, want %s", r.Method, want)
	}
}

func testHeader(t *testing.T, r *http.Request, name, want string) {
	t.Helper()
	if got := r.Header.Get(name); got != want {
		t.Errorf("header %s = %q, want %q", name, got, want)
	}
}

// testHeaders checks the headers every request carries.
func testHeaders(t *testing.T, r *http.Request, withBody bool) {
	t.Helper()
	testHeader(t, r, "Authorization", "Bearer "+testKey)
	testHeader(t, r, "Userflow-Version", "2020-01-03")
	testHeader(t, r, "Accept", "application/json")
	testHeader(t, r, "User-Agent", buildinfo.UserAgent())
	if withBody {
		testHeader(t, r, "Content-Type", "application/json")
	} else {
		testHeader(t, r, "Content-Type", "")
	}
}

// testJSONBody checks that the body is the JSON want, keys and values
// exactly, formatting aside.
func testJSONBody(t *testing.T, r *http.Request, want string) {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	var got, wantV any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", b, err)
	}
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	if diff := cmp.Diff(wantV, got); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}

func testNoBody(t *testing.T, r *http.Request) {
	t.Helper()
	if b, _ := io.ReadAll(r.Body); len(b) != 0 {
		t.Errorf("body = %q, want none", b)
	}
}

func TestNewClient(t *testing.T) {
	for _, tt := range []struct {
		base, want string
	}{
		{"", "https://api.userflow.com/"},
		{DefaultBaseURL, "https://api.userflow.com/"},
		{EUBaseURL, "https://api.eu.userflow.com/"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"http://host/prefix", "http://host/prefix/"},
		{"http://host/prefix/", "http://host/prefix/"},
		{"http://host/a%2Fb", "http://host/a%2Fb/"},
	} {
		c, err := NewClient(tt.base, testKey)
		if err != nil {
			t.Errorf("NewClient(%q): %v", tt.base, err)
			continue
		}
		if got := c.baseURL.String(); got != tt.want {
			t.Errorf("NewClient(%q) base URL = %q, want %q", tt.base, got, tt.want)
		}
		if c.client.Timeout != DefaultTimeout || c.userAgent != buildinfo.UserAgent() || c.limiter != nil {
			t.Errorf("NewClient(%q) defaults: timeout %v, user agent %q, limiter %v", tt.base, c.client.Timeout, c.userAgent, c.limiter)
		}
	}
}

func TestNewClient_options(t *testing.T) {
	hc := &http.Client{}
	l := NewLimiter(1, 1)
	c, err := NewClient("", testKey, WithHTTPClient(hc), WithUserAgent("ua/1"), WithLimiter(l))
	if err != nil {
		t.Fatal(err)
	}
	if c.client != hc || c.userAgent != "ua/1" || c.limiter != l {
		t.Errorf("options not applied: %v", c)
	}
	c, err = NewClient("", testKey, WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.client.Timeout != time.Second {
		t.Errorf("timeout = %v, want 1s", c.client.Timeout)
	}
}

func TestNewClient_errors(t *testing.T) {
	for _, tt := range []struct {
		name, base, key string
		opts            []Option
	}{
		{"empty key", "", "", nil},
		{"space in key", "", "ak_S3CRET part2", nil},
		{"only white space key", "", "   ", nil},
		{"newline in key", "", "ak_S3CRET\n", nil},
		{"unparsable URL", "http://host:port:x/", testKey, nil},
		{"no scheme", "api.userflow.com", testKey, nil},
		{"ftp scheme", "ftp://api.userflow.com", testKey, nil},
		{"no host", "https:///users", testKey, nil},
		{"user info", "https://me:pw@api.userflow.com", testKey, nil},
		{"query", "https://api.userflow.com?x=1", testKey, nil},
		{"empty query", "https://api.userflow.com/?", testKey, nil},
		{"fragment", "https://api.userflow.com/#f", testKey, nil},
		{"timeout with own client", "", testKey, []Option{WithHTTPClient(&http.Client{}), WithTimeout(time.Second)}},
		{"negative timeout", "", testKey, []Option{WithTimeout(-time.Second)}},
		{"empty user agent", "", testKey, []Option{WithUserAgent("")}},
		{"user agent with newline", "", testKey, []Option{WithUserAgent("a\r\nX-Evil: 1")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.base, tt.key, tt.opts...)
			if err == nil {
				t.Fatalf("NewClient = %v, want an error", c)
			}
			if strings.Contains(err.Error(), "S3CRET") || strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q reveals a secret", err)
			}
		})
	}
}

func TestNewRequest(t *testing.T) {
	c, err := NewClient("http://host/prefix", testKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{"users", "http://host/prefix/users"},
		{"/users", "http://host/prefix/users"},
		{"//users", "http://host/prefix/users"},
		{"users/a%2Fb", "http://host/prefix/users/a%2Fb"},
		{"users?email=a%40b", "http://host/prefix/users?email=a%40b"},
	} {
		req, err := c.NewRequest(context.Background(), http.MethodGet, tt.path, nil)
		if err != nil {
			t.Errorf("NewRequest(%q): %v", tt.path, err)
			continue
		}
		if got := req.URL.String(); got != tt.want {
			t.Errorf("NewRequest(%q) URL = %q, want %q", tt.path, got, tt.want)
		}
	}
	for _, path := range []string{"http://evil.example/users", "https:users", ":bad"} {
		if _, err := c.NewRequest(context.Background(), http.MethodGet, path, nil); err == nil {
			t.Errorf("NewRequest(%q) succeeded, want an error", path)
		}
	}
	if _, err := c.NewRequest(context.Background(), http.MethodPost, "users", map[string]any{"f": func() {}}); err == nil {
		t.Error("NewRequest with an unencodable body succeeded")
	}
}

func TestDo(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("POST /things", func(w http.ResponseWriter, r *http.Request) {
		testHeaders(t, r, true)
		testJSONBody(t, r, `{"a":"<b>&"}`)
		w.Header().Set("X-Request-Id", "req-1")
		fmt.Fprint(w, `{"id":"x"}`)
	})
	req, err := c.NewRequest(context.Background(), http.MethodPost, "things", map[string]string{"a": "<b>&"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ ID string }
	resp, err := c.Do(req, &got)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "x" || resp.RequestID != "req-1" || resp.StatusCode != http.StatusOK {
		t.Errorf("got %+v, request id %q, status %d", got, resp.RequestID, resp.StatusCode)
	}
}

func TestResponse_requestID(t *testing.T) {
	for _, tt := range []struct {
		header http.Header
		want   string
	}{
		{http.Header{"X-Request-Id": {"a"}, "Request-Id": {"b"}}, "a"},
		{http.Header{"Request-Id": {"b"}}, "b"},
		{http.Header{}, ""},
	} {
		if got := newResponse(&http.Response{Header: tt.header}).RequestID; got != tt.want {
			t.Errorf("RequestID with %v = %q, want %q", tt.header, got, tt.want)
		}
	}
}

// bodyProbe wraps the body of every response to record how it was consumed.
type bodyProbe struct {
	base   http.RoundTripper
	bodies []*probedBody
}

type probedBody struct {
	io.ReadCloser
	n      int64
	eof    bool
	closed bool
}

func (b *probedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	b.eof = b.eof || err == io.EOF
	return n, err
}

func (b *probedBody) Close() error { b.closed = true; return b.ReadCloser.Close() }

func (p *bodyProbe) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.base.RoundTrip(r)
	if err == nil {
		b := &probedBody{ReadCloser: resp.Body}
		p.bodies = append(p.bodies, b)
		resp.Body = b
	}
	return resp, err
}

// TestDo_drainsAndCloses checks that Do reads every small body to its end and
// closes it, whatever the outcome, so the connection can be reused.
func TestDo_drainsAndCloses(t *testing.T) {
	probe := &bodyProbe{base: NewTransport()}
	t.Cleanup(probe.base.(*http.Transport).CloseIdleConnections)
	c, mux := setup(t, WithHTTPClient(&http.Client{Transport: probe}))
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":"x"}`+strings.Repeat(" ", 10000)+"\n")
	})
	mux.HandleFunc("GET /ignored", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":"x"}`)
	})
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":"x","message":"y"}}`, http.StatusBadRequest)
	})
	mux.HandleFunc("GET /garbage", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `not json`+strings.Repeat(".", 10000))
	})
	for _, path := range []string{"ok", "ignored", "fail", "garbage"} {
		req, err := c.NewRequest(context.Background(), http.MethodGet, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if path != "ignored" {
			v = &struct{ ID string }{}
		}
		_, _ = c.Do(req, v)
		b := probe.bodies[len(probe.bodies)-1]
		if !b.eof || !b.closed {
			t.Errorf("GET %s: body read to EOF %v, closed %v; want both", path, b.eof, b.closed)
		}
	}
}

func TestDo_noRedirects(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, baseURLPath+"/elsewhere", http.StatusFound)
	})
	_, _, err := c.Users.Upsert(context.Background(), &UpsertUserRequest{ID: "u"})
	var e *ErrorResponse
	if !errors.As(err, &e) || e.StatusCode != http.StatusFound {
		t.Fatalf("err = %v, want an *ErrorResponse with 302", err)
	}
	if IsRetryable(err) {
		t.Error("a redirect is retryable, want permanent")
	}
}

// TestKeyNeverPrinted prints the client and an error of every kind in every
// way a program might, and looks for the key.
func TestKeyNeverPrinted(t *testing.T) {
	c, mux := setup(t, WithLimiter(NewLimiter(0, 0)))
	// A server that echoes the request's headers into its error bodies.
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, r.Header.Get("Authorization"), fmt.Sprint(r.Header))
		}
	}
	mux.HandleFunc("GET /users/bad", echo(http.StatusBadRequest))
	mux.HandleFunc("GET /users/auth", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "<html>bad key "+r.Header.Get("Authorization")+"</html>")
	})
	mux.HandleFunc("GET /users/limited", echo(http.StatusTooManyRequests))
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	var errs []error
	for _, id := range []string{"bad", "auth", "limited"} {
		_, _, err := c.Users.Get(ctx, id)
		errs = append(errs, err)
	}
	_, resp, _ := c.Users.Get(ctx, "bad")
	_, _, err := c.Users.Get(canceled, "u")
	errs = append(errs, err)
	_, _, err = c.Users.Upsert(ctx, &UpsertUserRequest{ID: "u", Groups: []GroupRequest{}, Memberships: []MembershipRequest{}})
	errs = append(errs, err)
	dead, err := NewClient("http://127.0.0.1:1", testKey)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = dead.Users.Get(ctx, "u")
	errs = append(errs, err)
	if _, err := c.NewRequest(ctx, "BAD METHOD", "users", nil); err != nil {
		errs = append(errs, err)
	}
	var e *ErrorResponse
	var rle *RateLimitError
	if !errors.As(errs[0], &e) || !errors.As(errs[2], &rle) {
		t.Fatalf("errors %v are not of every type", errs)
	}

	values := []any{c, *c, c.key, *c.key, e, *e, rle, *rle, resp}
	for _, err := range errs {
		if err == nil {
			t.Fatal("missing error")
		}
		values = append(values, err)
	}
	text, _ := c.key.MarshalText()
	printed := []string{c.key.String(), c.key.GoString(), string(text)}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			printed = append(printed, fmt.Sprintf(verb, v))
		}
		j, _ := json.Marshal(v)
		printed = append(printed, string(j))
	}
	core, logs := observer.New(zapcore.DebugLevel)
	var buf bytes.Buffer
	jsonCore := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(core, jsonCore))
	log.Info("client", zap.Any("client", c), zap.Any("value", *c), zap.Any("key", c.key), zap.Stringer("s", c), zap.Any("resp", resp))
	for _, err := range errs {
		log.Error("failed", zap.Error(err), zap.Any("any", err))
	}
	for _, entry := range logs.All() {
		printed = append(printed, fmt.Sprint(entry.ContextMap()))
	}
	printed = append(printed, buf.String())

	for _, s := range printed {
		if strings.Contains(s, testKey) {
			t.Errorf("key printed: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(c), redacted) || !strings.Contains(errs[1].Error(), redacted) {
		t.Errorf("client %v, error %v: want %s in both", c, errs[1], redacted)
	}
}

func ExampleNewClient() {
	// One limiter per API key, shared by every worker of the process.
	l := NewLimiter(20, 10)
	c, err := NewClient(EUBaseURL, "ak_example", WithLimiter(l), WithUserAgent("example/1.0"))
	if err != nil {
		panic(err)
	}
	fmt.Println(c)
	// Output: userflow.Client{BaseURL: "https://api.eu.userflow.com/", UserAgent: "example/1.0", APIKey: [REDACTED]}
}
