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
)

func key(i int) mapping.Target { return mapping.Target{Object: mapping.ObjectUser, ID: fmt.Sprint(i)} }

type seqItem struct {
	key int
	seq int
}

// Many keys, many workers: every item is handed out once, each key's items
// in submission order, and never to two workers at once.
func TestBatcherOrderAndExclusivityPerKey(t *testing.T) {
	const keys, perKey, workers = 40, 50, 8
	b := newBatcher[seqItem](16, time.Millisecond, 64)
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
				k, items, ok := b.next(ctx)
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
				mu.Unlock()
				busy[id].Add(-1)
				b.finish(k, len(items))
			}
		})
	}
	for s := 1; s <= perKey; s++ {
		for k := range keys {
			if err := b.submit(ctx, key(k), seqItem{k, s}); err != nil {
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
	t.Logf("%d items in %d batches, largest %d", keys*perKey, batches, maxBatch)
}

// A window closes when max_events items are pending: the key's ten events
// go out together, not one by one.
func TestBatcherWindowClosesAtMaxEvents(t *testing.T) {
	b := newBatcher[int](10, time.Hour, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.run(ctx)
	for i := range 10 {
		if err := b.submit(ctx, key(1), i); err != nil {
			t.Fatal(err)
		}
	}
	_, items, ok := b.next(ctx)
	if !ok || len(items) != 10 {
		t.Fatalf("got %d items, want all 10 in one batch", len(items))
	}
}

// Items that arrive while their key is in flight wait, and leave together
// in the next window, after the first batch finished.
func TestBatcherHoldsKeyWhileInFlight(t *testing.T) {
	b := newBatcher[int](1000, time.Hour, 100)
	ctx := context.Background()
	_ = b.submit(ctx, key(1), 1)
	b.flush()
	k, first, _ := b.next(ctx)
	for i := 2; i <= 4; i++ {
		_ = b.submit(ctx, key(1), i)
	}
	b.flush() // the key is in flight: nothing may become ready
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, items, ok := b.next(short); ok {
		t.Fatalf("key handed out again while in flight: %v", items)
	}
	b.finish(k, len(first))
	b.flush()
	if _, items, ok := b.next(ctx); !ok || fmt.Sprint(items) != "[2 3 4]" {
		t.Fatalf("next batch %v, want [2 3 4]", items)
	}
}

// The batcher never holds more than maxBuffered items: submit waits for
// room, which finishing work gives back.
func TestBatcherBoundsBufferedItems(t *testing.T) {
	b := newBatcher[int](1000, time.Hour, 3)
	ctx := context.Background()
	for i := range 3 {
		if err := b.submit(ctx, key(i), i); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.submit(short, key(9), 9); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fourth submit: %v; want it to wait for room", err)
	}
	b.flush()
	k, items, _ := b.next(ctx)
	b.finish(k, len(items))
	if err := b.submit(ctx, key(9), 9); err != nil {
		t.Fatalf("submit after room was freed: %v", err)
	}
}

// drain hands out waiting keys at once, and reports false if work is still
// held when its context ends.
func TestBatcherDrain(t *testing.T) {
	b := newBatcher[int](1000, time.Hour, 10)
	ctx := context.Background()
	_ = b.submit(ctx, key(1), 1)
	done := make(chan bool)
	go func() {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		done <- b.drain(short)
	}()
	k, items, ok := b.next(ctx) // no tick ever comes: drain made the key ready
	if !ok {
		t.Fatal("drain did not release the waiting key")
	}
	if <-done {
		t.Fatal("drain reported done while a worker held an item")
	}
	_ = b.submit(ctx, key(1), 2) // arrives in flight; after finish it is ready at once
	b.finish(k, len(items))
	if _, items, ok := b.next(ctx); !ok || len(items) != 1 || items[0] != 2 {
		t.Fatalf("after finish while draining: %v", items)
	}
}
