package userflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/userflow-sync/userflow-sync/internal/buildinfo"
)

const (
	// DefaultBaseURL is the API of Userflow's default (US) region [doc].
	DefaultBaseURL = "https://api.userflow.com"
	// EUBaseURL is the API of Userflow's EU region [doc].
	EUBaseURL = "https://api.eu.userflow.com"
	// APIVersion is sent as Userflow-Version on every request; it is the only
	// version Userflow has [doc].
	APIVersion = "2020-01-03"
	// DefaultTimeout bounds a whole request (connect, send, wait, read) made
	// with the default HTTP client. See WithTimeout.
	DefaultTimeout = 10 * time.Second
)

// maxBodyDrain is how much of an unread response body Do reads before closing
// it, so that the connection can be reused. A longer rest is not worth reading:
// closing the connection is cheaper.
const maxBodyDrain = 64 << 10

// Client calls the Userflow REST API. It is safe for concurrent use; build one
// per API key and share it.
//
// The client sends each request once: it never retries. Callers retry the
// errors that IsRetryable reports, honouring RetryAfter.
type Client struct {
	client    *http.Client
	baseURL   *url.URL // always ends in "/"
	key       *secret  // behind a pointer: even a reflective dump of a Client value shows an address
	userAgent string
	limiter   *Limiter // nil: no client-side limit

	// Users, Groups and Events are the API's endpoints, grouped by resource.
	Users  *UsersService
	Groups *GroupsService
	Events *EventsService
}

// service is what every endpoint group holds: the client that sends its requests.
type service struct{ client *Client }

// Option configures a Client built by NewClient.
type Option func(*options)

type options struct {
	httpClient *http.Client
	userAgent  *string
	limiter    *Limiter
	timeout    *time.Duration
}

// WithHTTPClient makes the client send requests with hc instead of the default
// (an *http.Client on NewTransport, with DefaultTimeout and no redirects).
// hc's own timeout and redirect policy apply; it cannot be combined with
// WithTimeout. A nil hc means the default.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.httpClient = hc } }

// WithUserAgent replaces the User-Agent header, by default buildinfo.UserAgent().
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = &ua } }

// WithLimiter makes the client wait on l before every request and pause l
// when Userflow answers 429 with a wait. Share one Limiter between all clients
// of a process that use the same API key. A nil l means no limiter (the default).
func WithLimiter(l *Limiter) Option { return func(o *options) { o.limiter = l } }

// WithTimeout sets the default HTTP client's timeout for a whole request,
// including reading the response body. Default: DefaultTimeout. Zero means no
// timeout, leaving the request's context as the only bound.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = &d } }

