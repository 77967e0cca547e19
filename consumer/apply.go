package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// userflowAPI is what the consumer needs from Userflow: one call per request
// kind, each sent once (retries are the applier's). *userflow.Client
// satisfies it through clientAPI; tests may use the fake server behind a real
// client, or anything else.
type userflowAPI interface {
	UpsertUser(ctx context.Context, req *userflow.UpsertUserRequest) error
	UpsertGroup(ctx context.Context, req *userflow.GroupRequest) error
	UserExists(ctx context.Context, id string) (bool, error)
	GroupExists(ctx context.Context, id string) (bool, error)
	DeleteUser(ctx context.Context, id string) error
	DeleteGroup(ctx context.Context, id string) error
}

// clientAPI adapts *userflow.Client to userflowAPI, counting requests by
// endpoint and status, and those in flight.
type clientAPI struct {
	c     *userflow.Client
	stats *counters
}

var _ userflowAPI = clientAPI{}

// call counts one request around send.
func call[T any](a clientAPI, endpoint string, send func() (T, *userflow.Response, error)) (T, error) {
	a.stats.inFlight.Add(1)
	v, resp, err := send()
	a.stats.inFlight.Add(-1)
	a.stats.request(endpoint, resp, err)
	return v, err
}

func (a clientAPI) UpsertUser(ctx context.Context, req *userflow.UpsertUserRequest) error {
	_, err := call(a, "POST /users", func() (*userflow.User, *userflow.Response, error) { return a.c.Users.Upsert(ctx, req) })
	return err
}

func (a clientAPI) UpsertGroup(ctx context.Context, req *userflow.GroupRequest) error {
	_, err := call(a, "POST /groups", func() (*userflow.Group, *userflow.Response, error) { return a.c.Groups.Upsert(ctx, req) })
	return err
}

func (a clientAPI) UserExists(ctx context.Context, id string) (bool, error) {
	_, err := call(a, "GET /users/{id}", func() (*userflow.User, *userflow.Response, error) { return a.c.Users.Get(ctx, id) })
	return exists(err)
}

func (a clientAPI) GroupExists(ctx context.Context, id string) (bool, error) {
	_, err := call(a, "GET /groups/{id}", func() (*userflow.Group, *userflow.Response, error) { return a.c.Groups.Get(ctx, id) })
	return exists(err)
}

