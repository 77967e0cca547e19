package mapping

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// Builders for the operations of user u1 and group g1.

type attrs = userflow.Attributes

type opOption func(*Operation)

func userUpsert(a attrs, opts ...opOption) Operation {
	op := Operation{Action: ActionUpsert, Object: ObjectUser, Mode: ModeUpsert, ID: "u1",
		User: &userflow.UpsertUserRequest{ID: "u1", Attributes: a}}
	for _, o := range opts {
		o(&op)
	}
	return op
}

func groupUpsert(a attrs, opts ...opOption) Operation {
	op := Operation{Action: ActionUpsert, Object: ObjectGroup, Mode: ModeUpsert, ID: "g1",
		Group: &userflow.GroupRequest{ID: "g1", Attributes: a}}
	for _, o := range opts {
		o(&op)
	}
	return op
}

func deleteOf(obj Object, opts ...opOption) Operation {
	op := Operation{Action: ActionDelete, Object: obj, Mode: ModeUpsert, ID: "u1"}
	if obj == ObjectGroup {
		op.ID = "g1"
	}
	for _, o := range opts {
		o(&op)
	}
	return op
}

func skipOp() Operation { return Operation{Action: ActionSkip, Skip: SkipUnchanged} }

func withGroups(prune bool, gs ...userflow.GroupRequest) opOption {
	return func(op *Operation) {
		op.User.Groups = append([]userflow.GroupRequest{}, gs...)
		op.User.PruneMemberships = prune
	}
}

func withMemberships(prune bool, ms ...userflow.MembershipRequest) opOption {
	return func(op *Operation) {
		op.User.Memberships = append([]userflow.MembershipRequest{}, ms...)
		op.User.PruneMemberships = prune
	}
}

func updateMode(op *Operation) { op.Mode = ModeUpdate }
func tombstone(op *Operation)  { op.Tombstone = true }
func pruneFlag(op *Operation)  { op.User.PruneMemberships = true }

func at(sec int64) opOption { return func(op *Operation) { op.SourceTime = time.Unix(sec, 0) } }

func grp(id string, a attrs) userflow.GroupRequest {
	return userflow.GroupRequest{ID: id, Attributes: a}
}

func mem(id string, a, groupAttrs attrs) userflow.MembershipRequest {
	return userflow.MembershipRequest{Attributes: a, Group: grp(id, groupAttrs)}
}

