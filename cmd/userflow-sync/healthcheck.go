package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheckTimeout bounds the whole check: a process that cannot answer
// /healthz within it is reported unhealthy.
const healthcheckTimeout = 2 * time.Second

// cmdHealthcheck asks a running userflow-sync whether it is alive, for
// container runtimes whose image has no curl or wget (the distroless image).
// It returns nil when url answers 200 within healthcheckTimeout, else an error
// (exit 1).
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck [--url URL]", "Exit 0 when URL answers 200 within 2s, else 1. For container healthchecks.", stderr)
	url := fs.String("url", "http://127.0.0.1:9464/healthz", "the health endpoint to ask (metrics.listen's /healthz or /readyz)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usageError{fmt.Sprintf("healthcheck: --url: %v", err)}
	}
	// No proxy: the check is about this pod or container, whatever HTTP_PROXY says.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	fmt.Fprintln(stdout, "healthy")
	return nil
}
