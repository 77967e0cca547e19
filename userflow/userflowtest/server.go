package userflowtest

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// APIVersion is the only Userflow-Version the fake accepts [doc].
const APIVersion = "2020-01-03"

// Error codes in the fake's error bodies {"error":{"code","message"}}.
// invalid_params is [seen]; the others are [assumed].
const (
	CodeInvalidParams    = "invalid_params"
	CodeUnauthorized     = "unauthorized"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeRateLimited      = "rate_limited"
	CodeInternalError    = "internal_error"
)

// Fault names recorded in Request.Fault.
const (
	FaultReset        = "reset"
	FaultUnauthorized = "unauthorized"
	FaultRPSLimit     = "rps_limit"
	FaultRateLimit    = "rate_limit"
	FaultError        = "error"
	FaultBadID        = "bad_id"
)

// Options configure a Fake.
type Options struct {
	// APIKey is the key the fake accepts as "Authorization: Bearer <key>".
	// Required; change it later with SetAPIKey.
	APIKey string
	// Lenient turns off the checks in which the fake is stricter than
	// Userflow is known to be: a missing Userflow-Version header (Userflow
	// applies the latest version [doc]), unknown JSON fields, and
	// prune_memberships true without a groups or memberships list.
	// Default: false, strict.
	Lenient bool
	// Seed seeds the random source behind the fault rates. Default: 0.
	Seed uint64
	// Faults are in force from the start; change them with SetFaults.
	// Default: none.
	Faults Faults
	// RequestLogLimit caps the request log; the oldest entries are dropped
	// first. Default: 0, no cap.
	RequestLogLimit int
	// Now is the clock for timestamps and the RPS limiter. Default: time.Now.
	Now func() time.Time
}