func TestCoalesce(t *testing.T) {
	var tenUpserts []Operation
	all := attrs{"a": 9}
	for i := range 10 {
		k := fmt.Sprint("k", i)
		tenUpserts = append(tenUpserts, userUpsert(attrs{"a": i, k: i}, at(int64(i))))
		all[k] = i
	}
	g1, g2, g3 := grp("g1", nil), grp("g2", nil), grp("g3", nil)
	tests := []struct {
		name     string
		in, want []Operation
	}{
		{"empty", nil, nil},
		{"only skips", []Operation{skipOp(), skipOp()}, nil},
		{"skips dropped",
			[]Operation{skipOp(), userUpsert(attrs{"a": 1}), skipOp()},
			[]Operation{userUpsert(attrs{"a": 1})}},

		// Upsert then upsert.
		{"attributes merge, later wins",
			[]Operation{userUpsert(attrs{"a": 1, "b": 1}, at(1)), userUpsert(attrs{"b": 2, "c": 3}, at(2))},
			[]Operation{userUpsert(attrs{"a": 1, "b": 2, "c": 3}, at(2))}},
		{"later null overrides",
			[]Operation{userUpsert(attrs{"a": 1}), userUpsert(attrs{"a": nil})},
			[]Operation{userUpsert(attrs{"a": nil})}},
		{"latest source time wins even out of order",
			[]Operation{userUpsert(attrs{"a": 1}, at(5)), userUpsert(attrs{"a": 2}, at(3))},
			[]Operation{userUpsert(attrs{"a": 2}, at(5))}},
		{"ten upserts become one", tenUpserts, []Operation{userUpsert(all, at(9))}},
		{"group upserts merge",
			[]Operation{groupUpsert(attrs{"n": 1}), groupUpsert(attrs{"m": 2}), groupUpsert(nil)},
			[]Operation{groupUpsert(attrs{"n": 1, "m": 2})}},

		// Lists.
		{"groups union by id in first-appearance order",
			[]Operation{
				userUpsert(nil, withGroups(false, grp("g1", attrs{"x": 1}), g2)),
				userUpsert(nil, withGroups(false, grp("g3", attrs{"z": 1}), grp("g1", attrs{"y": 2})))},
			[]Operation{userUpsert(nil, withGroups(false,
				grp("g1", attrs{"x": 1, "y": 2}), g2, grp("g3", attrs{"z": 1})))}},
		{"duplicate ids collapse, later wins",
			[]Operation{
				userUpsert(nil, withGroups(false, grp("g1", attrs{"x": 1}), grp("g1", attrs{"x": 2}))),
				userUpsert(nil, withGroups(false, grp("g1", attrs{"x": 3})))},
			[]Operation{userUpsert(nil, withGroups(false, grp("g1", attrs{"x": 3})))}},
		{"memberships merge membership and group attributes",
			[]Operation{
				userUpsert(nil, withMemberships(false, mem("g1", attrs{"role": "a"}, attrs{"name": "A"}))),
				userUpsert(nil, withMemberships(false,
					mem("g1", attrs{"since": 1}, attrs{"name": "B"}), mem("g2", nil, nil)))},
			[]Operation{userUpsert(nil, withMemberships(false,
				mem("g1", attrs{"role": "a", "since": 1}, attrs{"name": "B"}), mem("g2", nil, nil)))}},
		{"a list rides along with attributes",
			[]Operation{userUpsert(attrs{"a": 1}, withGroups(false, g1)), userUpsert(attrs{"b": 2})},
			[]Operation{userUpsert(attrs{"a": 1, "b": 2}, withGroups(false, g1))}},
		{"a pruning list rides along",
			[]Operation{userUpsert(attrs{"a": 1}), userUpsert(attrs{"b": 2}, withGroups(true, g1))},
			[]Operation{userUpsert(attrs{"a": 1, "b": 2}, withGroups(true, g1))}},
		{"groups then memberships stay apart",
			[]Operation{
				userUpsert(attrs{"a": 1}, withGroups(false, g1)),
				userUpsert(attrs{"b": 2}, withMemberships(false, mem("g2", nil, nil)))},
			[]Operation{
				userUpsert(attrs{"a": 1}, withGroups(false, g1)),
				userUpsert(attrs{"b": 2}, withMemberships(false, mem("g2", nil, nil)))}},

		// prune_memberships.
		{"later prune covering the earlier list merges",
			[]Operation{
				userUpsert(nil, withGroups(false, grp("g1", attrs{"x": 1}))),
				userUpsert(nil, withGroups(true, g2, g1))},
			[]Operation{userUpsert(nil, withGroups(true, grp("g1", attrs{"x": 1}), g2))}},
		{"later prune not covering the earlier list stays",
			[]Operation{userUpsert(nil, withGroups(false, g1, g2)), userUpsert(nil, withGroups(true, g2))},
			[]Operation{userUpsert(nil, withGroups(false, g1, g2)), userUpsert(nil, withGroups(true, g2))}},
		{"earlier prune covering the later list merges",
			[]Operation{
				userUpsert(nil, withGroups(true, g1, grp("g2", attrs{"x": 1}))),
				userUpsert(nil, withGroups(false, grp("g2", attrs{"x": 2})))},
			[]Operation{userUpsert(nil, withGroups(true, g1, grp("g2", attrs{"x": 2})))}},
		{"earlier prune not covering the later list stays",
			[]Operation{userUpsert(nil, withGroups(true, g1)), userUpsert(nil, withGroups(false, g2))},
			[]Operation{userUpsert(nil, withGroups(true, g1)), userUpsert(nil, withGroups(false, g2))}},
		{"prune lists naming the same groups merge",
			[]Operation{
				userUpsert(nil, withMemberships(true, mem("g1", attrs{"r": "a"}, nil), mem("g2", nil, nil))),
				userUpsert(nil, withMemberships(true, mem("g2", attrs{"r": "b"}, nil), mem("g1", nil, nil)))},
			[]Operation{userUpsert(nil, withMemberships(true,
				mem("g1", attrs{"r": "a"}, nil), mem("g2", attrs{"r": "b"}, nil)))}},
		{"prune lists naming different groups stay",
			[]Operation{
				userUpsert(nil, withGroups(true, grp("g1", attrs{"x": 1}))),
				userUpsert(nil, withGroups(true, g2))},
			[]Operation{
				userUpsert(nil, withGroups(true, grp("g1", attrs{"x": 1}))),
				userUpsert(nil, withGroups(true, g2))}},
		{"prune superset after prune stays",
			[]Operation{userUpsert(nil, withGroups(true, g1)), userUpsert(nil, withGroups(true, g1, g2))},
			[]Operation{userUpsert(nil, withGroups(true, g1)), userUpsert(nil, withGroups(true, g1, g2))}},
		{"empty prune list stays set",
			[]Operation{userUpsert(nil, withGroups(true)), userUpsert(attrs{"a": 1})},
			[]Operation{userUpsert(attrs{"a": 1}, withGroups(true))}},
		{"prune flag without a list is ignored",
			[]Operation{userUpsert(attrs{"a": 1}, pruneFlag), userUpsert(nil, withGroups(false, g1))},
			[]Operation{userUpsert(attrs{"a": 1}, withGroups(false, g1))}},

		// Deletes.
		{"delete then delete",
			[]Operation{deleteOf(ObjectUser, at(1)), deleteOf(ObjectUser, at(2))},
			[]Operation{deleteOf(ObjectUser, at(2))}},
		{"delete then its tombstone",
			[]Operation{deleteOf(ObjectUser), deleteOf(ObjectUser, tombstone)},
			[]Operation{deleteOf(ObjectUser)}},
		{"tombstone then tombstone",
			[]Operation{deleteOf(ObjectGroup, tombstone), deleteOf(ObjectGroup, tombstone)},
			[]Operation{deleteOf(ObjectGroup, tombstone)}},
		{"deletes of different modes merge",
			[]Operation{deleteOf(ObjectUser, updateMode), deleteOf(ObjectUser)},
			[]Operation{deleteOf(ObjectUser)}},
		{"upserts then delete",
			[]Operation{userUpsert(attrs{"a": 1}, at(3)), userUpsert(attrs{"b": 2}, updateMode), deleteOf(ObjectUser, at(2))},
			[]Operation{deleteOf(ObjectUser, at(3))}},
		{"groups outlive the user's delete",
			[]Operation{userUpsert(attrs{"a": 1}, withGroups(true, grp("g1", attrs{"x": 1}))), deleteOf(ObjectUser)},
			[]Operation{userUpsert(nil, withGroups(false, grp("g1", attrs{"x": 1}))), deleteOf(ObjectUser)}},
		{"memberships outlive the user's delete",
			[]Operation{
				userUpsert(attrs{"a": 1}, withMemberships(false, mem("g1", attrs{"r": "a"}, attrs{"n": 1}))),
				deleteOf(ObjectUser)},
			[]Operation{
				userUpsert(nil, withMemberships(false, mem("g1", attrs{"r": "a"}, attrs{"n": 1}))),
				deleteOf(ObjectUser)}},
		{"lists around deletes merge",
			[]Operation{
				userUpsert(nil, withGroups(true, g1)), deleteOf(ObjectUser),
				userUpsert(attrs{"a": 1}, withGroups(true, g2)), deleteOf(ObjectUser)},
			[]Operation{userUpsert(nil, withGroups(false, g1, g2)), deleteOf(ObjectUser)}},
		{"group upserts then delete",
			[]Operation{groupUpsert(attrs{"n": 1}), deleteOf(ObjectGroup), groupUpsert(attrs{"n": 2}),
				groupUpsert(nil, updateMode), deleteOf(ObjectGroup)},
			[]Operation{deleteOf(ObjectGroup)}},
		{"delete then upsert",
			[]Operation{deleteOf(ObjectUser), userUpsert(attrs{"a": 1})},
			[]Operation{deleteOf(ObjectUser), userUpsert(attrs{"a": 1})}},
		{"delete then update",
			[]Operation{deleteOf(ObjectUser, at(1)), userUpsert(attrs{"a": 1}, updateMode, at(2))},
			[]Operation{deleteOf(ObjectUser, at(2))}},
		{"group delete then update",
			[]Operation{deleteOf(ObjectGroup), groupUpsert(attrs{"n": 1}, updateMode)},
			[]Operation{deleteOf(ObjectGroup)}},
		{"u u d u u",
			[]Operation{userUpsert(attrs{"a": 1}), userUpsert(attrs{"a": 2}), deleteOf(ObjectUser),
				userUpsert(attrs{"b": 1}), userUpsert(attrs{"c": 1})},
			[]Operation{deleteOf(ObjectUser), userUpsert(attrs{"b": 1, "c": 1})}},

		// Modes.
		{"upsert then update stay apart",
			[]Operation{userUpsert(attrs{"a": 1}), userUpsert(attrs{"b": 2}, updateMode)},
			[]Operation{userUpsert(attrs{"a": 1}), userUpsert(attrs{"b": 2}, updateMode)}},
		{"update then upsert stay apart",
			[]Operation{groupUpsert(attrs{"a": 1}, updateMode), groupUpsert(attrs{"b": 2})},
			[]Operation{groupUpsert(attrs{"a": 1}, updateMode), groupUpsert(attrs{"b": 2})}},
		{"updates merge",
			[]Operation{userUpsert(attrs{"a": 1}, updateMode), userUpsert(attrs{"b": 2}, updateMode)},
			[]Operation{userUpsert(attrs{"a": 1, "b": 2}, updateMode)}},
		{"an update naming groups keeps what creates the user before it",
			[]Operation{deleteOf(ObjectUser), userUpsert(attrs{"a": 1}), userUpsert(attrs{"b": 2}, updateMode),
				userUpsert(attrs{"c": 3}, updateMode, withGroups(false, g1)), deleteOf(ObjectUser, tombstone)},
			[]Operation{userUpsert(nil), userUpsert(nil, updateMode, withGroups(false, g1)), deleteOf(ObjectUser)}},
		{"updates naming groups before a delete lose their prune and merge",
			[]Operation{
				userUpsert(attrs{"a": 1}, updateMode, withMemberships(false, mem("g1", nil, nil), mem("g2", nil, nil))),
				userUpsert(attrs{"a": 2}, updateMode, withMemberships(true, mem("g1", attrs{"r": "a"}, nil))),
				deleteOf(ObjectUser, updateMode)},
			[]Operation{
				userUpsert(nil, updateMode, withMemberships(false, mem("g1", attrs{"r": "a"}, nil), mem("g2", nil, nil))),
				deleteOf(ObjectUser, updateMode)}},
		{"an update after a recreating upsert stays",
			[]Operation{deleteOf(ObjectUser), userUpsert(attrs{"a": 1}), userUpsert(attrs{"b": 2}, updateMode)},
			[]Operation{deleteOf(ObjectUser), userUpsert(attrs{"a": 1}), userUpsert(attrs{"b": 2}, updateMode)}},
		{"groups of an upsert before an update stay in order",
			[]Operation{userUpsert(nil, withGroups(false, g3)), userUpsert(nil, updateMode, withGroups(false, g1)),
				deleteOf(ObjectUser)},
			[]Operation{userUpsert(nil, withGroups(false, g3)), userUpsert(nil, updateMode, withGroups(false, g1)),
				deleteOf(ObjectUser)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Coalesce(tt.in)); diff != "" {
				t.Errorf("Coalesce() mismatch (-want +got):\n%s", diff)
			}
			// The expected answers are themselves checked against the model.
			r := rand.New(rand.NewPCG(1, 2))
			for range 50 {
				checkCoalesce(t, genWorld(r), tt.in)
			}
		})
	}
}

