package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

func key(i int) mapping.Target { return mapping.Target{Object: mapping.ObjectUser, ID: fmt.Sprint(i)} }

// upsert is an upsert of user i setting attribute seq.
func upsert(i, seq int) mapping.Operation {
	id := fmt.Sprint(i)
	return mapping.Operation{Action: mapping.ActionUpsert, Object: mapping.ObjectUser, ID: id,
		User: &userflow.UpsertUserRequest{ID: id, Attributes: userflow.Attributes{"seq": seq}}}
}

// put submits item for user k with an upsert setting seq to item's seq, as
// an event of 100 bytes.
func put[T any](ctx context.Context, b *batcher[T], k int, item T, seq int) error {
	return b.submit(ctx, item, upsert(k, seq), 100)
}

const noByteBound = 1 << 40

type seqItem struct {
	key int
	seq int
}

// Many keys, many workers: every item is handed out once, each key's items
// in submission order, and never to two workers at once.
func TestBatcherOrderAndExclusivityPerKey(t *testing.T) {
	const keys, perKey, workers = 40, 50, 8
	b := newBatcher[seqItem](16, time.Millisecond, 64, noByteBound)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { b.run(ctx) })

	var mu sync.Mutex
	lastSeq := make(map[int]int)
	busy := make([]atomic.Int32, keys)
	batches, maxBatch := 0, 0
	var failures []string
	for range workers {
		wg.Go(func() {
			for {
				k, items, ops, ok := b.next(ctx)
				if !ok {
					return
				}
				var id int
				fmt.Sscan(k.ID, &id)
				if busy[id].Add(1) != 1 {
					mu.Lock()
					failures = append(failures, "key "+k.ID+" handed to two workers")
					mu.Unlock()
				}
				runtime.Gosched()
				mu.Lock()
				batches++
				maxBatch = max(maxBatch, len(items))
				for _, it := range items {
					if it.key != id || it.seq != lastSeq[id]+1 {
						failures = append(failures, fmt.Sprintf("key %d: got item %+v after seq %d", id, it, lastSeq[id]))
					}
					lastSeq[id] = it.seq
				}
				if len(ops) != 1 || ops[0].User.Attributes["seq"] != lastSeq[id] {
					failures = append(failures, fmt.Sprintf("key %d: items up to seq %d coalesced into %v", id, lastSeq[id], ops))
				}
				mu.Unlock()
				busy[id].Add(-1)
				b.finish(k)
			}
		})
	}
	for s := 1; s <= perKey; s++ {
		for k := range keys {
			if err := put(ctx, b, k, seqItem{k, s}, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !b.drain(ctx) {
		t.Fatal("drain failed")
	}
	cancel()
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	for k := range keys {
		if lastSeq[k] != perKey {
			t.Errorf("key %d: last seq %d, want %d", k, lastSeq[k], perKey)
		}
	}
	if b.held != 0 || b.bytes != 0 || len(b.keys) != 0 {
		t.Errorf("after drain: %d items, %d bytes, %d keys held", b.held, b.bytes, len(b.keys))
	}
	t.Logf("%d items in %d batches, largest %d", keys*perKey, batches, maxBatch)
}

// A window closes when max_events items are pending: the key's ten events
// go out together, not one by one.
func TestBatcherWindowClosesAtMaxEvents(t *testing.T) {
	b := newBatcher[int](10, time.Hour, 100, noByteBound)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.run(ctx)
	for i := range 10 {
		if err := put(ctx, b, 1, i, i); err != nil {
			t.Fatal(err)
		}
	}
	_, items, _, ok := b.next(ctx)
	if !ok || len(items) != 10 {
		t.Fatalf("got %d items, want all 10 in one batch", len(items))
	}
}

// Items that arrive while their key is in flight wait, and leave together
// in the next window, after the first batch finished.
func TestBatcherHoldsKeyWhileInFlight(t *testing.T) {
	b := newBatcher[int](1000, time.Hour, 100, noByteBound)
	ctx := context.Background()
	_ = put(ctx, b, 1, 1, 1)
	b.flush()
	k, _, _, _ := b.next(ctx)
	for i := 2; i <= 4; i++ {
		_ = put(ctx, b, 1, i, i)
	}
	b.flush() // the key is in flight: nothing may become ready
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, items, _, ok := b.next(short); ok {
		t.Fatalf("key handed out again while in flight: %v", items)
	}
	b.finish(k)
	b.flush()
	if _, items, ops, ok := b.next(ctx); !ok || fmt.Sprint(items) != "[2 3 4]" || len(ops) != 1 || ops[0].User.Attributes["seq"] != 4 {
		t.Fatalf("next batch %v with %v, want [2 3 4] coalesced", items, ops)
	}
}

// The batcher never holds more than maxBuffered items: submit waits for
// room, which finishing work gives back.
func TestBatcherBoundsBufferedItems(t *testing.T) {
	b := newBatcher[int](1000, time.Hour, 3, noByteBound)
	ctx := context.Background()
	for i := range 3 {
		if err := put(ctx, b, i, i, i); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := put(short, b, 9, 9, 9); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fourth submit: %v; want it to wait for room", err)
	}
	b.flush()
	k, _, _, _ := b.next(ctx)
	b.finish(k)
	if err := put(ctx, b, 9, 9, 9); err != nil {
		t.Fatalf("submit after room was freed: %v", err)
	}
}

// drain hands out waiting keys at once, and reports false if work is still
// held when its context ends.
func TestBatcherDrain(t *testing.T) {
	b := newBatcher[int](1000, time.Hour, 10, noByteBound)
	ctx := context.Background()
	_ = put(ctx, b, 1, 1, 1)
	done := make(chan bool)
	go func() {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		done <- b.drain(short)
	}()
	k, _, _, ok := b.next(ctx) // no tick ever comes: drain made the key ready
	if !ok {
		t.Fatal("drain did not release the waiting key")
	}
	if <-done {
		t.Fatal("drain reported done while a worker held an item")
	}
	_ = put(ctx, b, 1, 2, 2) // arrives in flight; after finish it is ready at once
	b.finish(k)
	if _, items, _, ok := b.next(ctx); !ok || len(items) != 1 || items[0] != 2 {
		t.Fatalf("after finish while draining: %v", items)
	}
}

// A key's operations are coalesced as they arrive: however many of its
// events wait, it holds one request, and its estimated memory grows by the
// events' sizes, not by one request per event. finish gives everything back.
func TestBatcherCoalescesOnArrival(t *testing.T) {
	b := newBatcher[int](1000, time.Hour, 1000, noByteBound)
	ctx := context.Background()
	_ = put(ctx, b, 1, 1, 1)
	one := b.bytes
	for i := 2; i <= 100; i++ {
		_ = put(ctx, b, 1, i, i)
	}
	if want := one + 99*100; b.bytes != want {
		t.Errorf("100 events of one key hold %d bytes, want %d (one request, 100 events)", b.bytes, want)
	}
	b.flush()
	k, items, ops, _ := b.next(ctx)
	if len(items) != 100 || len(ops) != 1 || ops[0].User.Attributes["seq"] != 100 {
		t.Fatalf("got %d items and %v, want 100 items and one upsert with seq 100", len(items), ops)
	}
	_ = put(ctx, b, 1, 101, 101) // while in flight
	b.finish(k)
	if b.held != 1 || b.bytes != one {
		t.Errorf("after finish: %d items and %d bytes held, want 1 and %d", b.held, b.bytes, one)
	}
	b.flush()
	k, _, _, _ = b.next(ctx)
	b.finish(k)
	if b.held != 0 || b.bytes != 0 || len(b.keys) != 0 {
		t.Errorf("all finished: %d items, %d bytes, %d keys held", b.held, b.bytes, len(b.keys))
	}
}

// The buffer is bounded by estimated bytes too: submit waits once the bound
// is reached, the item that reaches it is let in (so one larger than the
// bound goes through), and a full buffer closes the window at once.
func TestBatcherBoundsBufferedBytes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	perKey := keyBytes(key(0)) + bufferBytes([]mapping.Operation{upsert(0, 0)}) + 100
	b := newBatcher[int](1000, time.Hour, 1000, 3*perKey)
	go b.run(ctx)
	for i := range 3 {
		if err := put(ctx, b, i, i, i); err != nil {
			t.Fatal(err)
		}
	}
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if err := put(short, b, 9, 9, 9); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("submit beyond the bytes bound: %v; want it to wait for room", err)
	}
	// The full buffer closed the window: no need to wait an hour.
	k, _, _, ok := b.next(ctx)
	if !ok {
		t.Fatal("no key ready")
	}
	b.finish(k)
	if err := b.submit(ctx, 9, upsert(9, 9), 10*perKey); err != nil {
		t.Fatalf("submit after room was freed: %v", err)
	}
	if b.bytes <= b.maxBytes {
		t.Fatalf("held %d bytes, want the large item let in beyond %d", b.bytes, b.maxBytes)
	}
}
