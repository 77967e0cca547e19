// Command kfake runs franz-go's in-memory Kafka cluster (kfake) as a process
// on 127.0.0.1, for local runs without Docker, multi-process tests and
// benchmarks. It speaks the real Kafka protocol; kafka-go and userflow-sync
// work against it. It is a test broker: no replication, no real disk
// behaviour (with -data-dir it persists across restarts).
//
//	go run ./cmd/kfake -port 9092 -topics pg.public.users:6,userflow-sync-dlq:1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 9092, "port of the first broker on 127.0.0.1 (0: any free port); further brokers take the next ports")
	brokers := flag.Int("brokers", 1, "number of brokers")
	topics := flag.String("topics", "", "topics to create, as name:partitions,name:partitions")
	dataDir := flag.String("data-dir", "", "persist the cluster's data here, to survive a restart (default: memory only)")
	minSession := flag.Duration("group-min-session-timeout", 100*time.Millisecond, "smallest session timeout a group member may ask for")
	flag.Parse()
	if *brokers < 1 {
		return fmt.Errorf("-brokers must be at least 1")
	}
	opts := []kfake.Opt{kfake.NumBrokers(*brokers), kfake.GroupMinSessionTimeout(*minSession)}
	if *port == 0 {
		opts = append(opts, kfake.Ports(make([]int, *brokers)...))
	} else {
		ports := make([]int, *brokers)
		for i := range ports {
			ports[i] = *port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *topics != "" {
		for _, t := range strings.Split(*topics, ",") {
			name, parts, ok := strings.Cut(strings.TrimSpace(t), ":")
			n, err := strconv.Atoi(parts)
			if !ok || name == "" || err != nil || n < 1 {
				return fmt.Errorf("-topics: %q is not name:partitions", t)
			}
			opts = append(opts, kfake.SeedTopics(int32(n), name))
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println(strings.Join(c.ListenAddrs(), ","))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}
