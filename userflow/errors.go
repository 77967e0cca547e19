package userflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// maxErrorBody is how much of an error response body is read: enough for any
// error Userflow sends, and a bound on what a misbehaving proxy can make us
// buffer.
const maxErrorBody = 1 << 20

// maxErrorMessage bounds the message kept from an error body that is not
// Userflow's JSON (an HTML page from a proxy, say).
const maxErrorMessage = 256

// MaxRetryAfter caps the wait read from a 429 answer. The rate-limit headers
// are [assumed]; if Userflow means something else by them, a capped wait costs
// one more 429, while an uncapped misreading could stall the process for hours.
const MaxRetryAfter = time.Minute

// ErrorResponse is a non-2xx answer from Userflow. It keeps the status,
// Userflow's error code and message, and where the request went; it never
// keeps headers, so printing it cannot reveal the API key.
type ErrorResponse struct {
	StatusCode int    // HTTP status, e.g. 400
	Code       string // Userflow's error code, e.g. "invalid_params"; "" if the body was not Userflow's error JSON
	Message    string // Userflow's message, or the start of a non-JSON body
	RequestID  string // see Response.RequestID
	Method     string // request method
	Path       string // request URL path, escaped as sent
}

// Error reads "userflow: METHOD /path: 400 Bad Request: code: message (request id ID)",
// leaving out the parts that are empty.
func (e *ErrorResponse) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "userflow: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	for _, s := range []string{e.Code, e.Message} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// RateLimitError is a 429 answer. It unwraps to its *ErrorResponse.
type RateLimitError struct {
	*ErrorResponse

	// RetryAfter is how long Userflow asked to wait, in [0, MaxRetryAfter];
	// meaningful only when HasRetryAfter is set.
	RetryAfter time.Duration
	// HasRetryAfter reports whether Userflow named a wait. When it did not, the
	// caller's own backoff decides.
	HasRetryAfter bool
}

func (e *RateLimitError) Error() string {
	if !e.HasRetryAfter {
		return e.ErrorResponse.Error() + "; no wait given"
	}
	return fmt.Sprintf("%s; retry after %v", e.ErrorResponse.Error(), e.RetryAfter)
}

func (e *RateLimitError) Unwrap() error { return e.ErrorResponse }

// class is what a caller should do about an error.
type class int

const (
	classPermanent class = iota // the same request will fail again: fix the data or dead-letter it
	classRetryable              // transient: the same request may succeed later
	classNotFound               // the user or group does not exist
	classAuth                   // the API key is wrong or lacks access: a configuration error; stop
)

// statusClass is the policy for HTTP statuses. A status not listed is
// retryable if it is 5xx (Userflow's side failed) and permanent otherwise
// (4xx: the request is wrong; 3xx: Userflow does not redirect). See classOf.
var statusClass = map[int]class{
	http.StatusUnauthorized:    classAuth,      // [assumed] a bad key
	http.StatusForbidden:       classAuth,      // [assumed] a bad key, or one for another environment
	http.StatusNotFound:        classNotFound,  // [assumed] GET of an absent user or group
	http.StatusRequestTimeout:  classRetryable, // the server gave up waiting for the request
	http.StatusTooManyRequests: classRetryable, // [assumed] rate limit; see RateLimitError
}

func classOf(status int) class {
	if c, ok := statusClass[status]; ok {
		return c
	}
	if status >= 500 && status <= 599 {
		return classRetryable
	}
	return classPermanent
}

// transientErrors are transport failures after which the same request may
// succeed: the connection was refused, reset or cut, typically by a restart
// or a load balancer.
var transientErrors = []error{
	syscall.ECONNREFUSED,
	syscall.ECONNRESET,
	syscall.ECONNABORTED,
	syscall.EPIPE,
	io.ErrUnexpectedEOF, // connection closed in the middle of a response
	io.EOF,              // connection closed before a response (net/http returns it wrapped)
}

