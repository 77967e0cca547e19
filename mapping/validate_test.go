package mapping

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// problems returns the messages of Validate's FieldErrors, in order.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate error %T has no Unwrap() []error", err)
	}
	var out []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("problem %T is not a *FieldError: %v", e, e)
		}
		out = append(out, fe.Error())
	}
	return out
}

func TestValidate(t *testing.T) {
	valid := func() Config {
		return Config{Object: ObjectUser, IDColumn: "id", Attributes: map[string]AttributeSpec{"email": {Column: "email"}}}
	}
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"minimal with defaults", valid(), nil},
		{"every value spelled out", Config{
			Format: FormatDebeziumFlat, Object: ObjectUser, Mode: ModeUpdate, IDColumn: "id", OnDelete: OnDeleteDelete,
			UnavailablePlaceholder: "__x", PruneMemberships: true,
			Attributes: map[string]AttributeSpec{
				"signed up": {Column: "created_at", Type: TypeDatetime, Unit: UnitNanos, Null: NullSend},
				"plan-2":    {Column: "plan", Type: TypeString, Null: NullSkip},
			},
			Memberships: &MembershipsConfig{GroupIDColumn: "company_id",
				Attributes:      map[string]AttributeSpec{"role": {Column: "role", Type: TypeList}},
				GroupAttributes: map[string]AttributeSpec{"n": {Column: "n", Type: TypeNumber}, "b": {Column: "b", Type: TypeBoolean}}},
		}, nil},
		{"empty", Config{}, []string{"object: required", "id_column: required"}},
		{"bad enums", Config{Format: "avro", Object: "users", Mode: "create", IDColumn: "id", OnDelete: "purge"}, []string{
			"format: must be debezium, debezium-flat or json",
			"object: must be user or group",
			"mode: must be upsert or update",
			"on_delete: must be ignore or delete",
		}},
		{"attributes", Config{Object: ObjectUser, IDColumn: "id", Attributes: map[string]AttributeSpec{
			"sign up!": {Column: "x"},
			"email":    {},
			"x":        {Column: "x", Type: TypeDatetime, Unit: "days"},
			"y":        {Column: "y", Unit: UnitMicros},
			"z":        {Column: "z", Type: "int", Null: "drop"},
			"":         {Column: "w"},
		}}, []string{
			"attributes.: invalid attribute name",
			"attributes.email.column: required",
			"attributes.sign up!: invalid attribute name",
			"attributes.x.unit: must be s, ms, us or ns",
			"attributes.y.unit: only valid with type datetime",
			"attributes.z.type: must be string, number, boolean, datetime or list",
			"attributes.z.null: must be skip or send",
		}},
		{"groups on a group", Config{Object: ObjectGroup, IDColumn: "id", Groups: &GroupsConfig{}}, []string{
			"groups: only valid for object user",
			"groups.group_id_column: required",
		}},
		{"memberships on a group", Config{Object: ObjectGroup, IDColumn: "id", Memberships: &MembershipsConfig{
			GroupIDColumn:   "c",
			Attributes:      map[string]AttributeSpec{"role": {}},
			GroupAttributes: map[string]AttributeSpec{"name!": {Column: "name"}},
		}}, []string{
			"memberships: only valid for object user",
			"memberships.attributes.role.column: required",
			"memberships.group_attributes.name!: invalid attribute name",
		}},
		{"groups and memberships", Config{Object: ObjectUser, IDColumn: "id",
			Groups:      &GroupsConfig{GroupIDColumn: "c", Attributes: map[string]AttributeSpec{"a": {Column: "a", Type: "text"}}},
			Memberships: &MembershipsConfig{},
		}, []string{
			"groups.attributes.a.type: must be string, number, boolean, datetime or list",
			"memberships.group_id_column: required",
			"groups: set at most one of groups and memberships",
		}},
		{"prune without a list", Config{Object: ObjectUser, IDColumn: "id", PruneMemberships: true}, []string{
			"prune_memberships: requires groups or memberships",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.cfg
			err := c.cfg.Validate()
			if diff := cmp.Diff(c.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, c.cfg); diff != "" {
				t.Errorf("Validate changed the config:\n%s", diff)
			}
			if _, nerr := New(c.cfg); (nerr == nil) != (err == nil) || (err != nil && nerr.Error() != err.Error()) {
				t.Errorf("New: %v, want Validate's %v", nerr, err)
			}
		})
	}
}

// TestFieldErrorPrefix shows how a caller that holds many syncs reports a
// problem.
func TestFieldErrorPrefix(t *testing.T) {
	err := (&Config{Object: ObjectUser}).Validate()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(%v, *FieldError) = false", err)
	}
	prefixed := &FieldError{Path: "syncs[2]." + fe.Path, Problem: fe.Problem}
	if got, want := prefixed.Error(), "syncs[2].id_column: required"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
