package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		vars     map[string]string
		want     string
	}{
		{"set", "a: ${A}\n", map[string]string{"A": "x"}, "a: x\n"},
		{"set and empty", "a: '${A}'", map[string]string{"A": ""}, "a: ''"},
		{"default when unset", "a: ${A:-d e}", nil, "a: d e"},
		{"default when empty", "a: ${A:-d}", map[string]string{"A": ""}, "a: d"},
		{"set over default", "a: ${A:-d}", map[string]string{"A": "x"}, "a: x"},
		{"empty default", "a: '${A:-}'", nil, "a: ''"},
		{"several on a line", "a: ${A}-${B}${A}", map[string]string{"A": "x", "B": "y"}, "a: x-yx"},
		{"escape", "p: pa$$word $${A} $$$${A}", nil, "p: pa$word ${A} $${A}"},
		{"lone dollars", "p: $A $ a$\nq: $", nil, "p: $A $ a$\nq: $"},
		{"comment lines kept", "  # ${UNSET}\n#${UNSET}\na: 1 # ${A}\n", map[string]string{"A": "x"}, "  # ${UNSET}\n#${UNSET}\na: 1 # x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expand([]byte(tc.in), env(tc.vars))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestExpandProblems(t *testing.T) {
	in := "a: ${NOPE}\nb: ${A}\nc: ${ALSO_NOPE:-}${X Y:-z} ${}\nd: ${OPEN\ne: ${NOPE_AGAIN}"
	_, err := expand([]byte(in), env(map[string]string{"A": "x"}))
	wantProblems(t, err,
		"line 1: environment variable NOPE is not set",
		"line 3: ${X Y}: not a variable name",
		"line 3: ${}: not a variable name",
		"line 4: ${ without a closing }",
		"line 5: environment variable NOPE_AGAIN is not set",
	)
}

// An unset variable stops Parse before decoding: the text would be wrong.
func TestParseUnsetVariable(t *testing.T) {
	_, err := Parse(readFile(t, "example.yaml"), env(nil))
	wantProblems(t, err, "line 9: environment variable USERFLOW_API_KEY is not set")
}

func TestUnknownKeys(t *testing.T) {
	_, err := Parse([]byte(`
kafka:
  brokers: ["127.0.0.1:9092"]
  group_id: g
  tls: {enabled: true, verify: false}
userflow: {api_key: k}
dead_letter: {policy: skip}
metric: {listen: ""}
syncs:
  - name: users
    topic: t
    object: user
    id_column: id
    id_colum: id
    attributes:
      email: {column: email, kind: string}
    memberships:
      group_id_column: company_id
      role: role
`), env(nil))
	wantProblems(t, err,
		"line 5: kafka.tls.verify: unknown key",
		"line 8: metric: unknown key",
		"line 14: syncs[0].id_colum: unknown key",
		"line 16: syncs[0].attributes.email.kind: unknown key",
		"line 19: syncs[0].memberships.role: unknown key",
	)
}

func TestBadValues(t *testing.T) {
	_, err := Parse([]byte(`
kafka: {brokers: "127.0.0.1:9092", group_id: [g], session_timeout: 30}
userflow: {api_key: k, max_in_flight: many, rate_limit: fast, timeout: 1 minute}
batch:
  max_wait:
    - 100ms
retry: [200ms]
dead_letter: {policy: skip}
syncs:
  - {name: users, topic: t, object: user, id_column: id, prune_memberships: "sometimes, please"}
  - name: [companies]
    attributes: {email: [a], plan: {column: [b]}}
    groups: g
`), env(nil))
	wantProblems(t, err,
		`line 2: kafka.brokers: "127.0.0.1:9092" is not a list`,
		`line 2: kafka.group_id: a list is not a string`,
		`line 2: kafka.session_timeout: "30" is not a duration such as 100ms or 10s`,
		`line 3: userflow.max_in_flight: "many" is not an integer`,
		`line 3: userflow.rate_limit: "fast" is not a number`,
		`line 3: userflow.timeout: "1 minute" is not a duration such as 100ms or 10s`,
		`line 6: batch.max_wait: a list is not a duration such as 100ms or 10s`,
		`line 7: retry: a list is not a mapping`,
		`line 10: syncs[0].prune_memberships: "sometimes, please" is not true or false`,
		`line 11: syncs[1].name: a list is not a string`,
		`line 12: syncs[1].attributes.email: a list is not a column name or a mapping of column, type, unit and null`,
		`line 12: syncs[1].attributes.plan.column: a list is not a string`,
		`line 13: syncs[1].groups: "g" is not a mapping`,
		// Validate's, after the text's: the bad values were left out.
		`kafka.brokers: required`,
		`kafka.group_id: required`,
		`syncs[1].name: required`,
		`syncs[1].topic: required`,
		`syncs[1].object: required`,
		`syncs[1].id_column: required`,
		`syncs[1].groups.group_id_column: required`,
	)
}

func TestParseNotYAML(t *testing.T) {
	for name, text := range map[string]string{
		"syntax":      "kafka: {brokers: [a\n",
		"indentation": "kafka:\n  brokers: []\n group_id: g\n",
		"two docs":    minimal + "---\n" + minimal,
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(text), env(nil))
			var fe *FieldError
			if c != nil || err == nil || errors.As(err, &fe) {
				t.Fatalf("Parse = %v, %v; want nil and one error that is not a *FieldError", c, err)
			}
			if len(Problems(err)) != 1 {
				t.Errorf("problems: %q, want one", Problems(err))
			}
		})
	}
}

