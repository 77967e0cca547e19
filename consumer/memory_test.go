package consumer

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/mapping"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fill buffers events of keys×perKey JSON rows, as fetch does, and returns
// the batcher's estimate and the live heap it took.
func fill(t *testing.T, keys, perKey int) (estimate int, measured int) {
	t.Helper()
	m, err := mapping.New(mapping.Config{
		Format: mapping.FormatJSON, Object: mapping.ObjectUser, IDColumn: "id",
		Attributes: map[string]mapping.AttributeSpec{"name": {Column: "name"}, "version": {Column: "version", Type: "number"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sync := &Sync{Name: "users", Mapper: m}
	ctx := context.Background()
	before := heapInUse()
	b := newBatcher[*event](1<<30, time.Hour, 1<<30, 1<<40)
	tr := newOffsetTracker(0)
	for v := range perKey {
		for k := range keys {
			id := "k" + strconv.Itoa(k)
			value := []byte(`{"id":"` + id + `","name":"user ` + strconv.Itoa(k) + ` v` + strconv.Itoa(v) + `","version":` + strconv.Itoa(v) + `}`)
			off := int64(v*keys + k)
			ev := &event{msg: kafka.Message{Topic: "t", Offset: off, Key: []byte(id), Value: value}, sync: sync, tracker: tr}
			_ = tr.add(off)
			op, err := m.Map(messageOf(&ev.msg))
			if err != nil {
				t.Fatal(err)
			}
			ev.action, ev.sourceTime = op.Action, op.SourceTime
			if err := b.submit(ctx, ev, op, eventBytes(&ev.msg)); err != nil {
				t.Fatal(err)
			}
		}
	}
	after := heapInUse()
	runtime.KeepAlive(b)
	runtime.KeepAlive(tr)
	return b.bytes, int(after - before)
}

// The batcher's memory estimate stays close to the live heap that buffered
// events take, whether their keys coalesce or not. The constants of
// memory.go were calibrated with it.
func TestBufferEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the heap")
	}
	for _, c := range []struct{ keys, perKey int }{{10000, 10}, {50000, 1}, {1000, 100}} {
		est, got := fill(t, c.keys, c.perKey)
		n := c.keys * c.perKey
		ratio := float64(est) / float64(got)
		t.Logf("%d keys × %d events: estimate %.0f B/event, live heap %.0f B/event, ratio %.2f",
			c.keys, c.perKey, float64(est)/float64(n), float64(got)/float64(n), ratio)
		if ratio < 0.75 || ratio > 1.33 {
			t.Errorf("%d keys × %d events: estimate %d bytes, live heap %d", c.keys, c.perKey, est, got)
		}
	}
}