// NewClient returns a client for the Userflow API at baseURL ("" means
// DefaultBaseURL) authenticating with apiKey. baseURL may carry a path prefix
// ("http://proxy/userflow"): request paths are resolved below it.
//
// It returns an error, without echoing the key, for an empty API key or one
// containing white space or control characters; for a base URL that does not
// parse, whose scheme is not http or https, that has no host, that carries user
// info, a query or a fragment; and for inconsistent or invalid options.
func NewClient(baseURL, apiKey string, opts ...Option) (*Client, error) {
	if err := checkAPIKey(apiKey); err != nil {
		return nil, err
	}
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.httpClient
	switch {
	case hc != nil && o.timeout != nil:
		return nil, errors.New("userflow: WithTimeout applies to the default HTTP client; set the timeout on the one given to WithHTTPClient")
	case hc == nil && o.timeout != nil && *o.timeout < 0:
		return nil, fmt.Errorf("userflow: negative timeout %v", *o.timeout)
	case hc == nil:
		timeout := DefaultTimeout
		if o.timeout != nil {
			timeout = *o.timeout
		}
		hc = &http.Client{
			Transport: NewTransport(),
			Timeout:   timeout,
			// Userflow does not redirect. Following a redirect would turn a POST
			// into a GET (301, 302, 303) and report an upsert that never happened
			// as a success, so a 3xx is returned as an *ErrorResponse instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	ua := buildinfo.UserAgent()
	if o.userAgent != nil {
		ua = *o.userAgent
		if ua == "" || strings.IndexFunc(ua, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("userflow: invalid user agent %q", ua)
		}
	}
	key := secret(apiKey)
	c := &Client{client: hc, baseURL: base, key: &key, userAgent: ua, limiter: o.limiter}
	c.Users = &UsersService{client: c}
	c.Groups = &GroupsService{client: c}
	c.Events = &EventsService{client: c}
	return c, nil
}

func checkAPIKey(k string) error {
	switch {
	case k == "":
		return errors.New("userflow: empty API key")
	case strings.IndexFunc(k, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return errors.New("userflow: API key contains white space or control characters")
	}
	return nil
}

func parseBaseURL(s string) (*url.URL, error) {
	if s == "" {
		s = DefaultBaseURL
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("userflow: base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("userflow: base URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("userflow: base URL %q: no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("userflow: base URL %q: user info is not allowed; the API key authenticates", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("userflow: base URL %q: query is not allowed", u.Redacted())
	case u.Fragment != "":
		return nil, fmt.Errorf("userflow: base URL %q: fragment is not allowed", u.Redacted())
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// String describes the client without its API key.
func (c *Client) String() string {
	return fmt.Sprintf("userflow.Client{BaseURL: %q, UserAgent: %q, APIKey: %s}", c.baseURL.String(), c.userAgent, redacted)
}

// GoString is String, so that %#v does not print the API key either.
func (c *Client) GoString() string { return c.String() }

// NewRequest builds an API request. path is relative to the base URL
// ("users", "/users" and "users/u%2F1" all stay below its path prefix); an
// absolute URL is refused, so the key is never sent to another host. Escape
// ids in path with url.PathEscape. A non-nil body is sent as JSON.
//
// The request carries Authorization, Userflow-Version, Accept and User-Agent,
// and Content-Type when it has a body.
func (c *Client) NewRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	rel, err := url.Parse(strings.TrimLeft(path, "/"))
	if err != nil {
		return nil, fmt.Errorf("userflow: request path: %w", err)
	}
	if rel.IsAbs() || rel.Host != "" {
		return nil, fmt.Errorf("userflow: request path %q must be relative to the base URL", path)
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("userflow: %s %s: encoding request body: %w", method, path, err)
		}
		r = bytes.NewReader(b) // a *bytes.Reader lets net/http resend the body on a fresh HTTP/2 connection
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL.ResolveReference(rel).String(), r)
	if err != nil {
		return nil, fmt.Errorf("userflow: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+string(*c.key))
	req.Header.Set("Userflow-Version", APIVersion)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Response is Userflow's answer to a request. Its body has been read and
// closed by the time the caller sees it.
type Response struct {
	*http.Response

	// RequestID identifies the request in Userflow's logs, "" if Userflow sent
	// none. It is read from X-Request-Id, else Request-Id [assumed: Userflow does
	// not document a request id header].
	RequestID string
}

func newResponse(r *http.Response) *Response {
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = r.Header.Get("Request-Id")
	}
	return &Response{Response: r, RequestID: id}
}

// Do sends req once and decodes a successful JSON answer into v (unless v is
// nil or the body is empty). Any 2xx status is a success [assumed: Userflow
// answers 200 or 201]; any other status gives an *ErrorResponse, or a
// *RateLimitError for 429, together with the Response. A success body that is
// not JSON gives a decoding error, retryable only if the body was cut short.
//
// With a limiter, Do first waits on it (returning its error if ctx ends
// first), and on a 429 that names a wait it pauses the limiter for that wait.
// Do never retries. It always drains (a bounded amount) and closes the
// response body, so the connection can be reused.
//
// When the request's context is done, the error wraps ctx.Err().
func (c *Client) Do(req *http.Request, v any) (*Response, error) {
	ctx := req.Context()
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("userflow: %s %s: %w", req.Method, req.URL.EscapedPath(), err)
		}
	}
	hr, err := c.client.Do(req)
	if err != nil {
		// A transport error caused by the context's end is often vaguer than
		// the context's own error, which is what callers test for.
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("userflow: %s %s: %w", req.Method, req.URL.EscapedPath(), ctxErr)
		}
		return nil, fmt.Errorf("userflow: %w", err) // a *url.Error: method, URL and cause, no headers
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, hr.Body, maxBodyDrain)
		_ = hr.Body.Close()
	}()
	resp := newResponse(hr)
	if err := c.checkResponse(resp); err != nil {
		var rle *RateLimitError
		if c.limiter != nil && errors.As(err, &rle) && rle.HasRetryAfter {
			c.limiter.PauseFor(rle.RetryAfter)
		}
		return resp, err
	}
	if v != nil {
		if err := json.NewDecoder(hr.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
			return resp, fmt.Errorf("userflow: %s %s: decoding response body: %w", req.Method, req.URL.EscapedPath(), err)
		}
	}
	return resp, nil
}

// send makes a request and decodes its answer into a new T.
func send[T any](ctx context.Context, c *Client, method, path string, body any) (*T, *Response, error) {
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	resp, err := c.Do(req, v)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}

// del sends a DELETE whose answer body is not used.
func del(ctx context.Context, c *Client, path string) (*Response, error) {
	req, err := c.NewRequest(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req, nil)
}

// idPath is collection/id with id escaped as one path segment. It refuses an
// empty id, and "." and "..", which servers resolve as dot segments however
// they are escaped, so a request could reach another resource.
func idPath(collection, id string) (string, error) {
	switch id {
	case "":
		return "", fmt.Errorf("userflow: %s: empty id", collection)
	case ".", "..":
		return "", fmt.Errorf("userflow: %s: id %q cannot be sent in a URL path", collection, id)
	}
	return collection + "/" + url.PathEscape(id), nil
}

// redacted is what every printed form of the API key shows.
const redacted = "[REDACTED]"

// secret holds the API key. Every way of printing or encoding it shows
// "[REDACTED]". Only NewRequest reads the value, to build the Authorization
// header, and checkResponse, to redact error bodies that echo it.
type secret string

func (secret) String() string               { return redacted }
func (secret) GoString() string             { return redacted }
func (secret) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redacted) }
func (secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
