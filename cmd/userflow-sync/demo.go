package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/userflow-sync/userflow-sync/consumer"
	"github.com/userflow-sync/userflow-sync/internal/config"
	"github.com/userflow-sync/userflow-sync/userflow/userflowtest"
)

//go:embed demo.yaml
var demoConfig []byte

// demoTimeout bounds the demo: it normally ends in a few seconds.
const demoTimeout = 60 * time.Second

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "A 10-second tour: an in-process Kafka broker (kfake) and the fake Userflow, sample\n"+
		"Debezium events for users, companies and memberships (updates, deletes, poison events),\n"+
		"the real pipeline, live progress and a summary. Needs nothing but this binary.", stderr)
	level := fs.String("log-level", "error", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level, "console")
	if err != nil {
		return usageError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	start := time.Now()

	fake := userflowtest.NewServer(userflowtest.Options{APIKey: "ak_demo_not_a_real_key"})
	defer fake.Close()
	cfg, err := config.Parse(demoConfig, func(name string) (string, bool) {
		switch name {
		case "DEMO_USERFLOW_URL":
			return fake.URL, true
		case "DEMO_BROKERS":
			return "127.0.0.1:0", true // replaced below, once the broker listens
		}
		return "", false
	})
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	topics := map[string]int32{}
	for _, s := range cfg.Syncs {
		topics[s.Topic] = 3
	}
	topics[cfg.DeadLetter.Topic] = 1
	cluster, err := startBroker(topics)
	if err != nil {
		return err
	}
	defer cluster.Close()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	fmt.Fprintf(stdout, "userflow-sync demo\n  kafka (in-process kfake): %s\n  userflow (fake):          %s\n\n", strings.Join(cfg.Kafka.Brokers, ","), fake.URL)

	data := newDemoData(start)
	if err := produceDemo(ctx, cfg, data); err != nil {
		return err
	}
	total := int64(len(data.companies) + len(data.users) + len(data.memberships))
	fmt.Fprintf(stdout, "produced %d change events (%d companies, %d users, %d memberships, 2 of them poison)\n",
		total, len(data.companies), len(data.users), len(data.memberships))

	p, err := newPipeline(cfg, log)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- p.run(runCtx) }()
	if err := demoProgress(ctx, stdout, p.consumer, total, done); err != nil {
		stop()
		<-done
		return err
	}
	stop()
	if err := <-done; err != nil {
		return err
	}

	st, state := p.consumer.Stats(), fake.State()
	requests := len(fake.Requests())
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(stdout)
	rows := []struct {
		name string
		n    any
	}{
		{"events read", st.EventsRead},
		{"requests sent to Userflow", requests},
		{"events coalesced into other requests", st.Coalesced},
		{"events skipped (no mapped change, truncate...)", sum(st.Skipped)},
		{"events dead-lettered", st.DeadLettered},
		{"users in Userflow", len(state.Users)},
		{"companies in Userflow", len(state.Groups)},
		{"memberships in Userflow", len(state.Memberships)},
		{"offset commits", st.Commits},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%v\t\n", r.name, r.n)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndone in %v: %.1f events per request sent\n", time.Since(start).Round(10*time.Millisecond), float64(st.EventsRead)/float64(max(requests, 1)))

	dead, err := readDeadLetters(ctx, cfg.Kafka.Brokers, cfg.DeadLetter.Topic, int(st.DeadLettered))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndead letters in %s (original record + reason headers):\n", cfg.DeadLetter.Topic)
	for _, m := range dead {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		fmt.Fprintf(stdout, "  %s/%s@%s  %s: %s\n", h[consumer.HeaderSourceTopic], h[consumer.HeaderSourcePartition],
			h[consumer.HeaderSourceOffset], h[consumer.HeaderErrorClass], h[consumer.HeaderError])
	}

	var problems []string
	check := func(what string, got, want int) {
		if got != want {
			problems = append(problems, fmt.Sprintf("%s: %d, want %d", what, got, want))
		}
	}
	check("users", len(state.Users), data.wantUsers)
	check("companies", len(state.Groups), data.wantGroups)
	check("memberships", len(state.Memberships), data.wantMemberships)
	check("dead letters", int(st.DeadLettered), data.wantDeadLetters)
	if len(problems) > 0 {
		return errors.New("demo result is wrong: " + strings.Join(problems, "; "))
	}
	return nil
}

// readDeadLetters reads the first n records of the dead-letter topic's
// first partition (the demo's has one).
func readDeadLetters(ctx context.Context, brokers []string, topic string, n int) ([]kafka.Message, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	out := make([]kafka.Message, 0, n)
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading dead letters: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// startBroker starts an in-process Kafka cluster on a free loopback port.
func startBroker(topics map[string]int32) (*kfake.Cluster, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	for t, n := range topics {
		opts = append(opts, kfake.SeedTopics(n, t))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the in-process broker: %w", err)
	}
	return c, nil
}

func produceDemo(ctx context.Context, cfg *config.Config, d demoData) error {
	byName := map[string][]kafka.Message{"companies": d.companies, "users": d.users, "memberships": d.memberships}
	for _, s := range cfg.Syncs {
		w := &kafka.Writer{
			Addr: kafka.TCP(cfg.Kafka.Brokers...), Topic: s.Topic, Balancer: &kafka.Hash{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
			Transport: &kafka.Transport{MetadataTTL: time.Second},
		}
		err := w.WriteMessages(ctx, byName[s.Name]...)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("producing demo events to %s: %w", s.Topic, err)
		}
	}
	return nil
}

// demoProgress prints a progress line until every event is finished, the
// pipeline stops, or ctx ends.
func demoProgress(ctx context.Context, w io.Writer, c *consumer.Consumer, total int64, done <-chan error) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		st := c.Stats()
		finished := finishedEvents(st)
		fmt.Fprintf(w, "\r  %3d/%d events done, %d applied, %d dead-lettered, %d in flight   ", finished, total, st.Applied, st.DeadLettered, st.InFlight)
		if finished >= total {
			fmt.Fprintln(w)
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return fmt.Errorf("demo did not finish in %v: %d of %d events done", demoTimeout, finished, total)
		case err := <-done:
			fmt.Fprintln(w)
			if err == nil {
				err = errors.New("pipeline stopped early")
			}
			return err
		case <-t.C:
		}
	}
}
