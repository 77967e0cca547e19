package userflowtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Faults make the fake misbehave the way a real API can. The zero value means
// no faults. Faults apply to API requests only, never to /_admin/ or /healthz.
// A faulted request is recorded like any other and changes no state.
//
// Rates are fractions in [0, 1]. Which requests a rate hits comes from a
// random source seeded with Options.Seed: the same seed and the same sequence
// of requests, sent one at a time, hit the same requests.
//
// In JSON (GET and PUT /_admin/faults) durations are strings such as "250ms"
// and field names are snake_case, as in the struct tags.
type Faults struct {
	// Latency delays every API request before it is answered or cut. A request
	// whose client goes away meanwhile is abandoned. Default: 0.
	Latency time.Duration `json:"latency"`
	// LatencyJitter adds a random extra delay in [0, LatencyJitter). Default: 0.
	LatencyJitter time.Duration `json:"latency_jitter"`
	// ResetRate is the fraction of requests whose connection is closed without
	// a response (the client sees EOF or a reset). Default: 0.
	ResetRate float64 `json:"reset_rate"`
	// Unauthorized answers every request 401 unauthorized, as if the API key
	// had been revoked. Default: false.
	Unauthorized bool `json:"unauthorized"`
	// RPSLimit is the number of authorised requests per second the fake
	// accepts (a token bucket of RPSBurst); the excess is answered 429
	// rate_limited with a Retry-After for when a token is free. 0 means no
	// limit. Default: 0.
	RPSLimit float64 `json:"rps_limit"`
	// RPSBurst is the bucket size for RPSLimit. Default: 0, meaning 1.
	RPSBurst int `json:"rps_burst"`
	// RateLimitRate is the fraction of requests answered 429 rate_limited.
	// Default: 0.
	RateLimitRate float64 `json:"rate_limit_rate"`
	// RetryAfter is the delay a RateLimitRate answer announces. Default: 0,
	// meaning one second.
	RetryAfter time.Duration `json:"retry_after"`
	// RetryAfterFormat is how 429 answers (RateLimitRate and RPSLimit) carry
	// Retry-After. Default: RetryAfterSeconds.
	RetryAfterFormat RetryAfterFormat `json:"retry_after_format"`
	// ErrorRate is the fraction of requests answered 500 internal_error.
	// Default: 0.
	ErrorRate float64 `json:"error_rate"`
	// PermanentBadIDs are user and group ids answered 400 invalid_params
	// whenever a request names them: in the path, as the body's id, as an
	// embedded group's id, or as an event's user_id or group_id. Default: none.
	PermanentBadIDs []string `json:"permanent_bad_ids"`
}

// RetryAfterFormat says how a 429 answer carries Retry-After ([assumed]:
// Userflow may send either form, or none).
type RetryAfterFormat string

// The Retry-After formats.
const (
	RetryAfterSeconds RetryAfterFormat = "seconds" // "Retry-After: 2"; also the zero value ""
	RetryAfterDate    RetryAfterFormat = "date"    // "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT"
	RetryAfterNone    RetryAfterFormat = "none"    // no Retry-After header
)

// Validate reports every invalid field at once.
func (f Faults) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{"latency": f.Latency, "latency_jitter": f.LatencyJitter, "retry_after": f.RetryAfter} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	for name, p := range map[string]float64{"reset_rate": f.ResetRate, "rate_limit_rate": f.RateLimitRate, "error_rate": f.ErrorRate} {
		if !(p >= 0 && p <= 1) {
			errs = append(errs, fmt.Errorf("%s: must be in [0, 1]", name))
		}
	}
	if !(f.RPSLimit >= 0) || math.IsInf(f.RPSLimit, 0) {
		errs = append(errs, errors.New("rps_limit: must be a non-negative number"))
	}
	if f.RPSBurst < 0 {
		errs = append(errs, errors.New("rps_burst: must not be negative"))
	}
	switch f.RetryAfterFormat {
	case "", RetryAfterSeconds, RetryAfterDate, RetryAfterNone:
	default:
		errs = append(errs, fmt.Errorf("retry_after_format: want %q, %q or %q", RetryAfterSeconds, RetryAfterDate, RetryAfterNone))
	}
	return errors.Join(errs...)
}