// An empty file is a config with nothing set: Validate says what is missing.
func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "# nothing yet\n", "---\n"} {
		_, err := Parse([]byte(text), env(nil))
		wantProblems(t, err,
			"kafka.brokers: required",
			"kafka.group_id: required",
			"userflow.api_key: required (set it, or USERFLOW_API_KEY)",
			"dead_letter: set a topic, or policy: skip or stop",
			"syncs: at least one is required",
		)
	}
}

func TestAPIKeyFallback(t *testing.T) {
	noKey := strings.Replace(minimal, "userflow: {api_key: ak_minimal}", "userflow: {}", 1)
	emptyKey := strings.Replace(minimal, "api_key: ak_minimal", `api_key: ""`, 1)
	for _, tc := range []struct {
		name, text string
		vars       map[string]string
		want       Secret
	}{
		{"absent: the environment's", noKey, map[string]string{APIKeyEnv: "ak_env"}, "ak_env"},
		{"empty: the environment's", emptyKey, map[string]string{APIKeyEnv: "ak_env"}, "ak_env"},
		{"set: the file's", minimal, map[string]string{APIKeyEnv: "ak_env"}, "ak_minimal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parse(t, tc.text, tc.vars).Userflow.APIKey; got != tc.want {
				t.Errorf("api_key = %q, want %q", string(got), string(tc.want))
			}
		})
	}
	_, err := Parse([]byte(noKey), env(map[string]string{APIKeyEnv: ""}))
	wantProblems(t, err, "userflow.api_key: required (set it, or USERFLOW_API_KEY)")
}

// Redacted is the effective config: parsed again, it gives the same config,
// secrets apart.
func TestRedactedRoundTrip(t *testing.T) {
	pki := newPKI(t)
	vars := map[string]string{APIKeyEnv: "ak_x", "CA_FILE": pki.caFile, "CERT_FILE": pki.certFile, "KEY_FILE": pki.keyFile}
	for _, name := range []string{"example.yaml", "full.yaml"} {
		t.Run(name, func(t *testing.T) {
			c := parse(t, string(readFile(t, name)), vars)
			again := parse(t, c.Redacted(), nil)
			if again.Userflow.APIKey != redacted {
				t.Errorf("api_key printed as %q", string(again.Userflow.APIKey))
			}
			again.Userflow.APIKey, again.Kafka.SASL.Password = c.Userflow.APIKey, c.Kafka.SASL.Password
			if diff := cmp.Diff(c, again); diff != "" {
				t.Errorf("Redacted, parsed again (-want +got):\n%s\n%s", diff, c.Redacted())
			}
		})
	}
}

func TestRedactedExample(t *testing.T) {
	got := parse(t, string(readFile(t, "example.yaml")), map[string]string{APIKeyEnv: "ak_x"}).Redacted()
	for _, want := range []string{
		"  api_key: '[REDACTED]'\n",
		"    password: \"\"\n",
		"  listen: 127.0.0.1:9464\n",
		"      email: email\n",
		"      signed_up_at: {column: created_at, type: datetime}\n",
		"    memberships:\n      group_id_column: company_id\n      attributes:\n        role: role\n    prune_memberships: false\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Redacted lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "null") || strings.Contains(got, "{}") {
		t.Errorf("Redacted keeps empty keys of the syncs:\n%s", got)
	}
}
