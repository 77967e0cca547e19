// Package kafkatest gives tests a real Kafka-protocol broker, chosen by the
// environment, so the same tests run on all three:
//   - KAFKA_BROKERS=host:port[,...]: an external broker (Apache Kafka, Redpanda...);
//   - KAFKA_TEST_CONTAINER=1 with `-tags testcontainers`: a real Kafka in Docker
//     through testcontainers-go (skipped, with the reason, without Docker);
//   - otherwise franz-go's kfake, in-process on 127.0.0.1 (no Docker needed).
//
// On an external broker or a container, topics get a per-test unique name.
package kafkatest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running broker with the topics a test asked for.
type Broker struct {
	Brokers []string
	// Cluster is the in-process kfake cluster, nil on an external broker:
	// tests that inject broker faults skip when it is nil.
	Cluster *kfake.Cluster
	prefix  string
}

var seq atomic.Int64

// Start returns a broker with the given topics (name → partitions), closed
// when the test ends. Topic names are turned into unique ones with Topic.
func Start(t testing.TB, topics map[string]int) *Broker {
	t.Helper()
	var external []string
	switch {
	case os.Getenv("KAFKA_BROKERS") != "":
		external = strings.Split(os.Getenv("KAFKA_BROKERS"), ",")
	case os.Getenv("KAFKA_TEST_CONTAINER") == "1":
		external = startContainer(t)
	}
	if external != nil {
		b := &Broker{Brokers: external, prefix: fmt.Sprintf("t%d-%d-", time.Now().UnixNano(), seq.Add(1))}
		b.createTopics(t, topics)
		return b
	}
	byPartitions := map[int][]string{}
	for name, n := range topics {
		byPartitions[n] = append(byPartitions[n], name)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond), kfake.Ports(0)}
	for n, names := range byPartitions {
		opts = append(opts, kfake.SeedTopics(int32(n), names...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Broker{Brokers: c.ListenAddrs(), Cluster: c}
}

// Topic is the real name of a topic asked for in Start.
func (b *Broker) Topic(name string) string { return b.prefix + name }

func (b *Broker) createTopics(t testing.TB, topics map[string]int) {
	t.Helper()
	conn, err := kafka.Dial("tcp", b.Brokers[0])
	if err != nil {
		t.Fatalf("dial %s: %v", b.Brokers[0], err)
	}
	defer conn.Close()
	ctl, err := conn.Controller()
	if err != nil {
		t.Fatalf("controller: %v", err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctl.Host, strconv.Itoa(ctl.Port)))
	if err != nil {
		t.Fatalf("dial controller: %v", err)
	}
	defer cc.Close()
	var cfgs []kafka.TopicConfig
	for name, n := range topics {
		cfgs = append(cfgs, kafka.TopicConfig{Topic: b.Topic(name), NumPartitions: n, ReplicationFactor: 1})
	}
	if err := cc.CreateTopics(cfgs...); err != nil {
		t.Fatalf("create topics: %v", err)
	}
}

// Writer returns a writer tuned for tests: acks from all replicas (the
// default, none, reports success even against a closed cluster), small
// batches, and a short metadata TTL (kafka-go does not refresh metadata on
// "not leader" errors).
func (b *Broker) Writer(t testing.TB, topic string) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(b.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    &kafka.Transport{MetadataTTL: 500 * time.Millisecond},
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// Produce writes msgs to topic, failing the test on error.
func (b *Broker) Produce(t testing.TB, topic string, msgs ...kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Writer(t, topic).WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// Committed returns the group's committed offset per partition of topic
// (-1 where none).
func (b *Broker) Committed(t testing.TB, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	c := &kafka.Client{Addr: kafka.TCP(b.Brokers...), Timeout: 10 * time.Second}
	resp, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// ReadAll reads every message of topic's partitions up to their current end.
func (b *Broker) ReadAll(t testing.TB, topic string, partitions int) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p := range partitions {
		conn, err := kafka.DialLeader(context.Background(), "tcp", b.Brokers[0], topic, p)
		if err != nil {
			t.Fatalf("dial leader %s/%d: %v", topic, p, err)
		}
		last, err := conn.ReadLastOffset()
		_ = conn.Close()
		if err != nil {
			t.Fatalf("last offset: %v", err)
		}
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		cancel()
		_ = r.Close()
	}
	return out
}
