//go:build !testcontainers

package kafkatest

import "testing"

// startContainer is compiled without testcontainers, which pulls in a Docker
// client: the container path needs `go test -tags testcontainers`.
func startContainer(t testing.TB) []string {
	t.Helper()
	t.Skip("KAFKA_TEST_CONTAINER=1 needs the testcontainers build tag: go test -tags testcontainers ./...")
	return nil
}