func exists(err error) (bool, error) {
	if userflow.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (a clientAPI) DeleteUser(ctx context.Context, id string) error {
	_, err := call(a, "DELETE /users/{id}", func() (struct{}, *userflow.Response, error) {
		resp, err := a.c.Users.Delete(ctx, id)
		return struct{}{}, resp, err
	})
	return err
}

func (a clientAPI) DeleteGroup(ctx context.Context, id string) error {
	_, err := call(a, "DELETE /groups/{id}", func() (struct{}, *userflow.Response, error) {
		resp, err := a.c.Groups.Delete(ctx, id)
		return struct{}{}, resp, err
	})
	return err
}

// RetryConfig shapes the backoff between attempts of one Userflow request.
type RetryConfig struct {
	// InitialInterval is the first wait. Default: 200ms.
	InitialInterval time.Duration `yaml:"initial_interval"`
	// MaxInterval caps one wait. Default: 30s.
	MaxInterval time.Duration `yaml:"max_interval"`
	// MaxElapsed gives up on a request that keeps failing with transient
	// errors after this long; the event is then dead-lettered with reason
	// retries_exhausted. Default: 0, never give up: an outage of Userflow is
	// not a bad record, and the key only holds back its own partition.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

func (c *RetryConfig) setDefaults() {
	if c.InitialInterval <= 0 {
		c.InitialInterval = 200 * time.Millisecond
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = 30 * time.Second
	}
}

// Outcome is what applying one operation did.
type Outcome uint8

const (
	OutcomeApplied        Outcome = iota + 1 // the request succeeded
	OutcomeMissing                           // update mode: the object does not exist, nothing written
	OutcomeAlreadyDeleted                    // delete of an object that was not there
)

func (o Outcome) String() string {
	switch o {
	case OutcomeApplied:
		return "applied"
	case OutcomeMissing:
		return "missing"
	case OutcomeAlreadyDeleted:
		return "already_deleted"
	}
	return "unknown"
}

// ApplyError is a request that failed for good: a permanent answer from
// Userflow (400, 404 on write, 422...), or transient errors past
// RetryConfig.MaxElapsed. It carries what a dead-letter record reports.
type ApplyError struct {
	Attempts  int
	Exhausted bool  // retries ran out on a transient error
	Err       error // the last error; an *userflow.ErrorResponse when Userflow answered
}

func (e *ApplyError) Error() string {
	if e.Exhausted {
		return fmt.Sprintf("retries exhausted after %d attempts: %v", e.Attempts, e.Err)
	}
	return fmt.Sprintf("permanent error after %d attempts: %v", e.Attempts, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// ErrUnauthorized wraps a 401/403 from Userflow: the API key is wrong or lacks
// access. It is a configuration error: the consumer stops and commits nothing
// further.
var ErrUnauthorized = errors.New("userflow rejected the API key")

// applier sends operations to Userflow with retries. It is the only place in
// the product that retries a Userflow request.
type applier struct {
	api   userflowAPI
	retry RetryConfig
	// onRetry is told about every failed attempt that will be retried.
	onRetry func(op *mapping.Operation, err error, wait time.Duration)
}

// apply performs op, retrying transient errors with capped exponential
// backoff and jitter, honouring a longer Retry-After. It returns an
// *ApplyError for a permanent failure, an error wrapping ErrUnauthorized for
// an auth failure, or ctx's error when ctx ends first.
func (a *applier) apply(ctx context.Context, op *mapping.Operation) (Outcome, error) {
	var outcome Outcome
	attempts := 0
	call := func() error {
		attempts++
		var err error
		outcome, err = a.once(ctx, op)
		switch {
		case err == nil:
			return nil
		case userflow.IsAuthError(err):
			return backoff.Permanent(fmt.Errorf("%w: %w", ErrUnauthorized, err))
		case ctx.Err() != nil:
			return backoff.Permanent(ctx.Err())
		case !userflow.IsRetryable(err):
			return backoff.Permanent(&ApplyError{Attempts: attempts, Err: err})
		}
		return err
	}
	b := &retryAfterBackOff{inner: backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(a.retry.InitialInterval),
		backoff.WithMaxInterval(a.retry.MaxInterval),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxElapsedTime(a.retry.MaxElapsed),
	)}
	err := backoff.RetryNotify(func() error {
		err := call()
		b.hint, _ = userflow.RetryAfter(err)
		return err
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		if a.onRetry != nil {
			a.onRetry(op, err, wait)
		}
	})
	switch {
	case err == nil:
		return outcome, nil
	case errors.Is(err, ErrUnauthorized), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return 0, err
	}
	var ae *ApplyError
	if errors.As(err, &ae) {
		return 0, ae
	}
	return 0, &ApplyError{Attempts: attempts, Exhausted: true, Err: err}
}

// once sends the request (or requests, in update mode) of op once.
func (a *applier) once(ctx context.Context, op *mapping.Operation) (Outcome, error) {
	switch op.Action {
	case mapping.ActionDelete:
		var err error
		if op.Object == mapping.ObjectGroup {
			err = a.api.DeleteGroup(ctx, op.ID)
		} else {
			err = a.api.DeleteUser(ctx, op.ID)
		}
		if userflow.IsNotFound(err) {
			return OutcomeAlreadyDeleted, nil // a delete and its tombstone, or a replay
		}
		return OutcomeApplied, err
	case mapping.ActionUpsert:
		if op.Object == mapping.ObjectGroup {
			if op.Mode == mapping.ModeUpdate {
				if ok, err := a.api.GroupExists(ctx, op.ID); err != nil || !ok {
					return OutcomeMissing, err
				}
			}
			return OutcomeApplied, a.api.UpsertGroup(ctx, op.Group)
		}
		req := op.User
		if op.Mode == mapping.ModeUpdate {
			ok, err := a.api.UserExists(ctx, op.ID)
			if err != nil || !ok {
				return OutcomeMissing, err
			}
			if req, err = a.existingGroupsOnly(ctx, req); err != nil {
				return OutcomeMissing, err
			}
		}
		return OutcomeApplied, a.api.UpsertUser(ctx, req)
	}
	return 0, fmt.Errorf("operation %v on %s: nothing to apply", op.Action, op.Target())
}

// existingGroupsOnly drops from req the groups and memberships whose group
// does not exist, because Userflow would create them, and update mode never
// creates. It returns req itself when nothing is dropped.
func (a *applier) existingGroupsOnly(ctx context.Context, req *userflow.UpsertUserRequest) (*userflow.UpsertUserRequest, error) {
	if len(req.Groups) == 0 && len(req.Memberships) == 0 {
		return req, nil
	}
	out := *req
	if req.Groups != nil {
		out.Groups = make([]userflow.GroupRequest, 0, len(req.Groups))
		for _, g := range req.Groups {
			ok, err := a.api.GroupExists(ctx, g.ID)
			if err != nil {
				return nil, err
			}
			if ok {
				out.Groups = append(out.Groups, g)
			}
		}
	}
	if req.Memberships != nil {
		out.Memberships = make([]userflow.MembershipRequest, 0, len(req.Memberships))
		for _, m := range req.Memberships {
			ok, err := a.api.GroupExists(ctx, m.Group.ID)
			if err != nil {
				return nil, err
			}
			if ok {
				out.Memberships = append(out.Memberships, m)
			}
		}
	}
	if len(out.Groups) == len(req.Groups) && len(out.Memberships) == len(req.Memberships) {
		return req, nil
	}
	if len(out.Groups) == 0 && len(out.Memberships) == 0 {
		// Nothing left to link: send no list at all. An empty list with
		// prune_memberships would remove every membership the user has,
		// which is more than an update of missing groups should ever do.
		out.Groups, out.Memberships = nil, nil
	}
	return &out, nil
}

// retryAfterBackOff is an exponential backoff that waits at least as long as
// the last answer's Retry-After asked.
type retryAfterBackOff struct {
	inner *backoff.ExponentialBackOff
	hint  time.Duration
}

func (b *retryAfterBackOff) Reset() { b.inner.Reset(); b.hint = 0 }

func (b *retryAfterBackOff) NextBackOff() time.Duration {
	next := b.inner.NextBackOff()
	if next == backoff.Stop {
		return next
	}
	return max(next, b.hint)
}
