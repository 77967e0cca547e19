package userflow

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzResponse feeds the client arbitrary answers: any status, Retry-After
// and body. The client decodes them without panicking, classifies every
// non-2xx answer as an *ErrorResponse with that status, never reports a
// negative wait, keeps error messages bounded, valid UTF-8 and free of the
// API key even when the body echoes it.
func FuzzResponse(f *testing.F) {
	f.Add(200, "", `{"id":"u1","attributes":{"plan":"pro"}}`)
	f.Add(201, "", `{"id":"u1"`)
	f.Add(404, "", `{"error":{"code":"not_found","message":"No such user"}}`)
	f.Add(429, "2", `{"error":{"code":"rate_limited","message":"Too many requests"}}`)
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", ``)
	f.Add(429, "-5", `{}`)
	f.Add(429, "99999999999999999999", `{}`)
	f.Add(500, "", "<html><body>Bad gateway</body></html>")
	f.Add(401, "", `{"error":{"code":"unauthorized","message":"Bearer ak_fuzz_secret_key is revoked"}}`)
	f.Add(302, "", ``)
	f.Fuzz(func(t *testing.T, status int, retryAfter, body string) {
		if status < 200 || status > 999 {
			return // 1xx are not final answers; net/http never returns them here
		}
		const key = "ak_fuzz_secret_key"
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {"application/json"}}
			if retryAfter != "" {
				h.Set("Retry-After", retryAfter)
			}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
		c, err := NewClient("https://api.userflow.test", key, WithHTTPClient(&http.Client{Transport: rt,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}))
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := c.Users.Get(context.Background(), "u1")
		if status <= 299 {
			if err == nil && u == nil {
				t.Fatal("no error and no user")
			}
			return
		}
		var er *ErrorResponse
		if !errors.As(err, &er) || er.StatusCode != status {
			t.Fatalf("status %d: error %T %v, want an *ErrorResponse with the status", status, err, err)
		}
		if d, ok := RetryAfter(err); ok && d < 0 {
			t.Errorf("RetryAfter = %v", d)
		}
		msg := err.Error()
		if strings.Contains(msg, key) {
			t.Errorf("the error quotes the API key: %q", msg)
		}
		if len(er.Message) > maxErrorMessage+8 || !utf8.ValidString(er.Message) {
			t.Errorf("message of %d bytes (valid UTF-8: %v)", len(er.Message), utf8.ValidString(er.Message))
		}
	})
}
