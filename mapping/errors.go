package mapping

// Every error Map returns is a *DecodeError or a *MappingError, and every one
// is permanent: the same message fails the same way every time, so the
// consumer dead-letters it instead of retrying.

// DecodeError reports a message that is not what its format promises: bad
// JSON, a value that is not an object, a missing envelope part, a bad schema.
type DecodeError struct {
	// Field is where decoding failed: "value", "key", "after", "op",
	// "schema", ...
	Field string
	Err   error
}

func (e *DecodeError) Error() string { return "mapping: decode " + e.Field + ": " + e.Err.Error() }

func (e *DecodeError) Unwrap() error { return e.Err }

// MappingError reports a well-formed event that cannot be mapped: a missing
// or unusable id, a column value of the wrong type, an unknown op, a bad
// decimal.
type MappingError struct {
	// Field is the path of the offending value in the event, such as
	// "after.created_at", "before.id", "key.id", "value.plan" (flattened and
	// plain rows) or "op".
	Field string
	// Column is the column whose value failed, empty when the problem is not
	// a column's (an unknown op).
	Column string
	Err    error
}

func (e *MappingError) Error() string { return "mapping: " + e.Field + ": " + e.Err.Error() }

func (e *MappingError) Unwrap() error { return e.Err }
