package userflow

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// fixedClock makes l's pauses computable: l.now always returns t0.
func fixedClock(l *Limiter) time.Time {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return t0 }
	return t0
}

func TestLimiter_rate(t *testing.T) {
	l := NewLimiter(100, 1) // one token every 10ms
	start := time.Now()
	for range 5 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The first token is free; the next four take 10ms each.
	if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
		t.Errorf("5 waits at 100/s took %v, want >= 40ms", elapsed)
	}
}

func TestLimiter_unlimited(t *testing.T) {
	for _, l := range []*Limiter{NewLimiter(0, 0), NewLimiter(-1, 5)} {
		if l.rate != nil {
			t.Error("rps <= 0 built a rate limit")
		}
		for range 1000 {
			if err := l.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := NewLimiter(10, 0).Wait(context.Background()); err != nil {
		t.Errorf("burst 0: %v, want it to count as 1", err)
	}
}

func TestLimiter_pauseExtendsNeverShortens(t *testing.T) {
	l := NewLimiter(0, 0)
	t0 := fixedClock(l)
	steps := []struct {
		pause func()
		want  time.Duration // pause left after the step
	}{
		{func() {}, 0},
		{func() { l.PauseFor(time.Minute) }, time.Minute},
		{func() { l.PauseFor(time.Second) }, time.Minute},
		{func() { l.PauseFor(-time.Hour) }, time.Minute},
		{func() { l.PauseUntil(t0.Add(2 * time.Minute)) }, 2 * time.Minute},
		{func() { l.PauseUntil(t0) }, 2 * time.Minute},
		{func() { l.PauseUntil(time.Time{}) }, 2 * time.Minute},
		{func() { l.PauseFor(3 * time.Minute) }, 3 * time.Minute},
	}
	for i, s := range steps {
		s.pause()
		if got := l.pauseLeft(); got != s.want {
			t.Errorf("step %d: pause left %v, want %v", i, got, s.want)
		}
	}
}

func TestLimiter_waitBlocksForPause(t *testing.T) {
	l := NewLimiter(1000, 10)
	start := time.Now()
	l.PauseFor(30 * time.Millisecond)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("Wait returned after %v, before the 30ms pause ended", elapsed)
	}
}

func TestLimiter_waitHonoursExtension(t *testing.T) {
	l := NewLimiter(0, 0)
	start := time.Now()
	l.PauseFor(10 * time.Millisecond)
	done := make(chan error)
	go func() { done <- l.Wait(context.Background()) }()
	// Whether the waiter is already asleep or not, the extension must hold it.
	l.PauseFor(50 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("Wait returned after %v, before the extended 50ms pause ended", elapsed)
	}
}

func TestLimiter_waitContext(t *testing.T) {
	l := NewLimiter(0, 0)
	l.PauseFor(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) {
		t.Errorf("deadline during pause: err = %v, want a retryable DeadlineExceeded", err)
	}

	// The next token is 1000s away: rate refuses at once, before the deadline.
	l = NewLimiter(0.001, 1)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) {
		t.Errorf("token beyond deadline: err = %v, want a retryable DeadlineExceeded", err)
	}
}

func TestLimiter_concurrent(t *testing.T) {
	l := NewLimiter(10000, 100)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			for range 20 {
				if i%10 == 0 {
					l.PauseFor(time.Millisecond)
				}
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestClient_limiter(t *testing.T) {
	l := NewLimiter(0, 0)
	t0 := fixedClock(l)
	c, mux := setup(t, WithLimiter(l))
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if wait := r.PathValue("id"); wait != "none" {
			w.Header().Set("Retry-After", wait)
		}
		w.WriteHeader(http.StatusTooManyRequests)
	})

	// A 429 without a wait does not pause.
	if _, _, err := c.Users.Get(context.Background(), "none"); !IsRetryable(err) {
		t.Fatalf("err = %v, want a 429", err)
	}
	if left := l.pauseLeft(); left != 0 {
		t.Errorf("paused %v after a 429 without a wait", left)
	}

	// A 429 with a wait pauses for it.
	if _, _, err := c.Users.Get(context.Background(), "7"); !IsRetryable(err) {
		t.Fatalf("err = %v, want a 429", err)
	}
	if until := t0.Add(l.pauseLeft()); !until.Equal(t0.Add(7 * time.Second)) {
		t.Errorf("paused until %v, want %v", until, t0.Add(7*time.Second))
	}

	// While paused, requests wait; a canceled wait sends nothing (setup fails
	// the test on requests it does not expect, and this one is not registered).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.Groups.Get(ctx, "g")
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Errorf("err = %v, want context.Canceled from the limiter", err)
	}
}
