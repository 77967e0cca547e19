package userflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestStatusPolicy is the status policy as a table: change statusClass and
// this table together.
func TestStatusPolicy(t *testing.T) {
	for _, tt := range []struct {
		status                    int
		retryable, notFound, auth bool
	}{
		{status: 301}, {status: 302}, {status: 304},
		{status: 400}, {status: 401, auth: true}, {status: 403, auth: true},
		{status: 404, notFound: true}, {status: 405},
		{status: 408, retryable: true}, {status: 409}, {status: 410}, {status: 413},
		{status: 422}, {status: 425}, {status: 429, retryable: true}, {status: 451}, {status: 499},
		{status: 500, retryable: true}, {status: 501, retryable: true}, {status: 502, retryable: true},
		{status: 503, retryable: true}, {status: 504, retryable: true}, {status: 505, retryable: true},
		{status: 507, retryable: true}, {status: 520, retryable: true}, {status: 599, retryable: true},
		{status: 600},
	} {
		for _, err := range []error{
			&ErrorResponse{StatusCode: tt.status},
			fmt.Errorf("wrapped: %w", &ErrorResponse{StatusCode: tt.status}),
		} {
			if got := IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(%d) = %v, want %v", tt.status, got, tt.retryable)
			}
			if got := IsNotFound(err); got != tt.notFound {
				t.Errorf("IsNotFound(%d) = %v, want %v", tt.status, got, tt.notFound)
			}
			if got := IsAuthError(err); got != tt.auth {
				t.Errorf("IsAuthError(%d) = %v, want %v", tt.status, got, tt.auth)
			}
		}
	}
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestIsRetryable_transport(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "https://api.userflow.com/users", Err: err} }
	opErr := func(op string, errno syscall.Errno) error {
		return urlErr(&net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)})
	}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"refused", opErr("dial", syscall.ECONNREFUSED), true},
		{"reset", opErr("read", syscall.ECONNRESET), true},
		{"aborted", opErr("read", syscall.ECONNABORTED), true},
		{"broken pipe", opErr("write", syscall.EPIPE), true},
		{"EOF", urlErr(io.EOF), true},
		{"unexpected EOF", fmt.Errorf("decoding: %w", io.ErrUnexpectedEOF), true},
		{"net timeout", urlErr(&net.OpError{Op: "dial", Err: timeoutError{}}), true},
		{"deadline", fmt.Errorf("userflow: %w", context.DeadlineExceeded), true},
		{"canceled", urlErr(context.Canceled), false},
		{"canceled with a timeout inside", fmt.Errorf("%w: %w", context.Canceled, timeoutError{}), false},
		{"other", errors.New("boom"), false},
		{"unknown host", urlErr(&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}), false},
		{"invalid request", fmt.Errorf("x: %w", ErrGroupsAndMemberships), false},
	} {
		if got := IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
		if IsNotFound(tt.err) || IsAuthError(tt.err) {
			t.Errorf("%s: IsNotFound or IsAuthError true for a transport error", tt.name)
		}
	}
}

func TestErrorResponses(t *testing.T) {
	for _, tt := range []struct {
		name    string
		status  int
		header  http.Header
		body    string
		want    ErrorResponse
		wantMsg string // Error()
	}{
		{
			name: "Userflow error", status: 400,
			header:  http.Header{"X-Request-Id": {"req-1"}},
			body:    `{"error":{"code":"invalid_params","message":"Invalid email"}}`,
			want:    ErrorResponse{StatusCode: 400, Code: "invalid_params", Message: "Invalid email", RequestID: "req-1"},
			wantMsg: "userflow: GET " + baseURLPath + "/users/u: 400 Bad Request: invalid_params: Invalid email (request id req-1)",
		},
		{
			name: "empty body, Request-Id", status: 503,
			header:  http.Header{"Request-Id": {"req-2"}},
			want:    ErrorResponse{StatusCode: 503, RequestID: "req-2"},
			wantMsg: "userflow: GET " + baseURLPath + "/users/u: 503 Service Unavailable (request id req-2)",
		},
		{
			name: "HTML from a proxy", status: 502,
			body:    "<html>\n  <body>Bad\t gateway</body>\n</html>\n",
			want:    ErrorResponse{StatusCode: 502, Message: "<html> <body>Bad gateway</body> </html>"},
			wantMsg: "userflow: GET " + baseURLPath + "/users/u: 502 Bad Gateway: <html> <body>Bad gateway</body> </html>",
		},
		{
			name: "JSON of another shape", status: 401,
			body:    `{"message":"bad key"}`,
			want:    ErrorResponse{StatusCode: 401, Message: `{"message":"bad key"}`},
			wantMsg: "userflow: GET " + baseURLPath + `/users/u: 401 Unauthorized: {"message":"bad key"}`,
		},
		{
			name: "unknown status", status: 599,
			body:    `{"error":{"code":"x"}}`,
			want:    ErrorResponse{StatusCode: 599, Code: "x"},
			wantMsg: "userflow: GET " + baseURLPath + "/users/u: 599: x",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("GET /users/u", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			_, resp, err := c.Users.Get(context.Background(), "u")
			var e *ErrorResponse
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *ErrorResponse", err, err)
			}
			tt.want.Method, tt.want.Path = "GET", baseURLPath+"/users/u"
			if diff := cmp.Diff(&tt.want, e); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if got := err.Error(); got != tt.wantMsg {
				t.Errorf("Error() = %q\nwant      %q", got, tt.wantMsg)
			}
			if resp == nil || resp.StatusCode != tt.status || resp.RequestID != tt.want.RequestID {
				t.Errorf("response = %+v, want status %d", resp, tt.status)
			}
		})
	}
}