func TestCoalesceSingleOpAsIs(t *testing.T) {
	ops := []Operation{userUpsert(attrs{"a": 1})}
	if got := Coalesce(ops); len(got) != 1 || &got[0] != &ops[0] {
		t.Errorf("Coalesce(one op) = %v, want the input slice", got)
	}
}

func TestCoalesceDoesNotMutate(t *testing.T) {
	ops := []Operation{
		userUpsert(attrs{"a": 1}, withMemberships(false, mem("g1", attrs{"r": "a"}, attrs{"n": 1}))),
		userUpsert(attrs{"a": 2}, withMemberships(true, mem("g1", attrs{"r": "b"}, attrs{"n": 2}))),
		userUpsert(attrs{"b": 1}, withMemberships(false, mem("g1", attrs{"r": "c"}, attrs{"m": 3}))),
		deleteOf(ObjectUser),
		userUpsert(attrs{"a": 3}, withMemberships(false, mem("g2", attrs{"r": "a"}, nil))),
		userUpsert(attrs{"a": 4}, withMemberships(false, mem("g2", attrs{"r": "d"}, attrs{"n": 4}))),
	}
	before := cloneOps(ops)
	Coalesce(ops)
	if diff := cmp.Diff(before, ops); diff != "" {
		t.Fatalf("Coalesce changed its input (-before +after):\n%s", diff)
	}
}

