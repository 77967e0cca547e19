package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// workload is E events over K keys (k0..kK-1), E/K per key, interleaved by
// round: k0 v1, k1 v1, ..., kK-1 v1, k0 v2, ...
type workload struct {
	events     int
	keys       int
	partitions int
}

func (w workload) perKey() int { return w.events / w.keys }

// partitionOf is the producer's partitioner (FNV-1a of the key), so the bench
// knows where every event lands without reading the topic back.
func (w workload) partitionOf(key int) int {
	h := fnv.New32a()
	_, _ = h.Write(keyBytes(key))
	return int(h.Sum32() % uint32(w.partitions))
}

func keyBytes(k int) []byte { return strconv.AppendInt([]byte("k"), int64(k), 10) }

// value is the JSON row of key k at version v.
func value(k, v int) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"id":"k`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `","name":"user `...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, ` v`...)
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, `","version":`...)
	b = strconv.AppendInt(b, int64(v), 10)
	return append(b, '}')
}

// event i of the workload: key and version (from 1).
func (w workload) event(i int) (key, version int) { return i % w.keys, i/w.keys + 1 }

// ends is the number of events in each partition (= its end offset).
func (w workload) ends() []int64 {
	ends := make([]int64, w.partitions)
	counts := make([]int64, w.partitions)
	for k := range w.keys {
		counts[w.partitionOf(k)]++
	}
	for p := range ends {
		ends[p] = counts[p] * int64(w.perKey())
	}
	return ends
}

// windowBound is the requests-per-event bound of the issue: the sum, over
// windows of window consecutive events (of one partition, in offset order,
// when perPartition; else of the whole stream in produce order), of the
// distinct keys in the window, divided by the events.
func (w workload) windowBound(window int, perPartition bool) float64 {
	n := make([]int, w.partitions) // events seen per partition
	seen := make([]map[int]bool, w.partitions)
	distinct := 0
	for p := range seen {
		seen[p] = map[int]bool{}
	}
	for i := range w.events {
		k, _ := w.event(i)
		p := 0
		if perPartition {
			p = w.partitionOf(k)
		}
		if n[p]%window == 0 {
			distinct += len(seen[p])
			clear(seen[p])
		}
		n[p]++
		seen[p][k] = true
	}
	for p := range seen {
		distinct += len(seen[p])
	}
	return float64(distinct) / float64(w.events)
}

// cluster is a fresh in-process kfake broker with one topic.
type cluster struct {
	c     *kfake.Cluster
	addrs []string
	topic string
}

var topicSeq atomic.Int64

func newCluster(partitions int) (*cluster, error) {
	topic := fmt.Sprintf("bench-%d", topicSeq.Add(1))
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0),
		kfake.GroupMinSessionTimeout(100*time.Millisecond), kfake.SeedTopics(int32(partitions), topic))
	if err != nil {
		return nil, err
	}
	return &cluster{c: c, addrs: c.ListenAddrs(), topic: topic}, nil
}

func (c *cluster) Close() { c.c.Close() }

func (c *cluster) writer(w workload) *kafka.Writer {
	return &kafka.Writer{
		Addr:  kafka.TCP(c.addrs...),
		Topic: c.topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			k, _ := strconv.Atoi(string(m.Key[1:]))
			return w.partitionOf(k)
		}),
		BatchSize:    10000,
		BatchBytes:   64 << 20,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Transport:    &kafka.Transport{MetadataTTL: 500 * time.Millisecond},
	}
}

// produceAll writes the whole workload, in slices of 50k messages.
func (c *cluster) produceAll(ctx context.Context, w workload) error {
	wr := c.writer(w)
	defer wr.Close()
	const chunk = 50000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < w.events; i++ {
		k, v := w.event(i)
		msgs = append(msgs, kafka.Message{Key: keyBytes(k), Value: value(k, v)})
		if len(msgs) == chunk || i == w.events-1 {
			if err := wr.WriteMessages(ctx, msgs...); err != nil {
				return fmt.Errorf("produce: %w", err)
			}
			msgs = make([]kafka.Message, 0, chunk)
		}
	}
	return nil
}

// produceSteady writes the workload at rate events/s, recording each event's
// produce time (just before the write that carries it) in tr.
func (c *cluster) produceSteady(ctx context.Context, w workload, rate int, tr *tracker) error {
	wr := c.writer(w)
	defer wr.Close()
	start := time.Now()
	next := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for next < w.events {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		due := min(w.events, int(time.Since(start).Seconds()*float64(rate)))
		if due <= next {
			continue
		}
		now := time.Now().UnixNano()
		msgs := make([]kafka.Message, 0, due-next)
		for ; next < due; next++ {
			k, v := w.event(next)
			tr.producedAt[k][v].Store(now)
			msgs = append(msgs, kafka.Message{Key: keyBytes(k), Value: value(k, v)})
		}
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	return nil
}

// warmup writes one event per partition for keys outside the workload (w0,
// w1, ...) and returns their ids; the bench waits until they are applied, so
// the consumer has joined and fetches every partition before measuring.
func (c *cluster) warmup(ctx context.Context, w workload) ([]string, error) {
	wr := &kafka.Writer{Addr: kafka.TCP(c.addrs...), Topic: c.topic, Balancer: &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer wr.Close()
	var ids []string
	var msgs []kafka.Message
	for p := range w.partitions {
		id := "w" + strconv.Itoa(p)
		ids = append(ids, id)
		msgs = append(msgs, kafka.Message{Key: []byte(id), Value: []byte(`{"id":"` + id + `","name":"warmup","version":0}`)})
	}
	return ids, wr.WriteMessages(ctx, msgs...)
}
