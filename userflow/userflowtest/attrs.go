package userflowtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// attrOp is one validated attribute value of a request: a literal (op "") or
// an operation such as {"set_once": v}.
type attrOp struct {
	op    string
	value any
}

// opNames are the attribute operations [doc, userflow.js; REST support assumed].
var opNames = []string{"set", "set_once", "add", "subtract", "append", "prepend", "remove"}

// dataTypes are the values data_type may take [assumed from userflow.js]; the
// fake checks the name and otherwise ignores it.
var dataTypes = []string{"string", "number", "boolean", "datetime", "list"}

// parseAttributes validates the attributes of a request at path (such as
// "memberships[0].group.attributes"). Names follow userflow.ValidAttributeName
// [seen]; values are literals [doc] or, when allowOps, operations [doc].
// Names are checked in sorted order so the first error is deterministic.
func parseAttributes(path string, raw map[string]json.RawMessage, allowOps bool) (map[string]attrOp, error) {
	ops := make(map[string]attrOp, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if !userflow.ValidAttributeName(name) {
			return nil, invalidf("%s: invalid attribute name %q (letters, digits, _, - and spaces only)", path, name)
		}
		dec := json.NewDecoder(bytes.NewReader(raw[name]))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, invalidf("%s.%s: %v", path, name, err)
		}
		op, err := parseAttribute(v, allowOps)
		if err != nil {
			return nil, invalidf("%s.%s: %s", path, name, err)
		}
		ops[name] = op
	}
	return ops, nil
}

func parseAttribute(v any, allowOps bool) (attrOp, error) {
	m, isObject := v.(map[string]any)
	switch {
	case isObject && allowOps:
		return parseOperation(m)
	case isLiteral(v):
		return attrOp{value: v}, nil
	case allowOps:
		return attrOp{}, errors.New("must be a string, number, boolean, null, list of literals or an operation")
	default:
		return attrOp{}, errors.New("must be a string, number, boolean, null or list of literals")
	}
}

// parseOperation validates an operation object: exactly one operation key and
// an optional data_type [doc, userflow.js].
func parseOperation(m map[string]any) (attrOp, error) {
	var op attrOp
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch {
		case k == "data_type":
			if s, ok := v.(string); !ok || !slices.Contains(dataTypes, s) {
				return attrOp{}, fmt.Errorf("data_type must be one of %v", dataTypes)
			}
		case slices.Contains(opNames, k):
			if op.op != "" {
				return attrOp{}, fmt.Errorf("operation has both %s and %s", op.op, k)
			}
			op = attrOp{op: k, value: v}
		default:
			return attrOp{}, fmt.Errorf("unknown key %q in operation (want one of %v and optional data_type)", k, opNames)
		}
	}
	var ok bool
	switch op.op {
	case "":
		return attrOp{}, fmt.Errorf("operation needs one of %v", opNames)
	case "set", "set_once":
		ok = isLiteral(op.value)
	case "add", "subtract":
		_, ok = op.value.(json.Number)
	default: // append, prepend, remove
		ok = op.value != nil && isLiteral(op.value)
	}
	if !ok {
		return attrOp{}, fmt.Errorf("invalid value for %s", op.op)
	}
	return op, nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, json.Number, bool:
		return true
	}
	return false
}

// isLiteral reports whether v is an attribute literal: a scalar, null, or a
// list of scalars [doc].
func isLiteral(v any) bool {
	if list, ok := v.([]any); ok {
		return !slices.ContainsFunc(list, func(e any) bool { return !isScalar(e) })
	}
	return v == nil || isScalar(v)
}

// applyAttributes returns a new map with ops applied to cur; cur is not
// changed, so a request that fails half-way leaves the state as it was.
// Stored maps and lists are never changed in place, only replaced.
//
// Semantics [assumed where Userflow does not document them]: a literal and
// set store the value, null included; set_once stores it only when the
// attribute is absent or null; add/subtract treat absent or null as 0 and
// reject a non-number; append/prepend/remove treat absent or null as [] and a
// scalar as a one-element list; remove drops every element equal to one of the
// given values.
func applyAttributes(path string, cur map[string]any, ops map[string]attrOp) (map[string]any, error) {
	next := maps.Clone(cur)
	if next == nil {
		next = make(map[string]any, len(ops))
	}
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		op, old := ops[name], next[name]
		switch op.op {
		case "", "set":
			next[name] = op.value
		case "set_once":
			if old == nil {
				next[name] = op.value
			}
		case "add", "subtract":
			n, err := addNumber(old, op.value.(json.Number), op.op == "subtract")
			if err != nil {
				return nil, invalidf("%s.%s: %s: %s", path, name, op.op, err)
			}
			next[name] = n
		case "append":
			next[name] = concat(asList(old), asList(op.value))
		case "prepend":
			next[name] = concat(asList(op.value), asList(old))
		case "remove":
			drop := asList(op.value)
			next[name] = slices.DeleteFunc(concat(asList(old)), func(e any) bool { return slices.Contains(drop, e) })
		}
	}
	return next, nil
}

// addNumber adds (or subtracts) delta to old, in integers when both are
// integers and in float64 otherwise.
func addNumber(old any, delta json.Number, subtract bool) (json.Number, error) {
	base := json.Number("0")
	switch o := old.(type) {
	case nil:
	case json.Number:
		base = o
	default:
		return "", fmt.Errorf("attribute holds %T, not a number", old)
	}
	a, errA := base.Int64()
	d, errD := delta.Int64()
	if errA == nil && errD == nil {
		if subtract {
			d = -d
		}
		return json.Number(strconv.FormatInt(a+d, 10)), nil
	}
	fa, _ := base.Float64()
	fd, _ := delta.Float64()
	if subtract {
		fd = -fd
	}
	sum := fa + fd
	if math.IsInf(sum, 0) || math.IsNaN(sum) {
		return "", fmt.Errorf("result out of range")
	}
	return json.Number(strconv.FormatFloat(sum, 'g', -1, 64)), nil
}

func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

// concat returns a new, non-nil list holding the elements of lists in order.
func concat(lists ...[]any) []any {
	out := []any{}
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// cloneAttributes deep-copies attributes; lists are the only nested values.
func cloneAttributes(attrs map[string]any) map[string]any {
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if list, ok := v.([]any); ok {
			v = slices.Clone(list)
		}
		out[k] = v
	}
	return out
}