// Validate reports every invalid option at once.
func (o Options) Validate() error {
	var errs []error
	if o.APIKey == "" {
		errs = append(errs, errors.New("APIKey: required"))
	}
	if o.RequestLogLimit < 0 {
		errs = append(errs, errors.New("RequestLogLimit: must not be negative"))
	}
	if err := o.Faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Request is one recorded API request and how the fake answered it.
type Request struct {
	// Seq increases with every request the fake receives, admin requests
	// included, and is never reset; X-Request-Id is "req_<Seq>".
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	// Path is the escaped path as sent, so "/users/a%2Fb" stays apart from
	// "/users/a/b".
	Path  string `json:"path"`
	Query string `json:"query,omitempty"`
	// Header holds the request headers; Authorization is replaced by
	// "[REDACTED]": the key is never stored.
	Header http.Header `json:"header"`
	// Body is the request body; in JSON it is a string.
	Body []byte `json:"-"`
	// Status is the response status, or 0 when no response was sent: the
	// connection was cut (Fault "reset") or the client went away first.
	Status int `json:"status"`
	// ErrorCode is the code of an error response, else "".
	ErrorCode string `json:"error_code,omitempty"`
	// Fault names the fault that answered the request (the Fault...
	// constants), or "" when the fake answered on the merits.
	Fault string `json:"fault,omitempty"`
	// Applied orders the requests that reached the fake's state (read or
	// changed it, or were refused by it, such as a 404): it increases by one
	// for each, taken under the state lock, so it is the order in which
	// concurrent requests took effect, which Seq (arrival) and the log's
	// order (completion) are not. 0 for a request answered before its
	// handler ran (faults, auth, validation). Never reset.
	Applied uint64 `json:"applied,omitempty"`
}

// MarshalJSON writes Body as a string.
func (r Request) MarshalJSON() ([]byte, error) {
	type plain Request
	return json.Marshal(struct {
		plain
		Body string `json:"body"`
	}{plain(r), string(r.Body)})
}

// Stats is a snapshot of the fake's counters of API requests since creation
// or the last Reset.
type Stats struct {
	Requests      int `json:"requests"`
	InFlight      int `json:"in_flight"`
	MaxConcurrent int `json:"max_concurrent"`
	// ByStatus counts answered requests by status; 0 counts requests left
	// without a response.
	ByStatus map[int]int `json:"by_status"`
}

// Fake is a strict, in-memory Userflow REST API. It is an http.Handler, safe
// for concurrent use; see the package documentation for what it serves.
type Fake struct {
	lenient  bool
	logLimit int
	now      func() time.Time
	apiKey   atomic.Pointer[string]
	seq      atomic.Uint64
	faults   faultState

	flightMu    sync.Mutex
	inFlight    int
	maxInFlight int
	changed     chan struct{} // closed and replaced whenever inFlight changes
	pauses      int
	gate        chan struct{} // non-nil while paused; closed on resume

	logMu    sync.Mutex
	log      []Request
	total    int
	byStatus map[int]int

	mu      sync.Mutex
	st      store
	applied uint64 // the last Request.Applied; guarded by mu
}

var _ http.Handler = (*Fake)(nil)

// New returns a Fake configured by opts, or the errors of opts.Validate.
func New(opts Options) (*Fake, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	f := &Fake{lenient: opts.Lenient, logLimit: opts.RequestLogLimit, now: opts.Now,
		changed: make(chan struct{}), byStatus: map[int]int{}, st: newStore()}
	if f.now == nil {
		f.now = time.Now
	}
	f.SetAPIKey(opts.APIKey)
	f.faults.seed = opts.Seed
	f.faults.set(opts.Faults)
	f.faults.restart()
	return f, nil
}

// Server is a Fake served by an httptest.Server; use URL as the client's base
// URL.
type Server struct {
	*Fake
	*httptest.Server
}

// NewServer starts a Fake on a loopback httptest.Server. It panics if opts are
// invalid, as httptest.NewServer panics when it cannot listen.
func NewServer(opts Options) *Server {
	f, err := New(opts)
	if err != nil {
		panic("userflowtest: " + err.Error())
	}
	return &Server{Fake: f, Server: httptest.NewServer(f)}
}

// Close resumes paused requests, cuts client connections, so that requests
// still in flight end, and shuts the server down.
func (s *Server) Close() {
	s.Fake.resume()
	s.Server.CloseClientConnections()
	s.Server.Close()
}

// SetAPIKey changes the accepted API key at once. An empty key accepts none:
// every API request is then answered 401.
func (f *Fake) SetAPIKey(key string) { f.apiKey.Store(&key) }

// SetFaults replaces the faults in force, or returns the errors of
// f.Validate and changes nothing. It refills the RPS bucket.
func (f *Fake) SetFaults(faults Faults) error {
	if err := faults.Validate(); err != nil {
		return err
	}
	f.faults.set(faults)
	return nil
}

// Faults returns the faults in force.
func (f *Fake) Faults() Faults { return f.faults.get() }

// Requests returns the recorded API requests in the order they arrived.
func (f *Fake) Requests() []Request {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	out := make([]Request, len(f.log))
	for i, r := range f.log {
		r.Header, r.Body = r.Header.Clone(), slices.Clone(r.Body)
		out[i] = r
	}
	slices.SortFunc(out, func(a, b Request) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Stats returns a snapshot of the request counters.
func (f *Fake) Stats() Stats {
	f.logMu.Lock()
	st := Stats{Requests: f.total, ByStatus: maps.Clone(f.byStatus)}
	f.logMu.Unlock()
	f.flightMu.Lock()
	st.InFlight, st.MaxConcurrent = f.inFlight, f.maxInFlight
	f.flightMu.Unlock()
	return st
}

// InFlight returns the number of API requests being handled now. A request
// leaves before its response is written, so once a client has its response,
// the request no longer counts.
func (f *Fake) InFlight() int {
	f.flightMu.Lock()
	defer f.flightMu.Unlock()
	return f.inFlight
}

// MaxConcurrent returns the highest number of API requests that were in
// flight at once since creation or the last Reset.
func (f *Fake) MaxConcurrent() int {
	f.flightMu.Lock()
	defer f.flightMu.Unlock()
	return f.maxInFlight
}

// AwaitInFlight blocks until at least n API requests are in flight, or ctx is
// done. With Pause it holds a known number of requests in flight without
// timing guesses.
func (f *Fake) AwaitInFlight(ctx context.Context, n int) error {
	for {
		f.flightMu.Lock()
		in, changed := f.inFlight, f.changed
		f.flightMu.Unlock()
		if in >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Pause holds every API request that arrives, counted as in flight, before
// faults or handling, until release is called. Pauses nest: requests go on
// when every Pause has been released. Calling release again does nothing.
// A request whose client goes away while held is abandoned.
func (f *Fake) Pause() (release func()) {
	f.flightMu.Lock()
	defer f.flightMu.Unlock()
	if f.pauses++; f.pauses == 1 {
		f.gate = make(chan struct{})
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			f.flightMu.Lock()
			defer f.flightMu.Unlock()
			if f.pauses--; f.pauses == 0 {
				close(f.gate)
				f.gate = nil
			}
		})
	}
}

// resume releases every pause.
func (f *Fake) resume() {
	f.flightMu.Lock()
	defer f.flightMu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate, f.pauses = nil, 0
	}
}

// State returns a deep copy of the stored users, groups, memberships and
// events.
func (f *Fake) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.snapshot()
}

// User returns a copy of the stored user with the id, if any.
func (f *Fake) User(id string) (User, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.st.users[id]; u != nil {
		return copyUser(u), true
	}
	return User{}, false
}

// Group returns a copy of the stored group with the id, if any.
func (f *Fake) Group(id string) (Group, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.st.groups[id]; g != nil {
		return copyGroup(g), true
	}
	return Group{}, false
}

// Membership returns a copy of the membership of the user in the group, if
// any.
func (f *Fake) Membership(userID, groupID string) (Membership, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.st.members[userID][groupID]; m != nil {
		return copyMembership(m), true
	}
	return Membership{}, false
}

// Reset clears the stored data, the request log and the counters (the
// concurrency high-water mark restarts from the requests in flight), and
// restarts the fault random source from the seed and the RPS bucket full.
// The API key, the faults in force and pauses stay.
func (f *Fake) Reset() {
	f.mu.Lock()
	f.st = newStore()
	f.mu.Unlock()
	f.logMu.Lock()
	f.log, f.total, f.byStatus = nil, 0, map[int]int{}
	f.logMu.Unlock()
	f.flightMu.Lock()
	f.maxInFlight = f.inFlight
	f.flightMu.Unlock()
	f.faults.restart()
}

// ServeHTTP serves the Userflow API, the admin surface under /_admin/ and
// /healthz. Every response is JSON and carries a unique X-Request-Id.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seq := f.seq.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_"+strconv.FormatUint(seq, 10))
	switch path := r.URL.EscapedPath(); {
	case path == "/healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case strings.HasPrefix(path, adminPrefix):
		f.serveAdmin(w, r, strings.TrimPrefix(path, adminPrefix))
	default:
		f.serveAPI(w, r, seq)
	}
}

