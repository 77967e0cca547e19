package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/userflow-sync/userflow-sync/mapping"
)

// batcher queues work per target (a Userflow user or group) and hands whole
// keys to workers, so that:
//   - items of one key are handed out in the order they were submitted;
//   - a key is never handed to two workers at once;
//   - a key's items wait for a window to close (max_wait since the window
//     opened, or max_events items pending) and then go out together, and
//     items that arrive while the key is in flight wait for the next window:
//     the busier a key, the more its work coalesces;
//   - at most maxBuffered items are held, queued or in flight: submit blocks
//     beyond that, so a backlog of any size takes bounded memory.
//
// The batcher owns no goroutine: the pipeline runs its window loop (run) and
// its workers (next/finish) and stops them through their contexts.
type batcher[T any] struct {
	maxEvents int
	maxWait   time.Duration
	slots     chan struct{} // one token per item held

	mu       sync.Mutex
	keys     map[mapping.Target]*keyQueue[T]
	waiting  []mapping.Target // keys with items, not in flight, not yet ready, in first-arrival order
	ready    []mapping.Target // keys whose window closed, for workers, FIFO
	pending  int              // items of keys not in flight
	held     int              // items submitted and not finished
	wake     chan struct{}    // closed and replaced when ready grows or held drops to zero
	full     chan struct{}    // signalled (non-blocking) when pending reaches maxEvents
	draining bool             // windows are over: keys with items are ready at once
}

type keyQueue[T any] struct {
	items    []T
	inFlight bool
	ready    bool
	waiting  bool
}

func newBatcher[T any](maxEvents int, maxWait time.Duration, maxBuffered int) *batcher[T] {
	return &batcher[T]{
		maxEvents: maxEvents,
		maxWait:   maxWait,
		slots:     make(chan struct{}, maxBuffered),
		keys:      make(map[mapping.Target]*keyQueue[T]),
		wake:      make(chan struct{}),
		full:      make(chan struct{}, 1),
	}
}

// submit queues item under key, waiting for room while the batcher holds
// maxBuffered items. It fails only when ctx ends first.
func (b *batcher[T]) submit(ctx context.Context, key mapping.Target, item T) error {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.keys[key]
	if q == nil {
		q = &keyQueue[T]{}
		b.keys[key] = q
	}
	q.items = append(q.items, item)
	b.held++
	if !q.inFlight {
		b.pending++
		if !q.waiting && !q.ready {
			q.waiting = true
			b.waiting = append(b.waiting, key)
		}
		if b.draining {
			b.flushLocked()
		} else if b.pending >= b.maxEvents {
			select {
			case b.full <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// run closes a window every maxWait, or as soon as maxEvents items are
// pending, until ctx ends.
func (b *batcher[T]) run(ctx context.Context) {
	t := time.NewTicker(b.maxWait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.full:
			t.Reset(b.maxWait)
		}
		b.flush()
	}
}

// flush closes the window: every waiting key becomes ready.
func (b *batcher[T]) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *batcher[T]) flushLocked() {
	if len(b.waiting) == 0 {
		return
	}
	for _, key := range b.waiting {
		q := b.keys[key]
		q.waiting, q.ready = false, true
		b.ready = append(b.ready, key)
	}
	b.waiting = b.waiting[:0]
	b.signal()
}

// signal wakes everyone blocked in next or drained. Callers hold mu.
func (b *batcher[T]) signal() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// next blocks until a key is ready, marks it in flight and returns it with
// all its items, oldest first. It returns false when ctx ends first.
func (b *batcher[T]) next(ctx context.Context) (mapping.Target, []T, bool) {
	for {
		b.mu.Lock()
		if len(b.ready) > 0 {
			key := b.ready[0]
			b.ready[0] = mapping.Target{}
			b.ready = b.ready[1:]
			q := b.keys[key]
			items := q.items
			q.items, q.ready, q.inFlight = nil, false, true
			b.pending -= len(items)
			b.mu.Unlock()
			return key, items, true
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return mapping.Target{}, nil, false
		}
	}
}

// finish ends the worker's hold on key: n of its items are done (finished
// or abandoned) and give back their room. Items that arrived meanwhile wait
// for the next window.
func (b *batcher[T]) finish(key mapping.Target, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.keys[key]
	q.inFlight = false
	b.held -= n
	if len(q.items) == 0 {
		delete(b.keys, key)
	} else {
		b.pending += len(q.items)
		q.waiting = true
		b.waiting = append(b.waiting, key)
		if b.draining {
			b.flushLocked()
		}
	}
	if b.held == 0 {
		b.signal()
	}
	for range n {
		<-b.slots
	}
}

// drain ends windowing: waiting keys are ready now, and keys that get items
// from here on are ready at once. It returns when every item held is
// finished, or false when ctx ends first.
func (b *batcher[T]) drain(ctx context.Context) bool {
	b.mu.Lock()
	b.draining = true
	b.flushLocked()
	b.mu.Unlock()
	for {
		b.mu.Lock()
		held, wake := b.held, b.wake
		b.mu.Unlock()
		if held == 0 {
			return true
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}
