package consumer

import (
	"encoding/json"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// Estimates of the heap memory the batcher holds, for MaxBufferedBytes. They
// count what is allocated and live while an event waits (structs, slices,
// map slots, strings) with Go's allocation rounding, and were calibrated
// against the live heap of buffered events by TestBufferEstimate. They leave
// out the garbage the GC has not collected yet: with the default GOGC the
// heap may grow to about twice what is live.
const (
	// an *event with its kafka.Message, its slot in the key's items and in
	// the offset tracker, and the record's own allocations (kafka-go
	// allocates key and value apart)
	eventOverhead = 256
	// a key's map entry, keyQueue and coalescer
	keyOverhead = 320
	// an Operation in a coalescer's result
	opOverhead = 128
	// a request struct (user or group)
	requestOverhead = 112
	// a list entry (group or membership) of a user request
	entryOverhead = 80
	// an attribute's map slot, with the map's spare room
	attrOverhead = 64
)

// eventBytes estimates the memory an event costs while it waits: the
// record's bytes and the consumer's bookkeeping, not its operation.
func eventBytes(m *kafka.Message) int {
	n := eventOverhead + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 48 + len(h.Key) + len(h.Value)
	}
	return n
}

// keyBytes estimates what a key costs the batcher, besides its events and
// operations.
func keyBytes(key mapping.Target) int { return keyOverhead + len(key.ID) }

// bufferBytes estimates the memory of coalesced operations.
func bufferBytes(ops []mapping.Operation) int {
	n := 0
	for i := range ops {
		op := &ops[i]
		n += opOverhead + len(op.ID)
		switch {
		case op.User != nil:
			n += requestOverhead + attrsBytes(op.User.Attributes)
			for _, g := range op.User.Groups {
				n += entryOverhead + len(g.ID) + attrsBytes(g.Attributes)
			}
			for _, m := range op.User.Memberships {
				n += 2*entryOverhead + len(m.Group.ID) + attrsBytes(m.Attributes) + attrsBytes(m.Group.Attributes)
			}
		case op.Group != nil:
			n += requestOverhead + attrsBytes(op.Group.Attributes)
		}
	}
	return n
}

func attrsBytes(a userflow.Attributes) int {
	n := 0
	for k, v := range a {
		n += attrOverhead + len(k) + valueBytes(v)
	}
	return n
}

// valueBytes estimates what an attribute value holds outside its map slot.
func valueBytes(v any) int {
	switch v := v.(type) {
	case string:
		return 16 + len(v)
	case json.Number:
		return 16 + len(v)
	case []any:
		n := 24
		for _, e := range v {
			n += 16 + valueBytes(e)
		}
		return n
	}
	return 8
}