// enter counts a request in flight and returns the pause gate to wait on (nil
// when not paused).
func (f *Fake) enter() <-chan struct{} {
	f.flightMu.Lock()
	defer f.flightMu.Unlock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	close(f.changed)
	f.changed = make(chan struct{})
	return f.gate
}

func (f *Fake) leave() {
	f.flightMu.Lock()
	defer f.flightMu.Unlock()
	f.inFlight--
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) record(r Request) {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	f.total++
	f.byStatus[r.Status]++
	f.log = append(f.log, r)
	if f.logLimit > 0 && len(f.log) > f.logLimit {
		f.log = slices.Delete(f.log, 0, len(f.log)-f.logLimit)
	}
}

// authorized checks "Authorization: Bearer <key>" [doc] in constant time.
func (f *Fake) authorized(r *http.Request) bool {
	key := *f.apiKey.Load()
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && key != "" && subtle.ConstantTimeCompare([]byte(token), []byte(key)) == 1
}

func redact(h http.Header) http.Header {
	h = h.Clone()
	if h.Get("Authorization") != "" {
		h.Set("Authorization", "[REDACTED]")
	}
	return h
}

// apiError is an error answer; fault names the fault that caused it, if any.
type apiError struct {
	status        int
	code, message string
	fault         string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidf(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidParams, message: fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, errorJSON(CodeInternalError, err.Error())
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func errorJSON(code, message string) []byte {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	data, _ := json.Marshal(b) // cannot fail: two strings
	return data
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.WriteHeader(e.status)
	_, _ = w.Write(append(errorJSON(e.code, e.message), '\n'))
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