// IsRetryable reports whether sending the same request again may succeed:
// for 408, 429 and any 5xx answer, for network timeouts (including a context
// deadline), and for refused, reset or cut connections. It is false for nil,
// for context.Canceled, for other 4xx answers (400, 404, 409, 422...), and
// for errors raised before sending (an invalid request).
//
// It describes the error, not the caller's situation: a retry loop must still
// stop when its own context is done.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var e *ErrorResponse
	if errors.As(err, &e) {
		return classOf(e.StatusCode) == classRetryable
	}
	for _, t := range transientErrors {
		if errors.Is(err, t) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsNotFound reports whether err is a 404 answer [assumed: Userflow answers
// 404 for an absent user or group].
func IsNotFound(err error) bool { return hasClass(err, classNotFound) }

// IsAuthError reports whether err is a 401 or 403 answer [assumed: Userflow's
// answers to a bad key]: a configuration error, to stop the process on rather
// than to retry or to blame the record.
func IsAuthError(err error) bool { return hasClass(err, classAuth) }

func hasClass(err error, c class) bool {
	var e *ErrorResponse
	return errors.As(err, &e) && classOf(e.StatusCode) == c
}

// RetryAfter returns the wait Userflow named in a 429 answer, and whether
// there was one. See RateLimitError.
func RetryAfter(err error) (time.Duration, bool) {
	var e *RateLimitError
	if errors.As(err, &e) && e.HasRetryAfter {
		return e.RetryAfter, true
	}
	return 0, false
}

// checkResponse returns nil for a 2xx answer and a typed error otherwise,
// reading at most maxErrorBody of the body.
func (c *Client) checkResponse(r *Response) error {
	if r.StatusCode >= 200 && r.StatusCode <= 299 {
		return nil
	}
	e := &ErrorResponse{
		StatusCode: r.StatusCode,
		RequestID:  r.RequestID,
		Method:     r.Request.Method,
		Path:       r.Request.URL.EscapedPath(),
	}
	// A failed read leaves what was read; the status alone still classifies the error.
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	e.Code, e.Message = parseErrorBody(body)
	// A proxy or a debugging server may echo the request, headers included.
	e.Code = strings.ReplaceAll(e.Code, string(*c.key), redacted)
	e.Message = strings.ReplaceAll(e.Message, string(*c.key), redacted)
	if r.StatusCode == http.StatusTooManyRequests {
		d, ok := retryAfter(r.Header, time.Now())
		return &RateLimitError{ErrorResponse: e, RetryAfter: d, HasRetryAfter: ok}
	}
	return e
}

// parseErrorBody reads Userflow's {"error": {"code", "message"}} [seen]. Any
// other body becomes the message: white space collapsed, cut to
// maxErrorMessage bytes.
func parseErrorBody(body []byte) (code, message string) {
	var v struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != nil {
		return v.Error.Code, v.Error.Message
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "\uFFFD")), " ")
	if len(s) > maxErrorMessage {
		cut := maxErrorMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return "", s
}

// retryAfter reads the wait of a 429 answer, clamped to [0, MaxRetryAfter]:
// Retry-After as delta seconds or an HTTP date (RFC 9110), else
// X-RateLimit-Reset [assumed: Unix seconds when above 1e9, else seconds from
// now]. It reports false when neither header is present and valid.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	d, ok := parseRetryAfter(h.Get("Retry-After"), now)
	if !ok {
		d, ok = parseRateLimitReset(h.Get("X-RateLimit-Reset"), now)
	}
	if !ok {
		return 0, false
	}
	return min(max(d, 0), MaxRetryAfter), true
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

func parseRateLimitReset(v string, now time.Time) (time.Duration, bool) {
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err != nil:
		return 0, false
	case n > 1e9:
		return time.Unix(int64(min(n, 1<<40)), 0).Sub(now), true
	default:
		return time.Duration(n) * time.Second, true
	}
}
