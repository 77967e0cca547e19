package userflow

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter paces the requests of a whole process to one Userflow API key: a
// token bucket, plus a global pause that a 429 answer starts. Share one
// Limiter between all goroutines and clients that use the key. It is safe for
// concurrent use and starts no goroutines.
type Limiter struct {
	rate *rate.Limiter    // nil: no rate limit
	now  func() time.Time // the clock of pauses; tests replace it

	mu    sync.Mutex
	until time.Time // end of the global pause; zero or past when not paused
}

// NewLimiter returns a limiter that lets through rps requests a second on
// average and up to burst at once (a burst below 1 counts as 1). rps <= 0
// means no rate limit: Wait then only honours pauses.
func NewLimiter(rps float64, burst int) *Limiter {
	l := &Limiter{now: time.Now}
	if rps > 0 {
		l.rate = rate.NewLimiter(rate.Limit(rps), max(burst, 1))
	}
	return l
}

// Wait blocks until the limiter is not paused and a token is available, and
// takes the token. A pause that starts while Wait waits for the token is
// waited for too; so is an extension of the pause being waited for.
//
// It returns ctx.Err() if ctx ends first, and an error wrapping
// context.DeadlineExceeded, at once, if ctx's deadline comes before the next
// token would.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if err := l.waitPause(ctx); err != nil {
			return err
		}
		if l.rate != nil {
			if err := l.rate.Wait(ctx); err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil {
					return ctxErr
				}
				// rate says the deadline is too near; say so in a way callers classify.
				return fmt.Errorf("userflow: limiter: %w: %v", context.DeadlineExceeded, err)
			}
		}
		if l.pauseLeft() == 0 {
			return nil
		}
	}
}

// waitPause blocks until the pause, as extended meanwhile, is over.
func (l *Limiter) waitPause(ctx context.Context) error {
	for {
		d := l.pauseLeft()
		if d == 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// PauseFor pauses the limiter for d from now, unless it is already paused
// longer: a pause is extended, never shortened.
func (l *Limiter) PauseFor(d time.Duration) { l.PauseUntil(l.now().Add(d)) }

// PauseUntil pauses the limiter until t, unless it is already paused longer.
func (l *Limiter) PauseUntil(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.until) {
		l.until = t
	}
}

// pauseLeft is how much of the pause is left; 0 when not paused.
func (l *Limiter) pauseLeft() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.until.Sub(l.now()), 0)
}
