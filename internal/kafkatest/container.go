//go:build testcontainers

package kafkatest

import (
	"context"
	"testing"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// ContainerImage is the Kafka image started for KAFKA_TEST_CONTAINER=1
// (KRaft, single node).
const ContainerImage = "confluentinc/confluent-local:7.5.0"

// startContainer starts a real Kafka in Docker for the test and returns its
// bootstrap address; it skips the test when Docker is not there.
func startContainer(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	c, err := tckafka.Run(ctx, ContainerImage, tckafka.WithClusterID("userflow-sync-test"))
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Skipf("KAFKA_TEST_CONTAINER=1 but no Kafka container could start (is a Docker engine running?): %v", err)
	}
	brokers, err := c.Brokers(ctx)
	if err != nil {
		t.Fatalf("kafka container brokers: %v", err)
	}
	return brokers
}
