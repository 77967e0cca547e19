package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/userflow-sync/userflow-sync/consumer"
)

// dryRunIdle is how long a dry run waits for new events before it decides
// it has caught up with the topics.
const dryRunIdle = 2 * time.Second

func cmdDryRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dry-run --config FILE [--max N]",
		"Read from the group's committed offsets (or start_offset) without committing and without\n"+
			"writing to Userflow; print one JSON line per request that would be sent, then a summary.\n"+
			"Stops after --max events, when caught up (no new event for 2s), or on SIGINT/SIGTERM.", stderr)
	path := fs.String("config", "", "configuration file (required)")
	max := fs.Int64("max", 0, "stop after this many events (0: until caught up)")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *max < 0 {
		return usageError{"--max must not be negative"}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, *level, "console")
	if err != nil {
		return usageError{err.Error()}
	}
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	requests := 0
	record := func(r consumer.DryRunRequest) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		_ = enc.Encode(r)
	}
	p, err := newPipeline(cfg, log, consumer.WithDryRun(record), consumer.WithMaxEvents(*max))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.consumer.Run(ctx) }()
	untilIdle(ctx, p.consumer, *max)
	cancel()
	if err := <-done; err != nil {
		return err
	}
	st := p.consumer.Stats()
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(stderr, "dry run: %d events read, %d requests would be sent (%d events coalesced), %d skipped, %d invalid; nothing written, nothing committed\n",
		st.EventsRead, requests, st.Coalesced, sum(st.Skipped), invalidEvents(st))
	return nil
}

// untilIdle returns when ctx ends, when max events are finished, or when a
// joined consumer has finished everything it read and read nothing new for
// dryRunIdle.
func untilIdle(ctx context.Context, c *consumer.Consumer, max int64) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var lastRead int64 = -1
	lastChange := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := c.Stats()
		finished := finishedEvents(st)
		if max > 0 && finished >= max {
			return
		}
		if st.EventsRead != lastRead {
			lastRead, lastChange = st.EventsRead, time.Now()
		}
		if st.Generation != 0 && finished == st.EventsRead && time.Since(lastChange) >= dryRunIdle {
			return
		}
	}
}

// finishedEvents counts events that are done, whatever their outcome.
func finishedEvents(st consumer.Stats) int64 {
	var n int64
	for _, v := range st.Events {
		n += v
	}
	return n
}

func invalidEvents(st consumer.Stats) int64 {
	var n int64
	for k, v := range st.Events {
		if k.Op == "invalid" {
			n += v
		}
	}
	return n
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
