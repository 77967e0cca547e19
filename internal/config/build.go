package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// ConsumerConfig builds the consumer's configuration from c, which must be
// valid (from Parse or Load, or after Validate): a mapping.Mapper per sync,
// and a kafka.Dialer with kafka-go's defaults and c's client id, TLS and
// SASL. It fails only if a TLS file went bad since c was validated.
func (c *Config) ConsumerConfig() (consumer.Config, error) {
	var p problems
	dialer := c.Kafka.dialer(&p)
	syncs := make([]consumer.Sync, len(c.Syncs))
	for i, s := range c.Syncs {
		m, err := mapping.New(s.Mapping)
		p.addSync(i, err)
		syncs[i] = consumer.Sync{Name: s.Name, Topic: s.Topic, Mapper: m}
	}
	if len(p) > 0 {
		return consumer.Config{}, errors.Join(p...)
	}
	return c.consumerConfig(dialer, syncs), nil
}

func (c *Config) consumerConfig(dialer *kafka.Dialer, syncs []consumer.Sync) consumer.Config {
	k := &c.Kafka
	return consumer.Config{
		Brokers:           k.Brokers,
		GroupID:           k.GroupID,
		StartOffset:       k.StartOffset,
		Dialer:            dialer,
		Syncs:             syncs,
		MaxInFlight:       c.Userflow.MaxInFlight,
		BatchMaxEvents:    c.Batch.MaxEvents,
		BatchMaxWait:      c.Batch.MaxWait,
		MaxBuffered:       c.Batch.MaxBuffered,
		MaxBufferedBytes:  c.Batch.MaxBufferedBytes,
		Retry:             c.Retry,
		DeadLetterTopic:   c.DeadLetter.Topic,
		NoDeadLetter:      c.DeadLetter.Policy,
		CommitInterval:    k.CommitInterval,
		DrainTimeout:      c.Shutdown.DrainTimeout,
		HeartbeatInterval: k.HeartbeatInterval,
		SessionTimeout:    k.SessionTimeout,
		RebalanceTimeout:  k.RebalanceTimeout,
		FetchMaxWait:      k.FetchMaxWait,
	}
}

// UserflowClient builds the Userflow client of c, which must be valid: its
// base URL, API key and timeout, and a Limiter of rate_limit and rate_burst.
// With rate_limit 0 the Limiter paces nothing but still holds every request
// back while a 429's wait lasts. Build one per process and share it.
func (c *Config) UserflowClient() (*userflow.Client, error) {
	u := &c.Userflow
	return userflow.NewClient(u.BaseURL, string(u.APIKey),
		userflow.WithTimeout(u.Timeout),
		userflow.WithLimiter(userflow.NewLimiter(u.RateLimit, u.RateBurst)))
}

// dialer builds the Kafka dialer, adding its problems to p.
func (k *Kafka) dialer(p *problems) *kafka.Dialer {
	d := *kafka.DefaultDialer
	d.ClientID = k.ClientID
	d.TLS = k.TLS.config(p)
	d.SASLMechanism = k.SASL.mechanism(p)
	return &d
}

// config builds the TLS config, nil when TLS is off, reading the files named.
func (t *TLS) config(p *problems) *tls.Config {
	if !t.Enabled {
		if *t != (TLS{}) {
			p.add("kafka.tls.enabled", "must be true for the other tls settings to apply")
		}
		return nil
	}
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		cfg.RootCAs = x509.NewCertPool()
		if pem, err := os.ReadFile(t.CAFile); err != nil {
			p.add("kafka.tls.ca_file", "%v", err)
		} else if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			p.add("kafka.tls.ca_file", "no PEM certificate in %s", t.CAFile)
		}
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
	case t.KeyFile == "":
		p.add("kafka.tls.key_file", "required with cert_file")
	case t.CertFile == "":
		p.add("kafka.tls.cert_file", "required with key_file")
	default:
		if cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			p.add("kafka.tls", "client certificate: %v", err)
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg
}

// mechanism builds the SASL mechanism, nil for none.
func (s *SASL) mechanism(p *problems) sasl.Mechanism {
	var algo scram.Algorithm
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" {
			p.add("kafka.sasl.mechanism", "required with a username or password")
		}
		return nil
	case "plain":
	case "scram-sha-256":
		algo = scram.SHA256
	case "scram-sha-512":
		algo = scram.SHA512
	default:
		p.add("kafka.sasl.mechanism", "must be plain, scram-sha-256 or scram-sha-512")
		return nil
	}
	if s.Username == "" {
		p.add("kafka.sasl.username", "required with a mechanism")
	}
	if s.Password == "" {
		p.add("kafka.sasl.password", "required with a mechanism")
	}
	if algo == nil {
		return plain.Mechanism{Username: s.Username, Password: string(s.Password)}
	}
	m, err := scram.Mechanism(algo, s.Username, string(s.Password))
	if err != nil { // its message quotes the password: leave it out
		p.add("kafka.sasl", "the username or password is not valid for SCRAM (SASLprep)")
	}
	return m
}
