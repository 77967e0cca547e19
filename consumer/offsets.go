package consumer

import (
	"fmt"
	"sort"
	"sync"
)

// offsetTracker follows the offsets of one partition from fetch to done and
// answers the commit watermark: the offset just after the longest prefix of
// fetched offsets that are all done. Committing the watermark never skips an
// event whose work is unfinished, whatever order work completes in.
//
// Offsets must be added in increasing order (the order a partition is read
// in); gaps (compaction, transaction markers) are fine. It is safe for
// concurrent use: fetchers add, workers mark done, the committer reads.
type offsetTracker struct {
	mu      sync.Mutex
	next    int64 // watermark: every fetched offset below it is done
	last    int64 // highest offset added, or next-1
	pending []trackedOffset
	head    int // pending[:head] are done and already folded into next
	open    int // offsets added and not done yet
}

type trackedOffset struct {
	offset int64
	done   bool
}

// newOffsetTracker starts at start, the offset the partition is read from.
func newOffsetTracker(start int64) *offsetTracker {
	return &offsetTracker{next: start, last: start - 1}
}

// add records that offset was fetched and handed to the pipeline.
func (t *offsetTracker) add(offset int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if offset <= t.last {
		return fmt.Errorf("offset %d added after %d: offsets must increase", offset, t.last)
	}
	t.last = offset
	t.pending = append(t.pending, trackedOffset{offset: offset})
	t.open++
	return nil
}

// done marks offset finished (applied, skipped or dead-lettered). Marking an
// offset that was never added, or twice, is an error: it would be a bug in
// the pipeline's accounting.
func (t *offsetTracker) done(offset int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.pending[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset {
		return fmt.Errorf("offset %d marked done but not pending", offset)
	}
	if live[i].done {
		return fmt.Errorf("offset %d marked done twice", offset)
	}
	live[i].done = true
	t.open--
	t.advance()
	return nil
}

// advance folds the done prefix into next and reclaims memory now and then.
// Callers hold mu.
func (t *offsetTracker) advance() {
	for t.head < len(t.pending) && t.pending[t.head].done {
		t.next = t.pending[t.head].offset + 1
		t.head++
	}
	if t.head == len(t.pending) {
		t.pending, t.head = t.pending[:0], 0
	} else if t.head > 1024 && t.head*2 > len(t.pending) {
		n := copy(t.pending, t.pending[t.head:])
		t.pending, t.head = t.pending[:n], 0
	}
}

// watermark returns the offset to commit (the next offset to read) and how
// many fetched offsets are not done yet.
func (t *offsetTracker) watermark() (next int64, pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next, t.open
}
