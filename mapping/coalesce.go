package mapping

import (
	"maps"
	"time"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// Coalesce folds the operations of one target (same Object and ID), given in
// offset order, into fewer operations with the same final effect: applying
// the result in order leaves Userflow's users, groups and memberships exactly
// as applying ops in order would, whatever state they started in. It is the
// consumer's per-key batching step; see docs/coalescing.md.
//
// Coalesce never modifies ops or anything they point to. The result is a new
// slice (nil when nothing is left to do), or ops itself when ops is a single
// non-skip operation. Operations it did not change keep their requests, and
// the requests it built share attribute values, and shrunk ones their list,
// with the input: treat the result as read-only.
//
// Rules, applied from the oldest operation to the newest:
//
//   - Skips carry no request and are dropped.
//   - Two adjacent upserts of the same Mode become one request: attributes
//     merged, later values winning, a later nil included (this assumes that
//     Userflow stores or clears a null, not that it ignores it). Groups or
//     Memberships lists merge by group id, in order of first appearance, with
//     the entry's attributes (and a membership's group attributes) merged
//     later-wins. A list and no list merge: the list rides along.
//   - Upserts of different Modes are never merged: in ModeUpdate a request
//     does nothing when the object is missing, in ModeUpsert it creates it.
//   - A Groups list and a Memberships list are never put in one request
//     (Userflow rejects that): the two upserts stay as they are.
//   - prune_memberships declares the list to be all of the user's groups.
//     Merged, one request would declare the union, so two lists merge only
//     when each pruning list already names every group id of the other. A
//     later prune list must cover the earlier list, or the earlier list's
//     memberships outside it would survive. An earlier prune list must cover
//     the later list, or the later list re-adds memberships the prune had
//     removed, with fresh attributes, which one request cannot express. The
//     merged request prunes if either did.
//   - Deletes are not bound to a Mode. A delete absorbs the deletes and
//     upserts before it: the user's attributes and memberships die with it,
//     so an upsert before it shrinks to its Groups or Memberships list
//     (created and updated groups outlive the user), or vanishes if it has
//     none; group upserts always vanish. The surviving lists then merge as
//     above. A surviving ModeUpdate upsert applies only if the user exists
//     at that point, so the ModeUpsert upserts before it stay, shrunk to
//     creating the user.
//   - A ModeUpdate upsert right after a delete is dropped: update mode never
//     creates, so it would find nothing to update. A ModeUpsert upsert after
//     a delete stays after it.
//   - A merged operation carries the latest SourceTime of the operations it
//     stands for; a merged delete is a Tombstone only if all its deletes were.
//
// Cost: the result slice, grown as needed, and per merged request a new
// request with its maps and list, built on the first merge and written to by
// the next ones. List entries are matched by linear search, quadratic in the
// number of groups a request names, which is meant to be small.
func Coalesce(ops []Operation) []Operation {
	if len(ops) == 1 && ops[0].Action != ActionSkip {
		return ops
	}
	var c Coalescer
	for _, op := range ops {
		c.Add(op)
	}
	return c.out
}

// Coalescer is Coalesce one operation at a time, for a caller that gets a
// target's operations one by one and wants to hold only their result: after
// Add of each operation of ops, in order, Ops returns what Coalesce(ops)
// returns. The zero value is empty and ready to use; it is not safe for
// concurrent use.
//
// Like Coalesce, it never modifies the operations added or anything they
// point to, but it writes to the requests it built: the result of Ops is
// valid until the next Add, which may change it. A caller that hands the
// result on starts a new Coalescer for what comes next.
//
// Cost: merging an upsert copies the request it merges into once, on the
// first merge; the following merges write to that copy. Coalesce of n
// operations and n Adds do the same work.
type Coalescer struct {
	out []Operation
	// owned says that the last operation's request was built by the
	// coalescer, maps and lists included, so merges may write to it.
	owned bool
}

// Add folds op, the next operation of the target in offset order, into the
// result. Skips are dropped.
func (c *Coalescer) Add(op Operation) {
	switch op.Action {
	case ActionUpsert:
		c.upsert(op)
	case ActionDelete:
		c.delete(op)
	}
}

// Ops returns the operations added so far, coalesced: nil when nothing is
// left to do. Treat it as read-only; it is valid until the next Add.
func (c *Coalescer) Ops() []Operation { return c.out }

// upsert appends upsert x, or merges it into the last operation.
func (c *Coalescer) upsert(x Operation) {
	if n := len(c.out); n > 0 {
		last := &c.out[n-1]
		switch {
		case last.Action == ActionDelete && x.Mode == ModeUpdate:
			last.SourceTime = latest(last.SourceTime, x.SourceTime)
			return
		case last.Action == ActionUpsert && last.Mode == x.Mode && c.merge(last, &x):
			last.SourceTime = latest(last.SourceTime, x.SourceTime)
			return
		}
	}
	c.out = append(c.out, x)
	c.owned = false
}

// merge merges the request of upsert x into that of upsert last when one
// request can say both, and reports whether it did. The first merge into
// last replaces its request with a copy the coalescer owns.
func (c *Coalescer) merge(last, x *Operation) bool {
	if last.Object == ObjectGroup {
		if !c.owned {
			g := &userflow.GroupRequest{ID: last.Group.ID}
			mergeAttrs(&g.Attributes, last.Group.Attributes)
			last.Group = g
		}
		mergeAttrs(&last.Group.Attributes, x.Group.Attributes)
	} else {
		if !combinable(last.User, x.User) {
			return false
		}
		if !c.owned {
			u := &userflow.UpsertUserRequest{ID: last.User.ID}
			mergeUser(u, last.User)
			last.User = u
		}
		mergeUser(last.User, x.User)
	}
	c.owned = true
	return true
}

// delete appends delete x after folding into it the operations it makes
// pointless, and shrinking the upserts before it with groupEffects.
//
// Whether a ModeUpdate upsert applies depends on the user existing at that
// point. In c.out that is settled by the last ModeUpsert upsert before it, or
// by the state before all of c.out, never by a delete: upsert drops a
// ModeUpdate upsert that directly follows a delete. So the ModeUpsert
// upserts before s, the last ModeUpdate upsert that survives, stay even when
// shrunk to creating the user; all deletes and all other upserts left with
// nothing to send go.
func (c *Coalescer) delete(x Operation) {
	s := len(c.out) - 1
	for s >= 0 && !(c.out[s].Mode == ModeUpdate && outlivesDelete(&c.out[s])) {
		s--
	}
	// Rebuilt in place: each operation is read before anything is written
	// over it, as each one adds at most one.
	before := c.out
	c.out, c.owned = c.out[:0], false
	for i, o := range before {
		if o.Action == ActionUpsert && (outlivesDelete(&o) || i < s && o.Mode == ModeUpsert) {
			c.upsert(groupEffects(o))
			continue
		}
		if o.Action == ActionDelete {
			x.Tombstone = x.Tombstone && o.Tombstone
		}
		x.SourceTime = latest(x.SourceTime, o.SourceTime)
	}
	c.out = append(c.out, x)
}

// outlivesDelete reports whether o is a user upsert that names groups: the
// groups it creates and updates survive the user's deletion.
func outlivesDelete(o *Operation) bool {
	return o.Action == ActionUpsert && o.Object == ObjectUser &&
		len(o.User.Groups)+len(o.User.Memberships) > 0
}

// groupEffects returns user upsert o reduced to what matters before a later
// delete of the user: its list, which creates and updates groups, and its
// Mode, which may create the user. Its attributes and prune_memberships only
// change the user and its memberships, which the delete removes (membership
// attributes are kept: harmless, and sharing the list costs nothing).
func groupEffects(o Operation) Operation {
	if r := o.User; len(r.Attributes) > 0 || r.PruneMemberships {
		o.User = &userflow.UpsertUserRequest{ID: r.ID, Groups: r.Groups, Memberships: r.Memberships}
	}
	return o
}

// lists says which of a user request's lists are set.
type lists uint8

const (
	groupsList lists = 1 << iota
	membershipsList
)

func listsOf(r *userflow.UpsertUserRequest) lists {
	var l lists
	if r.Groups != nil {
		l |= groupsList
	}
	if r.Memberships != nil {
		l |= membershipsList
	}
	return l
}

// prunes reports whether r prunes memberships: the flag only counts with a
// list, as it is only sent with one.
func prunes(r *userflow.UpsertUserRequest) bool {
	return r.PruneMemberships && listsOf(r) != 0
}

// combinable reports whether user upserts a then b can be sent as one
// request with the same effect (see Coalesce for the prune rule).
func combinable(a, b *userflow.UpsertUserRequest) bool {
	la, lb := listsOf(a), listsOf(b)
	switch {
	case la|lb == groupsList|membershipsList:
		return false
	case la == 0 || lb == 0:
		return true
	case la == groupsList:
		return pruneSafe(a, b, a.Groups, b.Groups, groupID)
	default:
		return pruneSafe(a, b, a.Memberships, b.Memberships, membershipID)
	}
}

// pruneSafe reports whether lists la of a and lb of b can merge: each list
// that prunes names every group id of the other.
func pruneSafe[E any](a, b *userflow.UpsertUserRequest, la, lb []E, id func(*E) string) bool {
	return (!a.PruneMemberships || covers(la, lb, id)) && (!b.PruneMemberships || covers(lb, la, id))
}

// mergeUser merges src into dst, which the coalescer owns.
func mergeUser(dst, src *userflow.UpsertUserRequest) {
	mergeAttrs(&dst.Attributes, src.Attributes)
	dst.Groups = mergeList(dst.Groups, src.Groups, groupID, mergeGroup)
	dst.Memberships = mergeList(dst.Memberships, src.Memberships, membershipID, mergeMembership)
	dst.PruneMemberships = dst.PruneMemberships || prunes(src)
}

// mergeList merges the entries of src into dst by group id: an entry whose
// id dst holds is merged into it, later values winning; others are appended.
// dst keeps a non-nil src's "set" even when both are empty. New entries are
// built by merging into a zero entry, so dst never shares a map with src.
func mergeList[E any](dst, src []E, id func(*E) string, merge func(dst, src *E)) []E {
	if dst == nil && src != nil {
		dst = make([]E, 0, len(src))
	}
	for i := range src {
		j := index(dst, id(&src[i]), id)
		if j < 0 {
			var zero E
			j, dst = len(dst), append(dst, zero)
		}
		merge(&dst[j], &src[i])
	}
	return dst
}

func mergeGroup(dst, src *userflow.GroupRequest) {
	dst.ID = src.ID
	mergeAttrs(&dst.Attributes, src.Attributes)
}

func mergeMembership(dst, src *userflow.MembershipRequest) {
	mergeAttrs(&dst.Attributes, src.Attributes)
	mergeGroup(&dst.Group, &src.Group)
}

func groupID(g *userflow.GroupRequest) string           { return g.ID }
func membershipID(m *userflow.MembershipRequest) string { return m.Group.ID }

// index returns the position of the entry with group id in list, or -1.
func index[E any](list []E, id string, idOf func(*E) string) int {
	for i := range list {
		if idOf(&list[i]) == id {
			return i
		}
	}
	return -1
}

// covers reports whether list names every group id that sub names.
func covers[E any](list, sub []E, id func(*E) string) bool {
	for i := range sub {
		if index(list, id(&sub[i]), id) < 0 {
			return false
		}
	}
	return true
}

// mergeAttrs copies src into *dst, later values winning, and allocates *dst
// when src has something to copy and *dst is nil.
func mergeAttrs(dst *userflow.Attributes, src userflow.Attributes) {
	if len(src) == 0 {
		return
	}
	if *dst == nil {
		*dst = make(userflow.Attributes, len(src))
	}
	maps.Copy(*dst, src)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
