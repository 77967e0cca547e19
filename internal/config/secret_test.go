package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const sentinel = "SENTINEL_c0ffee"

// noSentinel fails the test if the output of what shows the sentinel.
func noSentinel(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, sentinel) {
		t.Errorf("%s shows a secret: %s", what, out)
	}
}

func TestSecretPrinting(t *testing.T) {
	s := Secret("ak_" + sentinel)
	for _, out := range []string{
		s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintf("%s|%v|%+v|%#v|%q|%x|%10.3s", s, s, s, s, s, s, s),
	} {
		if out != redacted && !strings.HasPrefix(out, redacted+"|") {
			t.Errorf("Secret printed as %q", out)
		}
	}
	if got := fmt.Sprintf("%v|%#v|%s", Secret(""), Secret(""), Secret("").String()); got != "||" {
		t.Errorf("an empty Secret printed as %q, want empty", got)
	}
	j, _ := json.Marshal(map[string]Secret{"k": s, "empty": ""})
	y, _ := yaml.Marshal(map[string]Secret{"k": s})
	if string(j) != `{"empty":"","k":"[REDACTED]"}` || string(y) != "k: '[REDACTED]'\n" {
		t.Errorf("Secret marshalled as JSON %s, YAML %s", j, y)
	}
}

// The API key and the SASL password never show: not through fmt, JSON,
// YAML, Redacted or the client, nor in any error.
func TestSecretsNeverPrinted(t *testing.T) {
	pki := newPKI(t)
	c := parse(t, string(readFile(t, "full.yaml")), map[string]string{
		APIKeyEnv: "ak_" + sentinel, "KAFKA_PASSWORD": "pw_" + sentinel,
		"CA_FILE": pki.caFile, "CERT_FILE": pki.certFile, "KEY_FILE": pki.keyFile,
	})
	if !strings.Contains(string(c.Userflow.APIKey)+string(c.Kafka.SASL.Password), sentinel+"pw_"+sentinel) {
		t.Fatal("the secrets did not reach the config")
	}
	noSentinel(t, "fmt", fmt.Sprintf("%v %+v %#v %v %+v %#v", c, c, c, *c, *c, *c))
	noSentinel(t, "fmt of a section", fmt.Sprintf("%v %+v %#v %#v", c.Userflow, c.Kafka, c.Kafka.SASL, c.Userflow.APIKey))
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	noSentinel(t, "JSON", string(j))
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	noSentinel(t, "YAML", string(y))
	noSentinel(t, "Redacted", c.Redacted())
	client, err := c.UserflowClient()
	if err != nil {
		t.Fatal(err)
	}
	noSentinel(t, "the client", fmt.Sprintf("%v %+v %#v %s", client, client, client, client))

	// Secrets that are wrong, next to other problems.
	for name, text := range map[string]string{
		"bad key and password": `
kafka:
  brokers: [kafka]
  sasl: {mechanism: scram-sha-256, username: u, password: "\a` + sentinel + `"}
userflow: {api_key: "ak ` + sentinel + `", timeout: soon}
`,
		"secrets of the wrong type": `
kafka: {sasl: {password: [` + sentinel + `]}}
userflow: {api_key: {` + sentinel + `: 1}}
`,
		"unknown key": `
userflow: {api_key: ak_` + sentinel + `, api_kee: ak_` + sentinel + `}
`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(text), env(nil))
			if err == nil {
				t.Fatal("no problems")
			}
			noSentinel(t, "Parse's error", err.Error())
		})
	}
	c.Userflow.APIKey = "ak " + sentinel
	c.Kafka.SASL.Password = "\a" + sentinel
	for _, err := range []error{c.Validate(), func() error { _, err := c.UserflowClient(); return err }(), func() error { _, err := c.ConsumerConfig(); return err }()} {
		if err == nil {
			t.Fatal("a bad secret is not a problem")
		}
		noSentinel(t, "an error", err.Error())
	}
}
