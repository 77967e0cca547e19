package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary files to the loader. It must never panic nor
// hang; a file it rejects gets printable problems that never hold the API
// key; a file it accepts renders (Redacted) to a file it accepts again,
// without the key.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kafka: {brokers: [\"${B:-a:1}\"], group_id: g}\nsyncs: [{name: n, topic: t, object: user, id_column: id}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		failure := make(chan string, 1)
		go func() { failure <- checkParse(data) }()
		select {
		case msg := <-failure:
			if msg != "" {
				t.Fatal(msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("still parsing after 5s: %q", data)
		}
	})
}

const fuzzKey = "ak_fuzz_sentinel_key"

func fuzzEnv(name string) (string, bool) {
	switch name {
	case APIKeyEnv:
		return fuzzKey, true
	case "FUZZ_SECRET":
		return "stand-in-secret", true
	}
	return "", false
}

// checkParse returns what is wrong with how Parse handles data, or "".
func checkParse(data []byte) string {
	cfg, err := Parse(data, fuzzEnv)
	if err != nil {
		for _, p := range Problems(err) {
			if p == "" || strings.Contains(p, fuzzKey) {
				return fmt.Sprintf("problem %q is empty or holds the key", p)
			}
		}
		return ""
	}
	out := cfg.Redacted()
	if strings.Contains(out, fuzzKey) {
		return "Redacted holds the key:\n" + out
	}
	// Redacted secrets are not usable: stand others in for them.
	again := strings.ReplaceAll(out, "[REDACTED]", "${FUZZ_SECRET}")
	if _, err := Parse([]byte(again), fuzzEnv); err != nil {
		return fmt.Sprintf("Redacted output does not parse again: %v\n%s", err, again)
	}
	return ""
}
