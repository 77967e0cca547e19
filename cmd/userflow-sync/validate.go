package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/userflow-sync/userflow-sync/internal/config"
	"github.com/userflow-sync/userflow-sync/userflow"
)

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate --config FILE", "Check the configuration and exit 0, or print every problem with its path and exit 3.", stderr)
	path := fs.String("config", "", "configuration file (required)")
	remote := fs.Bool("remote", false, "also check the API key against Userflow, and that the brokers and topics are reachable")
	print := fs.Bool("print", false, "print the effective configuration, defaults applied and secrets redacted")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *print {
		fmt.Fprint(stdout, cfg.Redacted())
	}
	if *remote {
		if err := checkRemote(ctx, cfg, stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "configuration OK: %d syncs\n", len(cfg.Syncs))
	return nil
}

// checkRemote checks what only the outside world can tell: that Userflow
// accepts the API key, and that the brokers answer and hold every topic the
// config names. It reports every problem it finds.
func checkRemote(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	client, err := cfg.UserflowClient()
	if err != nil {
		return configError{err}
	}
	_, _, err = client.Users.Get(ctx, readinessProbeID)
	switch {
	case err == nil, userflow.IsNotFound(err):
		fmt.Fprintln(stdout, "userflow: reachable, API key accepted")
	case userflow.IsAuthError(err):
		errs = append(errs, fmt.Errorf("userflow: the API key was rejected: %w", err))
	default:
		errs = append(errs, fmt.Errorf("userflow: %w", err))
	}

	ccfg, err := cfg.ConsumerConfig()
	if err != nil {
		return configError{err}
	}
	dialer := ccfg.Dialer
	if dialer == nil {
		dialer = kafka.DefaultDialer
	}
	topics := []string{}
	for _, s := range ccfg.Syncs {
		topics = append(topics, s.Topic)
	}
	if ccfg.DeadLetterTopic != "" {
		topics = append(topics, ccfg.DeadLetterTopic)
	}
	if err := checkKafka(ctx, dialer, ccfg.Brokers, topics, stdout); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkKafka(ctx context.Context, dialer *kafka.Dialer, brokers, topics []string, stdout io.Writer) error {
	var conn *kafka.Conn
	var errs []error
	for _, b := range brokers {
		c, err := dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, fmt.Errorf("kafka: broker %s: %w", b, err))
			continue
		}
		conn = c
		break
	}
	if conn == nil {
		return errors.Join(errs...)
	}
	defer conn.Close()
	fmt.Fprintf(stdout, "kafka: connected to %s\n", net.JoinHostPort(conn.RemoteAddr().(*net.TCPAddr).IP.String(), strconv.Itoa(conn.RemoteAddr().(*net.TCPAddr).Port)))
	errs = nil
	for _, topic := range topics {
		parts, err := conn.ReadPartitions(topic)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("kafka: topic %s: %w", topic, err))
		case len(parts) == 0:
			errs = append(errs, fmt.Errorf("kafka: topic %s: not found", topic))
		default:
			fmt.Fprintf(stdout, "kafka: topic %s: %d partitions\n", topic, len(parts))
		}
	}
	return errors.Join(errs...)
}