// TestCoalesceEquivalence checks random operation sequences against a model
// of Userflow: the coalesced sequence must leave it as the input does.
func TestCoalesceEquivalence(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 5000
	if testing.Short() {
		n = 500
	}
	for range n {
		w, ops := genCase(r)
		if !checkCoalesce(t, w, ops) {
			return
		}
	}
}

// A Coalescer fed one operation at a time holds, after each Add, what
// Coalesce returns for the operations added so far, and leaves them alone.
func TestCoalescerMatchesCoalesce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for range 2000 {
		_, ops := genCase(r)
		before := cloneOps(ops)
		var c Coalescer
		for i, op := range ops {
			c.Add(op)
			want := cloneOps(Coalesce(cloneOps(ops[:i+1])))
			if diff := cmp.Diff(want, c.Ops()); diff != "" {
				t.Fatalf("ops %s\nafter Add %d: Ops() differs from Coalesce (-Coalesce +Coalescer):\n%s", formatOps(ops), i, diff)
			}
		}
		if diff := cmp.Diff(before, ops); diff != "" {
			t.Fatalf("Coalescer changed its input (-before +after):\n%s", diff)
		}
	}
}

// FuzzCoalesce builds the start state and the operations from its input
// bytes and checks Coalesce against the model.
func FuzzCoalesce(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 12, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x01\x01\x01\x01\x01\x01\x02\x02\x09\x00\x05\x01\x02\x03\x01\x01\x02\x00\x09\x01\x01\x01\x03\x02\x01"))
	f.Add([]byte("coalesce prune memberships, then delete the user and upsert it again"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := byteChooser(data)
		w, ops := genCase(&b)
		checkCoalesce(t, w, ops)
	})
}

