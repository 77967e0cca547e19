package consumer

import (
	"math/rand/v2"
	"testing"
)

func TestOffsetTrackerWatermarkOnlyAdvancesOverDonePrefix(t *testing.T) {
	tr := newOffsetTracker(100)
	for _, o := range []int64{100, 101, 105, 106} { // 102..104 are a gap (compaction)
		if err := tr.add(o); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		done        int64
		wantNext    int64
		wantPending int
	}{
		{101, 100, 3}, // 100 still pending: nothing may be committed
		{105, 100, 2},
		{100, 106, 1}, // 100, 101 and (gap) 105 are done: commit 106
		{106, 107, 0},
	}
	for _, s := range steps {
		if err := tr.done(s.done); err != nil {
			t.Fatal(err)
		}
		next, pending := tr.watermark()
		if next != s.wantNext || pending != s.wantPending {
			t.Fatalf("after done(%d): watermark %d pending %d, want %d and %d", s.done, next, pending, s.wantNext, s.wantPending)
		}
	}
}

func TestOffsetTrackerRejectsAccountingBugs(t *testing.T) {
	tr := newOffsetTracker(0)
	if err := tr.add(5); err != nil {
		t.Fatal(err)
	}
	if err := tr.add(5); err == nil {
		t.Error("adding an offset twice: no error")
	}
	if err := tr.add(3); err == nil {
		t.Error("adding a lower offset: no error")
	}
	if err := tr.done(4); err == nil {
		t.Error("done for an offset never added: no error")
	}
	if err := tr.done(5); err != nil {
		t.Fatal(err)
	}
	if err := tr.done(5); err == nil {
		t.Error("done twice: no error")
	}
}

func TestOffsetTrackerEmptyKeepsStart(t *testing.T) {
	tr := newOffsetTracker(42)
	if next, pending := tr.watermark(); next != 42 || pending != 0 {
		t.Fatalf("watermark %d pending %d, want 42 and 0", next, pending)
	}
}

// Random completion orders over many offsets: the watermark is always the
// first not-done offset, and memory is reclaimed as work finishes.
func TestOffsetTrackerRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5000
	tr := newOffsetTracker(0)
	offsets := make([]int64, 0, n)
	var o int64
	for range n {
		o += 1 + int64(rng.IntN(3))
		offsets = append(offsets, o)
		if err := tr.add(o); err != nil {
			t.Fatal(err)
		}
	}
	done := make(map[int64]bool, n)
	for _, i := range rng.Perm(n) {
		if err := tr.done(offsets[i]); err != nil {
			t.Fatal(err)
		}
		done[offsets[i]] = true
		// The watermark is just after the last offset of the done prefix.
		want := int64(0)
		for _, off := range offsets {
			if !done[off] {
				break
			}
			want = off + 1
		}
		if next, _ := tr.watermark(); next != want {
			t.Fatalf("watermark %d, want %d", next, want)
		}
	}
	if next, pending := tr.watermark(); next != offsets[n-1]+1 || pending != 0 {
		t.Fatalf("final watermark %d pending %d", next, pending)
	}
	if len(tr.pending) != 0 {
		t.Fatalf("pending not reclaimed: len %d", len(tr.pending))
	}
}
