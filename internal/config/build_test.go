package config

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

// pki is a CA and a client certificate it signed, as PEM files.
type pki struct {
	ca                                   *x509.Certificate
	caFile, caKeyFile, certFile, keyFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	issue := func(name string, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key, write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	now := time.Now()
	ca, caKey, caFile, caKeyFile := issue("ca", &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	_, _, certFile, keyFile := issue("client", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "userflow-sync"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	return &pki{ca: ca, caFile: caFile, caKeyFile: caKeyFile, certFile: certFile, keyFile: keyFile}
}

func TestConsumerConfig(t *testing.T) {
	c := parse(t, string(readFile(t, "example.yaml")), map[string]string{APIKeyEnv: "ak_x"})
	cc, err := c.ConsumerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.Validate(); err != nil {
		t.Errorf("the consumer refuses its config: %v", err)
	}
	want := consumer.Config{
		Brokers: []string{"127.0.0.1:9092"}, GroupID: "userflow-sync", StartOffset: "earliest",
		MaxInFlight: 16, BatchMaxEvents: 1000, BatchMaxWait: 100 * time.Millisecond, MaxBuffered: 100000, MaxBufferedBytes: 32 << 20,
		Retry:           consumer.RetryConfig{InitialInterval: 200 * time.Millisecond, MaxInterval: 30 * time.Second},
		DeadLetterTopic: "userflow-sync-dlq", CommitInterval: time.Second, DrainTimeout: 10 * time.Second,
		HeartbeatInterval: 3 * time.Second, SessionTimeout: 30 * time.Second, RebalanceTimeout: 30 * time.Second,
		FetchMaxWait: time.Second,
	}
	if diff := cmp.Diff(want, cc, cmpopts.IgnoreFields(consumer.Config{}, "Dialer", "Syncs")); diff != "" {
		t.Errorf("consumer config (-want +got):\n%s", diff)
	}
	if d := cc.Dialer; d.ClientID != "userflow-sync" || d.TLS != nil || d.SASLMechanism != nil || d.Timeout != kafka.DefaultDialer.Timeout {
		t.Errorf("dialer = %+v, want kafka-go's default with client id userflow-sync", d)
	}

	// Each sync has the mapper of its own mapping.
	value := []byte(`{"before": null, "after": {"id": 42, "user_id": 7, "company_id": 3, "role": "admin", "email": "ann@example.com"},
		"op": "c", "source": {"ts_ms": 1716990000000}}`)
	for i, want := range []struct {
		name, topic string
		object      mapping.Object
		id          string
	}{{"users", "pg.public.users", mapping.ObjectUser, "42"}, {"companies", "pg.public.companies", mapping.ObjectGroup, "42"}, {"memberships", "pg.public.memberships", mapping.ObjectUser, "7"}} {
		s := cc.Syncs[i]
		if s.Name != want.name || s.Topic != want.topic {
			t.Errorf("syncs[%d] = %s %s, want %s %s", i, s.Name, s.Topic, want.name, want.topic)
		}
		op, err := s.Mapper.Map(mapping.Message{Value: value})
		if err != nil || op.Action != mapping.ActionUpsert || op.Object != want.object || op.ID != want.id {
			t.Errorf("syncs[%d] maps to %+v, %v; want an upsert of %s %s", i, op, err, want.object, want.id)
		}
	}
}

func TestConsumerConfigTLSAndSASL(t *testing.T) {
	pki := newPKI(t)
	c := parse(t, string(readFile(t, "full.yaml")), map[string]string{
		APIKeyEnv: "ak_x", "CA_FILE": pki.caFile, "CERT_FILE": pki.certFile, "KEY_FILE": pki.keyFile,
	})
	cc, err := c.ConsumerConfig()
	if err != nil {
		t.Fatal(err)
	}
	d := cc.Dialer
	if d.ClientID != "userflow-sync-eu" {
		t.Errorf("client id = %q", d.ClientID)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca)
	switch {
	case d.TLS == nil:
		t.Fatal("no TLS")
	case d.TLS.ServerName != "kafka.internal" || d.TLS.InsecureSkipVerify:
		t.Errorf("TLS server name %q, insecure %v", d.TLS.ServerName, d.TLS.InsecureSkipVerify)
	case !d.TLS.RootCAs.Equal(roots):
		t.Error("TLS roots are not the CA file's")
	case len(d.TLS.Certificates) != 1 || d.TLS.Certificates[0].Leaf.Subject.CommonName != "userflow-sync":
		t.Errorf("TLS client certificates: %d, want the one of cert_file", len(d.TLS.Certificates))
	}
	if d.SASLMechanism == nil || d.SASLMechanism.Name() != "SCRAM-SHA-512" {
		t.Errorf("SASL mechanism %v, want SCRAM-SHA-512", d.SASLMechanism)
	}
	if cc.StartOffset != "latest" || cc.NoDeadLetter != "skip" || cc.DrainTimeout != 20*time.Second || cc.SessionTimeout != 45*time.Second {
		t.Errorf("consumer config %+v does not follow the file", cc)
	}

	c.Kafka.SASL = SASL{Mechanism: "plain", Username: "u", Password: "p"}
	if cc, err = c.ConsumerConfig(); err != nil {
		t.Fatal(err)
	}
	if m, ok := cc.Dialer.SASLMechanism.(plain.Mechanism); !ok || m != (plain.Mechanism{Username: "u", Password: "p"}) {
		t.Errorf("SASL mechanism %#v, want PLAIN u/p", cc.Dialer.SASLMechanism)
	}

	// Files are read when building too.
	if err := os.Remove(pki.caFile); err != nil {
		t.Fatal(err)
	}
	_, err = c.ConsumerConfig()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "kafka.tls.ca_file" {
		t.Errorf("ConsumerConfig with the CA file gone: %v, want a kafka.tls.ca_file problem", err)
	}
}

func TestUserflowClient(t *testing.T) {
	fake := userflowtest.NewServer(userflowtest.Options{APIKey: "ak_fake"})
	defer fake.Close()
	c := parse(t, minimal, nil)
	c.Userflow.BaseURL, c.Userflow.APIKey = fake.URL, "ak_fake"
	client, err := c.UserflowClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	upsert := func() error {
		_, _, err := client.Users.Upsert(ctx, &userflow.UpsertUserRequest{ID: "u1", Attributes: userflow.Attributes{"email": "ann@example.com"}})
		return err
	}
	if err := upsert(); err != nil {
		t.Fatal(err)
	}
	if u, ok := fake.User("u1"); !ok || u.Attributes["email"] != "ann@example.com" {
		t.Errorf("fake has %+v, %v; want user u1 with its email", u, ok)
	}

	// rate_limit is 0, yet the client has a limiter: a 429's wait holds the
	// next request back.
	if err := fake.SetFaults(userflowtest.Faults{RateLimitRate: 1, RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	var rle *userflow.RateLimitError
	if err := upsert(); !errors.As(err, &rle) {
		t.Fatalf("upsert under a 429 fault: %v, want a *userflow.RateLimitError", err)
	}
	if err := fake.SetFaults(userflowtest.Faults{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := upsert(); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("the request after a 429 went out after %v, want the 1s pause", waited)
	}
}
