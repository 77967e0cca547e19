package userflowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "ak_test_secret"

// newServer starts a fake with opts (APIKey defaults to testKey) and closes
// it when the test ends.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// response is a decoded answer of the fake.
type response struct {
	status int
	header http.Header
	body   map[string]any // decoded with UseNumber
}

func (r response) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// newRequest builds a request as a correct client sends it: API key,
// Userflow-Version and, with a body, Content-Type. edit may change it.
func newRequest(t *testing.T, s *Server, method, path, body string, edit ...func(*http.Request)) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Userflow-Version", APIVersion)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, e := range edit {
		e(req)
	}
	return req
}

// call sends a request with s's client and decodes the JSON answer. It must
// run on the test goroutine; other goroutines use do.
func call(t *testing.T, s *Server, method, path, body string, edit ...func(*http.Request)) response {
	t.Helper()
	r, err := do(s.Client(), newRequest(t, s, method, path, body, edit...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do sends req with c and decodes the JSON answer.
func do(c *http.Client, req *http.Request) (response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&r.body); err != nil {
		return response{}, fmt.Errorf("%s %s: decoding answer: %w", req.Method, req.URL.Path, err)
	}
	return r, nil
}

// want fails the test unless r has the status and, for errors, the code.
func want(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %q (%v), want %d %q", r.status, r.code(), r.body, status, code)
	}
}

func setHeader(key, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(key, value) }
}

func delHeader(key string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Del(key) }
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// decodeJSON decodes data as the fake's state is decoded: numbers as
// json.Number.
func decodeJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatal(err)
	}
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
