package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

// InstanceHeader names the userflow-sync process a request came from; the
// scenario's per-process proxy sets it (the binary does not).
const InstanceHeader = "X-Chaos-Instance"

// History is everything a scenario recorded, for Check.
type History struct {
	// Records are the source topics read back after the run, by workload
	// topic name, in offset order per partition.
	Records map[string][]kafka.Message
	// Requests is the fake Userflow's request log.
	Requests []userflowtest.Request
	// State is the fake Userflow's state at the end.
	State userflowtest.State
	// DeadLetters is the dead-letter topic read back after the run.
	DeadLetters []kafka.Message
	// Commits are the group's committed offsets, sampled during the run in
	// time order, with the final ones last.
	Commits []CommitSample
	// End is the end offset of every source partition.
	End map[TopicPartition]int64
	// TopicName maps a broker topic name back to the workload's name.
	TopicName map[string]string
	// Passes are, per process (InstanceHeader), the times it started a
	// pass over its partitions: each consumer-group generation. A process
	// resumes from the committed offset at each, so it may re-apply what it
	// applied in the previous pass but could not commit.
	Passes map[string][]time.Time
}

// TopicPartition names a partition by its workload topic name.
type TopicPartition struct {
	Topic     string
	Partition int
}

// CommitSample is one reading of a partition's committed offset (-1: none).
type CommitSample struct {
	TopicPartition
	Offset int64
}

// Result is what Check found. A run passes when Failed is false; Duplicates
// and Replays are reported, and must be zero only where a scenario says so.
type Result struct {
	Events        int      // produced events
	Writes        int      // applied writes (upserts and deletes Userflow took)
	Lost          int      // good events never applied (nor overwritten by a newer version), or poison never dead-lettered
	Duplicates    int      // writes repeating a version already applied, and dead letters beyond the first per record
	Replays       int      // writes older than the entity's newest, in a later pass than the newest: redelivery from the committed offset
	OrderViolated int      // writes older than a version the same process had applied in the same pass
	StateWrong    int      // entities whose final state differs from the expected one, and objects that should not exist
	CommitsBack   int      // committed offsets that moved backwards
	CommitsShort  int      // partitions whose final committed offset is not their end
	DeadLetters   int      // dead letters read
	DLQWrong      int      // expected dead letters missing, unexpected ones, and ones with the wrong class or content
	Problems      []string // what breaks an invariant (the first few)
	Notes         []string // the first few duplicates and replays, for the record
}

// Failed reports whether any invariant is broken.
func (r Result) Failed() bool {
	return r.Lost+r.OrderViolated+r.StateWrong+r.CommitsBack+r.CommitsShort+r.DLQWrong > 0
}

const maxProblems = 20

func (r *Result) note(format string, args ...any) {
	if len(r.Notes) < maxProblems {
		r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	}
}

func (r *Result) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// write is one applied request's effect on one entity.
type write struct {
	entity   string
	version  int
	delete   bool
	instance string
	applied  uint64
	time     time.Time // arrival at the fake
}

// Check judges a history against the workload.
func Check(w *Workload, h History) Result {
	r := Result{Events: len(w.Events)}
	loc, err := locate(w, h.Records)
	if err != nil {
		r.Lost = len(w.Events)
		r.problem("%v", err)
		return r
	}
	deleteVersion := map[string]int{}
	for _, e := range w.Events {
		if e.Kind == KindDelete {
			deleteVersion[e.Entity] = e.Version
		}
	}
	writes := r.writes(h.Requests, deleteVersion)
	r.Writes = len(writes)

	// Order, duplicates, replays: per entity, in the order Userflow applied.
	// An older version after a newer one is a replay when a pass began
	// between them: by another process (it took the partition over), or by
	// the same one (a new generation). Within one pass it is a violation.
	newest := map[string]write{}
	seen := map[string]bool{}
	for _, wr := range writes {
		if n, ok := newest[wr.entity]; ok && wr.version < n.version {
			if n.instance == wr.instance && !passBetween(h.Passes[wr.instance], n.time, wr.time) {
				r.OrderViolated++
				r.problem("order: %s version %d applied by process %s after its version %d, in the same pass", wr.entity, wr.version, wr.instance, n.version)
			} else {
				r.Replays++
				r.note("replay: %s version %d applied by process %s after version %d by process %s", wr.entity, wr.version, wr.instance, n.version, n.instance)
			}
		}
		ev := wr.entity + "\x00" + strconv.Itoa(wr.version)
		if seen[ev] && !wr.delete { // a delete and its tombstone both DELETE
			r.Duplicates++
			r.note("duplicate: %s version %d applied again by process %s (request applied #%d)", wr.entity, wr.version, wr.instance, wr.applied)
		}
		seen[ev] = true
		if wr.version >= newest[wr.entity].version {
			newest[wr.entity] = wr
		}
	}

	// Lost: every good event is covered by an applied version at or above
	// its own (a coalesced event is covered by the newer one sent for it).
	for i, e := range w.Events {
		if e.Kind.DeadLetterClass() == "" && newest[e.Entity].version < e.Version {
			r.Lost++
			r.problem("lost: %s version %d (%s at %s) never applied; newest applied: %d", e.Entity, e.Version, e.Kind, loc[i], newest[e.Entity].version)
		}
	}

	r.checkState(w, h.State)
	r.checkDeadLetters(w, loc, h)
	r.checkCommits(h)
	return r
}