func TestErrorBody_truncated(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2 bytes each: the cut must not split one
	_, msg := parseErrorBody([]byte(long))
	if !strings.HasSuffix(msg, "...") || len(msg) > maxErrorMessage+3 || !strings.HasPrefix(long, strings.TrimSuffix(msg, "...")) {
		t.Errorf("message = %q (%d bytes), want a valid prefix of at most %d bytes and ...", msg, len(msg), maxErrorMessage)
	}
	if _, msg := parseErrorBody([]byte("bad \xff utf8")); msg != "bad \uFFFD utf8" {
		t.Errorf("message = %q", msg)
	}
}

// TestErrorBody_capped serves a 5 MiB error body and checks that the client
// stops reading it after 1 MiB (and a bounded drain).
func TestErrorBody_capped(t *testing.T) {
	probe := &bodyProbe{base: NewTransport()}
	t.Cleanup(probe.base.(*http.Transport).CloseIdleConnections)
	c, mux := setup(t, WithHTTPClient(&http.Client{Transport: probe}))
	const size = 5 << 20
	mux.HandleFunc("GET /users/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for written := 0; written < size; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
		}
	})
	_, _, err := c.Users.Get(context.Background(), "big")
	var e *ErrorResponse
	if !errors.As(err, &e) || e.StatusCode != 500 || !IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable 500", err)
	}
	if len(e.Message) > maxErrorMessage+3 {
		t.Errorf("message is %d bytes long", len(e.Message))
	}
	b := probe.bodies[0]
	if b.n > maxErrorBody+maxBodyDrain || b.eof || !b.closed {
		t.Errorf("read %d bytes (EOF %v, closed %v) of a %d-byte body, want at most %d and closed", b.n, b.eof, b.closed, size, maxErrorBody+maxBodyDrain)
	}
}

