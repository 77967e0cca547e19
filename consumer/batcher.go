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
//   - each item's operation is coalesced into its key's pending operations
//     as it arrives (mapping.Coalescer): a key holds one merged request,
//     however many of its items wait, and the items are kept only for what
//     the caller needs of them (offsets, dead letters);
//   - at most maxItems items, and about maxBytes of estimated memory
//     (bufferBytes), are held, queued or in flight: submit blocks while
//     either is reached, until a sixteenth of both is free again, so a
//     backlog of any size takes bounded memory. The item that reaches the
//     bytes bound is let in, so one larger than the bound still goes through;
//   - a full buffer closes the window: nothing more can join it.
//
// The batcher owns no goroutine: the pipeline runs its window loop (run) and
// its workers (next/finish) and stops them through their contexts.
type batcher[T any] struct {
	maxEvents int
	maxWait   time.Duration
	maxItems  int
	maxBytes  int

	mu       sync.Mutex
	keys     map[mapping.Target]*keyQueue[T]
	waiting  []mapping.Target // keys with items, not in flight, not yet ready, in first-arrival order
	ready    []mapping.Target // keys whose window closed, for workers, FIFO
	pending  int              // items of keys not in flight
	held     int              // items submitted and not finished
	bytes    int              // estimated memory held: items, coalesced operations, keys
	wake     chan struct{}    // closed and replaced when ready grows or held drops to zero
	room     chan struct{}    // closed when finish frees enough room; nil while nobody waits for it
	full     chan struct{}    // signalled (non-blocking) when pending reaches maxEvents or the buffer is full
	draining bool             // windows are over: keys with items are ready at once
}

type keyQueue[T any] struct {
	items    []T
	ops      mapping.Coalescer // the operations of items, coalesced
	opsBytes int               // bufferBytes estimate of ops
	bytes    int               // estimate of items and ops, not counting the key itself
	inFlight bool
	ready    bool
	waiting  bool
	// What the worker holding the key took, given back by finish.
	flightItems, flightBytes int
}

func newBatcher[T any](maxEvents int, maxWait time.Duration, maxItems, maxBytes int) *batcher[T] {
	return &batcher[T]{
		maxEvents: maxEvents,
		maxWait:   maxWait,
		maxItems:  maxItems,
		maxBytes:  maxBytes,
		keys:      make(map[mapping.Target]*keyQueue[T]),
		wake:      make(chan struct{}),
		full:      make(chan struct{}, 1),
	}
}

// submit queues item with its operation op under op's target, size being
// the item's estimated memory (eventBytes). It waits for room while the
// batcher holds maxItems items or maxBytes. It fails only when ctx ends
// first.
func (b *batcher[T]) submit(ctx context.Context, item T, op mapping.Operation, size int) error {
	b.mu.Lock()
	for b.held >= b.maxItems || b.bytes >= b.maxBytes {
		b.closeWindow()
		if b.room == nil {
			b.room = make(chan struct{})
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	key := op.Target()
	q := b.keys[key]
	if q == nil {
		q = &keyQueue[T]{}
		b.keys[key] = q
		b.bytes += keyBytes(key)
	}
	q.items = append(q.items, item)
	q.ops.Add(op)
	opsBytes := bufferBytes(q.ops.Ops())
	grow := size + opsBytes - q.opsBytes
	q.opsBytes = opsBytes
	q.bytes += grow
	b.bytes += grow
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
			b.closeWindow()
		}
	}
	return nil
}

// closeWindow asks run to close the window now. Callers hold mu.
func (b *batcher[T]) closeWindow() {
	select {
	case b.full <- struct{}{}:
	default:
	}
}

// run closes a window every maxWait, or as soon as maxEvents items are
// pending or the buffer is full, until ctx ends.
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
// all its items, oldest first, and their operations coalesced. The worker
// owns both until it calls finish. It returns false when ctx ends first.
func (b *batcher[T]) next(ctx context.Context) (mapping.Target, []T, []mapping.Operation, bool) {
	for {
		b.mu.Lock()
		if len(b.ready) > 0 {
			key := b.ready[0]
			b.ready[0] = mapping.Target{}
			b.ready = b.ready[1:]
			q := b.keys[key]
			items, ops := q.items, q.ops.Ops()
			q.flightItems, q.flightBytes = len(items), q.bytes
			q.items, q.ops, q.opsBytes, q.bytes = nil, mapping.Coalescer{}, 0, 0
			q.ready, q.inFlight = false, true
			b.pending -= len(items)
			b.mu.Unlock()
			return key, items, ops, true
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return mapping.Target{}, nil, nil, false
		}
	}
}

// finish ends the worker's hold on key: the items it took are done
// (finished or abandoned) and give back their room. Items that arrived
// meanwhile wait for the next window. Blocked submits wake only once a
// sixteenth of the buffer is free, so that each wake-up lets many items in
// instead of every finish waking every fetcher for one.
func (b *batcher[T]) finish(key mapping.Target) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.keys[key]
	q.inFlight = false
	b.held -= q.flightItems
	b.bytes -= q.flightBytes
	q.flightItems, q.flightBytes = 0, 0
	if len(q.items) == 0 {
		delete(b.keys, key)
		b.bytes -= keyBytes(key)
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
	if b.room != nil && b.held <= b.maxItems-b.maxItems/16 && b.bytes <= b.maxBytes-b.maxBytes/16 {
		close(b.room)
		b.room = nil
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