// passBetween reports whether one of passes began after a request that
// arrived at from and before one that arrived at to. Log times have
// millisecond precision: a pass logged at p began within [p, p+1ms).
func passBetween(passes []time.Time, from, to time.Time) bool {
	for _, p := range passes {
		if from.Before(p.Add(time.Millisecond)) && !to.Before(p) {
			return true
		}
	}
	return false
}

// locate finds every event's partition and offset among the records read
// back, by its key and value.
func locate(w *Workload, records map[string][]kafka.Message) ([]location, error) {
	where := map[string][]location{}
	for topic, msgs := range records {
		for _, m := range msgs {
			k := topic + "\x00" + string(m.Key) + "\x00" + string(m.Value)
			where[k] = append(where[k], location{TopicPartition{topic, m.Partition}, m.Offset})
		}
	}
	out := make([]location, len(w.Events))
	for i, e := range w.Events {
		k := e.Topic + "\x00" + string(e.Key) + "\x00" + string(e.Value)
		l := where[k]
		if len(l) == 0 {
			return nil, fmt.Errorf("event %d (%s %s v%d) is not in topic %s: the producer lost it", i, e.Kind, e.Entity, e.Version, e.Topic)
		}
		// Tombstones of one key share key and value: take them in order.
		out[i], where[k] = l[0], l[1:]
	}
	return out, nil
}

type location struct {
	TopicPartition
	Offset int64
}

func (l location) String() string { return fmt.Sprintf("%s/%d@%d", l.Topic, l.Partition, l.Offset) }

// writes turns the request log into applied writes, in the order the fake
// applied them.
func (r *Result) writes(reqs []userflowtest.Request, deleteVersion map[string]int) []write {
	reqs = slices.Clone(reqs)
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Applied < reqs[j].Applied })
	var out []write
	for _, q := range reqs {
		ok := q.Status >= 200 && q.Status < 300 || q.Method == http.MethodDelete && q.Status == http.StatusNotFound
		if q.Applied == 0 || !ok {
			continue
		}
		inst := q.Header.Get(InstanceHeader)
		add := func(entity string, version int, del bool) {
			out = append(out, write{entity: entity, version: version, delete: del, instance: inst, applied: q.Applied, time: q.Time})
		}
		switch q.Method {
		case http.MethodPost:
			var body struct {
				ID          string         `json:"id"`
				Attributes  map[string]any `json:"attributes"`
				Memberships []struct {
					Attributes map[string]any `json:"attributes"`
					Group      struct {
						ID string `json:"id"`
					} `json:"group"`
				} `json:"memberships"`
			}
			if err := json.Unmarshal(q.Body, &body); err != nil {
				r.problem("request %d: body: %v", q.Seq, err)
				continue
			}
			object := strings.TrimSuffix(strings.TrimPrefix(q.Path, "/"), "s")
			if v, ok := version(body.Attributes); ok {
				add(object+"/"+body.ID, v, false)
			}
			for _, m := range body.Memberships {
				if v, ok := version(m.Attributes); ok {
					add("membership/"+body.ID+"/"+m.Group.ID, v, false)
				}
			}
		case http.MethodDelete:
			object, id, _ := strings.Cut(strings.TrimPrefix(q.Path, "/"), "/")
			id, _ = url.PathUnescape(id)
			entity := strings.TrimSuffix(object, "s") + "/" + id
			v, ok := deleteVersion[entity]
			if !ok {
				r.StateWrong++
				r.problem("request %d: DELETE %s, which the workload never deletes", q.Seq, q.Path)
				continue
			}
			add(entity, v, true)
		}
	}
	return out
}

// version reads attributes.version: a float64 from JSON, or whatever
// number type the fake keeps in its state.
func version(attrs map[string]any) (int, bool) {
	switch v := attrs["version"].(type) {
	case float64:
		return int(v), true
	case int:
		return v, true
	case int64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	}
	return 0, false
}