// faultsJSON is the wire shape of Faults: the same fields, durations as text.
type faultsJSON struct {
	Latency       string `json:"latency"`
	LatencyJitter string `json:"latency_jitter"`
	RetryAfter    string `json:"retry_after"`
	faultsPlain
}

// faultsPlain is Faults without its methods; the fields of faultsJSON shadow
// its duration fields.
type faultsPlain Faults

// MarshalJSON writes durations as strings such as "250ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{f.Latency.String(), f.LatencyJitter.String(), f.RetryAfter.String(), faultsPlain(f)})
}

// UnmarshalJSON reads durations as strings such as "250ms" and rejects
// unknown fields. Fields left out are zero.
func (f *Faults) UnmarshalJSON(data []byte) error {
	var w faultsJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	out := Faults(w.faultsPlain)
	for _, d := range []struct {
		name, text string
		dst        *time.Duration
	}{{"latency", w.Latency, &out.Latency}, {"latency_jitter", w.LatencyJitter, &out.LatencyJitter}, {"retry_after", w.RetryAfter, &out.RetryAfter}} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		*d.dst = v
	}
	*f = out
	return nil
}

// faultState holds the faults in force, the random source and the RPS
// limiter, all guarded by mu.
type faultState struct {
	mu      sync.Mutex
	faults  Faults
	badIDs  map[string]bool // built from faults; replaced, never changed
	seed    uint64
	rng     *rand.Rand
	limiter *rate.Limiter // nil without an RPS limit
}

// set installs f (already validated) and rebuilds the RPS bucket, full.
func (s *faultState) set(f Faults) {
	f.PermanentBadIDs = slices.Clone(f.PermanentBadIDs)
	bad := make(map[string]bool, len(f.PermanentBadIDs))
	for _, id := range f.PermanentBadIDs {
		bad[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.badIDs, s.limiter = f, bad, nil
	if f.RPSLimit > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(f.RPSLimit), max(f.RPSBurst, 1))
	}
}

func (s *faultState) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	f.PermanentBadIDs = slices.Clone(f.PermanentBadIDs)
	return f
}

// restart restarts the random source from the seed and refills the RPS
// bucket, so a reset fake faults the same requests as a new one.
func (s *faultState) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rng = rand.New(rand.NewPCG(s.seed, s.seed))
	if s.limiter != nil {
		s.limiter = rate.NewLimiter(s.limiter.Limit(), s.limiter.Burst())
	}
}

// plan is what the faults do to one request, decided when it arrives.
type plan struct {
	latency                  time.Duration
	reset, limited, internal bool
	unauthorized             bool
	retryAfter               time.Duration
	retryAfterFormat         RetryAfterFormat
	badIDs                   map[string]bool
}

// decide draws the random faults for one request. Each non-zero rate (and
// jitter) takes exactly one draw, in a fixed order, so sequential requests see
// a reproducible sequence.
func (s *faultState) decide() plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	roll := func(p float64) bool { return p > 0 && s.rng.Float64() < p }
	p := plan{
		latency:          f.Latency,
		reset:            roll(f.ResetRate),
		limited:          roll(f.RateLimitRate),
		internal:         roll(f.ErrorRate),
		unauthorized:     f.Unauthorized,
		retryAfter:       cmp.Or(f.RetryAfter, time.Second),
		retryAfterFormat: f.RetryAfterFormat,
		badIDs:           s.badIDs,
	}
	if f.LatencyJitter > 0 {
		p.latency += time.Duration(s.rng.Int64N(int64(f.LatencyJitter)))
	}
	return p
}

// reserveRPS takes a token from the RPS bucket. Without a token it returns
// false and how long until one is free.
func (s *faultState) reserveRPS(now time.Time) (ok bool, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limiter == nil {
		return true, 0
	}
	r := s.limiter.ReserveN(now, 1)
	if wait = r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// setRetryAfter sets Retry-After for a retry in d from now in the given
// format, rounding up to whole seconds.
func setRetryAfter(h http.Header, format RetryAfterFormat, d time.Duration, now time.Time) {
	switch format {
	case RetryAfterNone:
	case RetryAfterDate:
		at := now.Add(d)
		if t := at.Truncate(time.Second); t.Before(at) {
			at = t.Add(time.Second)
		}
		h.Set("Retry-After", at.UTC().Format(http.TimeFormat))
	default:
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
	}
}
