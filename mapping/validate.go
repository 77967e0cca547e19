package mapping

import (
	"errors"
	"slices"

	"github.com/userflow-sync/userflow-sync/userflow"
)

// FieldError is one problem in a Config. Path is relative to the sync
// ("attributes.email.column"); a caller that holds many syncs prefixes it
// ("syncs[2]." + Path).
type FieldError struct {
	Path    string
	Problem string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Problem }

// withDefaults returns c with the documented defaults in its empty fields.
// Attribute defaults (unit ms, null skip) are applied when New compiles them.
func (c Config) withDefaults() Config {
	if c.Format == "" {
		c.Format = FormatDebezium
	}
	if c.Mode == "" {
		c.Mode = ModeUpsert
	}
	if c.OnDelete == "" {
		c.OnDelete = OnDeleteIgnore
	}
	if c.UnavailablePlaceholder == "" {
		c.UnavailablePlaceholder = DefaultUnavailablePlaceholder
	}
	return c
}

// Validate reports every problem of the config (with its defaults applied)
// at once: nil, or an errors.Join of *FieldError in a stable order. It does
// not change c.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	add := func(path, problem string) { errs = append(errs, &FieldError{Path: path, Problem: problem}) }

	switch d.Format {
	case FormatDebezium, FormatDebeziumFlat, FormatJSON:
	default:
		add("format", "must be debezium, debezium-flat or json")
	}
	switch d.Object {
	case ObjectUser, ObjectGroup:
	case "":
		add("object", "required")
	default:
		add("object", "must be user or group")
	}
	switch d.Mode {
	case ModeUpsert, ModeUpdate:
	default:
		add("mode", "must be upsert or update")
	}
	if d.IDColumn == "" {
		add("id_column", "required")
	}
	validateAttributes("attributes", d.Attributes, add)
	if g := d.Groups; g != nil {
		if d.Object == ObjectGroup {
			add("groups", "only valid for object user")
		}
		if g.GroupIDColumn == "" {
			add("groups.group_id_column", "required")
		}
		validateAttributes("groups.attributes", g.Attributes, add)
	}
	if ms := d.Memberships; ms != nil {
		if d.Object == ObjectGroup {
			add("memberships", "only valid for object user")
		}
		if ms.GroupIDColumn == "" {
			add("memberships.group_id_column", "required")
		}
		validateAttributes("memberships.attributes", ms.Attributes, add)
		validateAttributes("memberships.group_attributes", ms.GroupAttributes, add)
	}
	if d.Groups != nil && d.Memberships != nil {
		add("groups", "set at most one of groups and memberships")
	}
	if d.PruneMemberships && d.Groups == nil && d.Memberships == nil {
		add("prune_memberships", "requires groups or memberships")
	}
	switch d.OnDelete {
	case OnDeleteIgnore, OnDeleteDelete:
	default:
		add("on_delete", "must be ignore or delete")
	}
	return errors.Join(errs...)
}

func validateAttributes(path string, attrs map[string]AttributeSpec, add func(path, problem string)) {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p, a := path+"."+name, attrs[name]
		if !userflow.ValidAttributeName(name) {
			add(p, "invalid attribute name")
		}
		if a.Column == "" {
			add(p+".column", "required")
		}
		switch a.Type {
		case TypeAuto, TypeString, TypeNumber, TypeBoolean, TypeDatetime, TypeList:
		default:
			add(p+".type", "must be string, number, boolean, datetime or list")
		}
		switch a.Unit {
		case "":
		case UnitSeconds, UnitMillis, UnitMicros, UnitNanos:
			if a.Type != TypeDatetime {
				add(p+".unit", "only valid with type datetime")
			}
		default:
			add(p+".unit", "must be s, ms, us or ns")
		}
		switch a.Null {
		case "", NullSkip, NullSend:
		default:
			add(p+".null", "must be skip or send")
		}
	}
}