func TestRetryAfterHeaders(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		header http.Header
		want   time.Duration
		wantOK bool
	}{
		{"none", http.Header{}, 0, false},
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second, true},
		{"zero", http.Header{"Retry-After": {"0"}}, 0, true},
		{"HTTP date", http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}, 30 * time.Second, true},
		{"RFC 850 date", http.Header{"Retry-After": {now.Add(20 * time.Second).Format(time.RFC850)}}, 20 * time.Second, true},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0, true},
		{"capped", http.Header{"Retry-After": {"86400"}}, MaxRetryAfter, true},
		{"negative", http.Header{"Retry-After": {"-5"}}, 0, false},
		{"fraction", http.Header{"Retry-After": {"1.5"}}, 0, false},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0, false},
		{"reset epoch", http.Header{"X-Ratelimit-Reset": {strconv.FormatInt(now.Unix()+10, 10)}}, 10 * time.Second, true},
		{"reset epoch past", http.Header{"X-Ratelimit-Reset": {strconv.FormatInt(now.Unix()-10, 10)}}, 0, true},
		{"reset epoch far", http.Header{"X-Ratelimit-Reset": {"99999999999999999999"}}, 0, false},
		{"reset huge", http.Header{"X-Ratelimit-Reset": {"9999999999999999999"}}, MaxRetryAfter, true},
		{"reset seconds", http.Header{"X-Ratelimit-Reset": {"12"}}, 12 * time.Second, true},
		{"reset garbage", http.Header{"X-Ratelimit-Reset": {"later"}}, 0, false},
		{"Retry-After wins", http.Header{"Retry-After": {"3"}, "X-Ratelimit-Reset": {"12"}}, 3 * time.Second, true},
		{"bad Retry-After falls back", http.Header{"Retry-After": {"soon"}, "X-Ratelimit-Reset": {"12"}}, 12 * time.Second, true},
	} {
		d, ok := retryAfter(tt.header, now)
		if d != tt.want || ok != tt.wantOK {
			t.Errorf("%s: retryAfter(%v) = %v, %v; want %v, %v", tt.name, tt.header, d, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRateLimitError(t *testing.T) {
	for _, tt := range []struct {
		name    string
		header  http.Header
		want    time.Duration
		wantOK  bool
		wantMsg string
	}{
		{"Retry-After", http.Header{"Retry-After": {"3"}}, 3 * time.Second, true, "; retry after 3s"},
		{"X-RateLimit-Reset", http.Header{"X-Ratelimit-Reset": {"2"}}, 2 * time.Second, true, "; retry after 2s"},
		{"no wait", http.Header{}, 0, false, "; no wait given"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"Slow down"}}`)
			})
			_, _, err := c.Events.Track(context.Background(), &TrackEventRequest{Name: "e", UserID: "u"})
			var rle *RateLimitError
			if !errors.As(err, &rle) {
				t.Fatalf("err = %v (%T), want *RateLimitError", err, err)
			}
			var e *ErrorResponse
			if !errors.As(err, &e) || e.StatusCode != 429 || e.Code != "rate_limited" {
				t.Errorf("ErrorResponse inside = %+v", e)
			}
			if !IsRetryable(err) || IsNotFound(err) || IsAuthError(err) {
				t.Error("a 429 must be retryable only")
			}
			if d, ok := RetryAfter(err); d != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter = %v, %v; want %v, %v", d, ok, tt.want, tt.wantOK)
			}
			wantMsg := "userflow: POST " + baseURLPath + "/events: 429 Too Many Requests: rate_limited: Slow down" + tt.wantMsg
			if err.Error() != wantMsg {
				t.Errorf("Error() = %q\nwant      %q", err, wantMsg)
			}
		})
	}
	if _, ok := RetryAfter(&ErrorResponse{StatusCode: 503}); ok {
		t.Error("RetryAfter of a 503 reports a wait")
	}
	if _, ok := RetryAfter(nil); ok {
		t.Error("RetryAfter(nil) reports a wait")
	}
}

// hangUp answers a request by closing the connection without a response.
func hangUp(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}
}

func TestNetworkErrors(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("POST /users", hangUp(t))
	mux.HandleFunc("GET /users/cut", func(w http.ResponseWriter, r *http.Request) {
		// Promise a longer body than is sent: the server then closes the connection.
		w.Header().Set("Content-Length", "1000")
		fmt.Fprint(w, `{"id":"cut","attri`)
	})
	_, _, err := c.Users.Upsert(context.Background(), &UpsertUserRequest{ID: "u"})
	if err == nil || !IsRetryable(err) {
		t.Errorf("closed connection: err = %v, want retryable", err)
	}
	_, _, err = c.Users.Get(context.Background(), "cut")
	if err == nil || !IsRetryable(err) {
		t.Errorf("cut body: err = %v, want retryable", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	refused, err := NewClient("http://"+addr, testKey)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = refused.Users.Get(context.Background(), "u")
	if err == nil || !IsRetryable(err) {
		t.Errorf("refused connection: err = %v, want retryable", err)
	}
}

func TestTimeout(t *testing.T) {
	c, mux := setup(t, WithTimeout(20*time.Millisecond))
	mux.HandleFunc("GET /users/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the client hangs up when its timeout ends
	})
	_, _, err := c.Users.Get(context.Background(), "slow")
	if err == nil || !IsRetryable(err) {
		t.Errorf("err = %v, want a retryable timeout", err)
	}
}

func TestContextCanceled(t *testing.T) {
	c, mux := setup(t)
	started := make(chan struct{})
	mux.HandleFunc("GET /users/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.Users.Get(ctx, "u") // setup fails the test if this reaches the server
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Errorf("canceled before: err = %v, want context.Canceled, not retryable", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, _, err = c.Users.Get(ctx, "slow")
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Errorf("canceled during: err = %v, want context.Canceled, not retryable", err)
	}
}