// checkState compares the fake's final state with the workload's, both
// ways: every expected entity as expected, and no other object.
func (r *Result) checkState(w *Workload, st userflowtest.State) {
	wrong := func(format string, args ...any) {
		r.StateWrong++
		r.problem("state: "+format, args...)
	}
	attrVersion := func(attrs map[string]any) int { v, _ := version(attrs); return v }
	memberships := map[string]userflowtest.Membership{}
	for _, m := range st.Memberships {
		memberships["membership/"+m.UserID+"/"+m.GroupID] = m
	}
	for ent, f := range w.Final {
		kind, id, _ := strings.Cut(ent, "/")
		var exists bool
		var got int
		switch kind {
		case "user":
			u, ok := st.Users[id]
			exists, got = ok, attrVersion(u.Attributes)
		case "group":
			g, ok := st.Groups[id]
			exists, got = ok, attrVersion(g.Attributes)
		case "membership":
			m, ok := memberships[ent]
			exists, got = ok, attrVersion(m.Attributes)
		}
		switch {
		case exists != f.Exists:
			wrong("%s exists: %v, want %v", ent, exists, f.Exists)
		case f.Exists && got != f.Version:
			wrong("%s at version %d, want %d", ent, got, f.Version)
		}
	}
	for id := range st.Users {
		if _, ok := w.Final["user/"+id]; !ok {
			wrong("user %s should not exist", id)
		}
	}
	for id := range st.Groups {
		if _, ok := w.Final["group/"+id]; !ok {
			wrong("group %s should not exist", id)
		}
	}
	for ent := range memberships {
		if _, ok := w.Final[ent]; !ok {
			wrong("%s should not exist", ent)
		}
	}
}

// checkDeadLetters wants exactly the poison and rejected events in the
// dead-letter topic, each with its class and its original key and value.
func (r *Result) checkDeadLetters(w *Workload, loc []location, h History) {
	r.DeadLetters = len(h.DeadLetters)
	want := map[location]*Event{}
	for i := range w.Events {
		if w.Events[i].Kind.DeadLetterClass() != "" {
			want[loc[i]] = &w.Events[i]
		}
	}
	got := map[location]int{}
	for _, m := range h.DeadLetters {
		hd := map[string]string{}
		for _, x := range m.Headers {
			hd[x.Key] = string(x.Value)
		}
		p, err1 := strconv.Atoi(hd[consumer.HeaderSourcePartition])
		o, err2 := strconv.ParseInt(hd[consumer.HeaderSourceOffset], 10, 64)
		topic, known := h.TopicName[hd[consumer.HeaderSourceTopic]]
		if err1 != nil || err2 != nil || !known {
			r.DLQWrong++
			r.problem("dead letter at offset %d: source headers %q/%q/%q", m.Offset, hd[consumer.HeaderSourceTopic], hd[consumer.HeaderSourcePartition], hd[consumer.HeaderSourceOffset])
			continue
		}
		l := location{TopicPartition{topic, p}, o}
		if got[l]++; got[l] > 1 {
			r.Duplicates++
			r.note("duplicate: dead letter for %s again", l)
			continue
		}
		e, ok := want[l]
		switch {
		case !ok:
			r.DLQWrong++
			r.problem("dead letter for %s, which is not poison (%s: %s)", l, hd[consumer.HeaderErrorClass], hd[consumer.HeaderError])
		case hd[consumer.HeaderErrorClass] != e.Kind.DeadLetterClass():
			r.DLQWrong++
			r.problem("dead letter for %s: class %q, want %q (%s)", l, hd[consumer.HeaderErrorClass], e.Kind.DeadLetterClass(), hd[consumer.HeaderError])
		case string(m.Key) != string(e.Key) || string(m.Value) != string(e.Value):
			r.DLQWrong++
			r.problem("dead letter for %s: key or value differs from the source record", l)
		}
	}
	for l, e := range want {
		if got[l] == 0 {
			r.Lost++
			r.DLQWrong++
			r.problem("dead letter missing for %s (%s %s)", l, e.Kind, e.Entity)
		}
	}
}

// checkCommits wants every partition's committed offset never to move
// backwards and to end at the partition's end.
func (r *Result) checkCommits(h History) {
	last := map[TopicPartition]int64{}
	for _, c := range h.Commits {
		if prev, ok := last[c.TopicPartition]; ok && c.Offset < prev {
			r.CommitsBack++
			r.problem("commit: %s/%d moved back from %d to %d", c.Topic, c.Partition, prev, c.Offset)
		}
		last[c.TopicPartition] = c.Offset
	}
	for tp, end := range h.End {
		if last[tp] != end {
			r.CommitsShort++
			r.problem("commit: %s/%d ends at %d, its end is %d", tp.Topic, tp.Partition, last[tp], end)
		}
	}
}
