package mapping

// Format is the wire format of a sync's Kafka values.
type Format string

const (
	FormatDebezium     Format = "debezium"      // Debezium envelope, with or without the JSON converter's schema wrapper
	FormatDebeziumFlat Format = "debezium-flat" // rows flattened by ExtractNewRecordState
	FormatJSON         Format = "json"          // one plain JSON row per message; a tombstone means delete
)

// Object is the kind of Userflow object a sync writes.
type Object string

const (
	ObjectUser  Object = "user"
	ObjectGroup Object = "group"
)

// Mode says whether a sync may create objects.
type Mode string

const (
	ModeUpsert Mode = "upsert" // create new objects, update changed fields
	ModeUpdate Mode = "update" // update existing objects only; never create
)

// OnDelete says what a deleted row does in Userflow.
type OnDelete string

const (
	OnDeleteIgnore OnDelete = "ignore" // count and skip
	OnDeleteDelete OnDelete = "delete" // delete the user or group
)

// NullPolicy says what a null column value does to its attribute.
type NullPolicy string

const (
	NullSkip NullPolicy = "skip" // leave the attribute out, so a null never wipes a value (default)
	NullSend NullPolicy = "send" // send JSON null
)

// ValueType is the Userflow attribute type a column is converted to.
type ValueType string

const (
	TypeAuto     ValueType = ""         // from the schema when there is one, else from the JSON value
	TypeString   ValueType = "string"   // any scalar as its string form
	TypeNumber   ValueType = "number"   // JSON number, or a numeric string
	TypeBoolean  ValueType = "boolean"  // JSON boolean, or "true"/"false", 0/1
	TypeDatetime ValueType = "datetime" // ISO 8601 string out; in: ISO string, or epoch number in Unit
	TypeList     ValueType = "list"     // JSON array of literals (or a JSON-text column holding one)
)

// TimeUnit is the unit of an epoch number read as a datetime without a schema.
type TimeUnit string

const (
	UnitSeconds TimeUnit = "s"
	UnitMillis  TimeUnit = "ms" // default
	UnitMicros  TimeUnit = "us"
	UnitNanos   TimeUnit = "ns"
)

// DefaultUnavailablePlaceholder is Debezium's default
// unavailable.value.placeholder, put in unchanged TOASTed columns.
const DefaultUnavailablePlaceholder = "__debezium_unavailable_value"

// Config is one sync's mapping: how rows of one topic become Userflow users or
// groups. It is decoded from the sync's YAML (see the command's config docs);
// zero values mean the documented defaults. Call Validate, or New, which does.
type Config struct {
	// Format of the Kafka values. Default: debezium.
	Format Format `yaml:"format" json:"format"`
	// Object written by this sync. Required.
	Object Object `yaml:"object" json:"object"`
	// Mode: upsert or update. Default: upsert.
	Mode Mode `yaml:"mode" json:"mode"`
	// IDColumn holds the user or group id. Required.
	IDColumn string `yaml:"id_column" json:"id_column"`
	// Attributes maps Userflow attribute names to columns.
	Attributes map[string]AttributeSpec `yaml:"attributes" json:"attributes"`
	// Groups (users only) adds the user to the group in GroupIDColumn.
	Groups *GroupsConfig `yaml:"groups" json:"groups"`
	// Memberships (users only) adds a membership, with its own attributes,
	// to the group in GroupIDColumn. At most one of Groups and Memberships.
	Memberships *MembershipsConfig `yaml:"memberships" json:"memberships"`
	// PruneMemberships sends prune_memberships: true. Only valid with Groups
	// or Memberships. Default: false.
	PruneMemberships bool `yaml:"prune_memberships" json:"prune_memberships"`
	// OnDelete: ignore or delete. Default: ignore.
	OnDelete OnDelete `yaml:"on_delete" json:"on_delete"`
	// UnavailablePlaceholder is the connector's unavailable.value.placeholder.
	// Default: __debezium_unavailable_value.
	UnavailablePlaceholder string `yaml:"unavailable_value_placeholder" json:"unavailable_value_placeholder"`
}

// GroupsConfig maps a row to the user's groups.
type GroupsConfig struct {
	// GroupIDColumn holds the group id (or a list of group ids). Required.
	GroupIDColumn string `yaml:"group_id_column" json:"group_id_column"`
	// Attributes are the group's attributes.
	Attributes map[string]AttributeSpec `yaml:"attributes" json:"attributes"`
}

// MembershipsConfig maps a row to one of the user's memberships.
type MembershipsConfig struct {
	// GroupIDColumn holds the group id. Required.
	GroupIDColumn string `yaml:"group_id_column" json:"group_id_column"`
	// Attributes are the membership's attributes (such as role).
	Attributes map[string]AttributeSpec `yaml:"attributes" json:"attributes"`
	// GroupAttributes are the group's attributes.
	GroupAttributes map[string]AttributeSpec `yaml:"group_attributes" json:"group_attributes"`
}

// AttributeSpec says which column feeds an attribute and how to read it. In
// YAML it is either a column name (`email: email_address`) or a mapping
// (`signed_up_at: {column: created_at, type: datetime, unit: us, null: send}`).
type AttributeSpec struct {
	Column string     `yaml:"column" json:"column"`
	Type   ValueType  `yaml:"type" json:"type"`
	Unit   TimeUnit   `yaml:"unit" json:"unit"`
	Null   NullPolicy `yaml:"null" json:"null"`
}