func BenchmarkCoalesce(b *testing.B) {
	ops := make([]Operation, 10)
	for i := range ops {
		ops[i] = userUpsert(
			attrs{"email": "ann@example.com", "name": "Ann", "plan": "pro", "seats": i, "signed_up_at": "2024-01-02T03:04:05Z"},
			withMemberships(false, mem("c7", attrs{"role": "admin"}, attrs{"name": "Acme"})), at(int64(i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(Coalesce(ops)) != 1 {
			b.Fatal("want one operation")
		}
	}
}

// checkCoalesce coalesces ops and reports whether Coalesce left ops alone,
// returned well-formed operations, no more of them, and a fixed point, and
// whether they leave the model in the state ops leave it in.
func checkCoalesce(t testing.TB, start world, ops []Operation) bool {
	t.Helper()
	before := cloneOps(ops)
	out := Coalesce(ops)
	if diff := cmp.Diff(before, ops); diff != "" {
		t.Errorf("Coalesce changed its input (-before +after):\n%s", diff)
		return false
	}
	work := 0
	for _, op := range ops {
		if op.Action != ActionSkip {
			work++
		}
	}
	if len(out) > work {
		t.Errorf("Coalesce returned %d operations for %d", len(out), work)
	}
	for _, op := range out {
		if op.Action == ActionSkip || op.User != nil && op.User.Groups != nil && op.User.Memberships != nil {
			t.Errorf("Coalesce returned %+v", op)
		}
	}
	if again := Coalesce(out); len(again) != len(out) {
		t.Errorf("Coalesce is not idempotent: %s\ngives %s\nthen %s", formatOps(ops), formatOps(out), formatOps(again))
	}
	want, got := start.clone(), start.clone()
	for _, op := range ops {
		want.apply(op)
	}
	for _, op := range out {
		got.apply(op)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("start %+v\nops %s\ncoalesced %s\nend state mismatch (-ops +coalesced):\n%s",
			start, formatOps(ops), formatOps(out), diff)
	}
	return !t.Failed()
}

// formatOps shows ops with their requests as Userflow would receive them.
func formatOps(ops []Operation) string {
	s := ""
	for _, op := range ops {
		var body []byte
		switch {
		case op.User != nil:
			body, _ = json.Marshal(op.User)
		case op.Group != nil:
			body, _ = json.Marshal(op.Group)
		}
		s += fmt.Sprintf("\n  %v %v %s %s", op.Action, op.Mode, op.Target(), body)
	}
	return s
}

// world is a model of Userflow's state, with the semantics Coalesce relies
// on (docs/coalescing.md).
type world struct {
	Users       map[string]attrs
	Groups      map[string]attrs
	Memberships map[membershipKey]attrs
}

type membershipKey struct{ User, Group string }

func (w world) clone() world {
	c := world{map[string]attrs{}, map[string]attrs{}, map[membershipKey]attrs{}}
	for k, v := range w.Users {
		c.Users[k] = maps.Clone(v)
	}
	for k, v := range w.Groups {
		c.Groups[k] = maps.Clone(v)
	}
	for k, v := range w.Memberships {
		c.Memberships[k] = maps.Clone(v)
	}
	return c
}

func (w world) apply(op Operation) {
	switch {
	case op.Action == ActionSkip:
	case op.Action == ActionDelete && op.Object == ObjectUser:
		delete(w.Users, op.ID)
		maps.DeleteFunc(w.Memberships, func(k membershipKey, _ attrs) bool { return k.User == op.ID })
	case op.Action == ActionDelete:
		delete(w.Groups, op.ID)
		maps.DeleteFunc(w.Memberships, func(k membershipKey, _ attrs) bool { return k.Group == op.ID })
	case op.Object == ObjectGroup:
		if _, ok := w.Groups[op.ID]; ok || op.Mode == ModeUpsert {
			w.Groups[op.ID] = merged(w.Groups[op.ID], op.Group.Attributes)
		}
	default:
		r := op.User
		if _, ok := w.Users[r.ID]; !ok && op.Mode == ModeUpdate {
			return
		}
		w.Users[r.ID] = merged(w.Users[r.ID], r.Attributes)
		listed := map[string]bool{}
		for _, g := range r.Groups {
			w.join(r.ID, g, nil)
			listed[g.ID] = true
		}
		for _, m := range r.Memberships {
			w.join(r.ID, m.Group, m.Attributes)
			listed[m.Group.ID] = true
		}
		if r.PruneMemberships && (r.Groups != nil || r.Memberships != nil) {
			maps.DeleteFunc(w.Memberships, func(k membershipKey, _ attrs) bool {
				return k.User == r.ID && !listed[k.Group]
			})
		}
	}
}

// join creates or updates group g and the user's membership in it.
func (w world) join(user string, g userflow.GroupRequest, a attrs) {
	w.Groups[g.ID] = merged(w.Groups[g.ID], g.Attributes)
	k := membershipKey{user, g.ID}
	w.Memberships[k] = merged(w.Memberships[k], a)
}

// merged merges a into m, a map the world owns (made when nil).
func merged(m, a attrs) attrs {
	if m == nil {
		m = attrs{}
	}
	maps.Copy(m, a)
	return m
}

// chooser is the source of choices for genCase: *rand.Rand or byteChooser.
type chooser interface{ IntN(n int) int }

// byteChooser reads choices from fuzz input, then zeros.
type byteChooser []byte

func (b *byteChooser) IntN(n int) int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v) % n
}

var (
	genGroupIDs = []string{"g1", "g2", "g3"}
	genValues   = []any{1, 2, "x", nil}
)

func genAttrs(c chooser) attrs {
	n := c.IntN(4)
	if n == 0 {
		return nil
	}
	a := make(attrs, n)
	for range n {
		a[string(rune('a'+c.IntN(3)))] = genValues[c.IntN(len(genValues))]
	}
	return a
}

// genWorld makes a start state: users u1 and u2, groups g1 to g3 (g1 is also
// the group target), and memberships, each there or not.
func genWorld(c chooser) world {
	w := world{map[string]attrs{}, map[string]attrs{}, map[membershipKey]attrs{}}
	for _, g := range genGroupIDs {
		if c.IntN(2) == 0 {
			w.Groups[g] = merged(nil, genAttrs(c))
		}
	}
	for _, u := range []string{"u1", "u2"} {
		if c.IntN(2) == 0 {
			continue
		}
		w.Users[u] = merged(nil, genAttrs(c))
		for _, g := range genGroupIDs {
			if c.IntN(2) == 0 {
				w.join(u, grp(g, nil), genAttrs(c))
			}
		}
	}
	return w
}

// genCase makes a start state and up to 12 operations for user u1 or group
// g1. Modes and list kinds are either fixed for the sequence (as from one
// sync) or mixed.
func genCase(c chooser) (world, []Operation) {
	w := genWorld(c)
	obj := ObjectUser
	if c.IntN(4) == 0 {
		obj = ObjectGroup
	}
	modes, kinds := c.IntN(3), c.IntN(3)
	pick := func(policy int) int {
		if policy < 2 {
			return policy
		}
		return c.IntN(2)
	}
	ops := make([]Operation, c.IntN(13))
	for i := range ops {
		mode := func(op *Operation) {
			if pick(modes) == 1 {
				op.Mode = ModeUpdate
			}
		}
		when := at(int64(c.IntN(5)))
		switch c.IntN(10) {
		case 0:
			ops[i] = skipOp()
		case 1, 2:
			ops[i] = deleteOf(obj, mode, when)
			ops[i].Tombstone = c.IntN(2) == 0
		default:
			if obj == ObjectGroup {
				ops[i] = groupUpsert(genAttrs(c), mode, when)
				continue
			}
			ops[i] = userUpsert(genAttrs(c), mode, when)
			r := ops[i].User
			if c.IntN(3) > 0 {
				n := c.IntN(4)
				if pick(kinds) == 0 {
					r.Groups = make([]userflow.GroupRequest, n)
				} else {
					r.Memberships = make([]userflow.MembershipRequest, n)
				}
				for j := range n {
					g := grp(genGroupIDs[c.IntN(3)], genAttrs(c))
					if r.Groups != nil {
						r.Groups[j] = g
					} else {
						r.Memberships[j] = userflow.MembershipRequest{Attributes: genAttrs(c), Group: g}
					}
				}
			}
			r.PruneMemberships = c.IntN(3) == 0
		}
	}
	return w, ops
}

// cloneOps deep-copies ops down to the attribute maps.
func cloneOps(ops []Operation) []Operation {
	if ops == nil {
		return nil
	}
	c := make([]Operation, len(ops))
	for i, op := range ops {
		if op.User != nil {
			u := *op.User
			u.Attributes = maps.Clone(u.Attributes)
			if u.Groups != nil {
				u.Groups = make([]userflow.GroupRequest, len(op.User.Groups))
				for j, g := range op.User.Groups {
					u.Groups[j] = grp(g.ID, maps.Clone(g.Attributes))
				}
			}
			if u.Memberships != nil {
				u.Memberships = make([]userflow.MembershipRequest, len(op.User.Memberships))
				for j, m := range op.User.Memberships {
					u.Memberships[j] = mem(m.Group.ID, maps.Clone(m.Attributes), maps.Clone(m.Group.Attributes))
				}
			}
			op.User = &u
		}
		if op.Group != nil {
			g := grp(op.Group.ID, maps.Clone(op.Group.Attributes))
			op.Group = &g
		}
		c[i] = op
	}
	return c
}
