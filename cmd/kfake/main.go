// Command kfake runs franz-go's in-memory Kafka cluster (kfake) as a process
// on 127.0.0.1, for local runs without Docker, multi-process tests and
// benchmarks. It speaks the real Kafka protocol; kafka-go and userflow-sync
// work against it. It is a test broker: no replication, no real disk
// behaviour (with -data-dir it persists across restarts).
//
//	go run ./cmd/kfake -port 9092 -topics pg.public.users:6,userflow-sync-dlq:1
//
// The first line it prints on stdout is the brokers' addresses, comma
// separated (host:port,host:port); scripts and tests read it to connect.
//
// With -admin 127.0.0.1:PORT (port 0: any free port) it also serves an HTTP
// control surface for injecting broker-side faults from another process, and
// prints its address as a second line, "admin http://127.0.0.1:NNNN". It has
// no authentication. Bodies and answers are JSON; bad input answers 400 with
// {"error": "..."} naming the field, a wrong method 405:
//
//	POST   /faults  {"api":"OffsetCommit","error":"REBALANCE_IN_PROGRESS","count":5,"group":"g","topic":"t"}
//	       answers the next count requests of api (a kmsg name: Fetch,
//	       OffsetCommit, JoinGroup...) that match the optional group and
//	       topic with the Kafka error (a kerr name) instead of serving them;
//	       count 0 means one, -1 until DELETE /faults.
//	DELETE /faults  removes every fault installed through /faults.
//	POST   /drop    {"api":"Fetch","count":3}
//	       closes the client's connection instead of answering the next
//	       count requests of api; count 0 means one, -1 until DELETE /drop.
//	DELETE /drop    disarms every /drop still armed.
//	POST   /shuffle-leaders  gives every partition a random leader (-brokers 2 or more).
//	POST   /move    {"topic":"t","partition":0,"node":1} makes node lead the partition.
//	GET    /groups/{group}   {"group","state","generation","members"}; 404 if unknown.
//	GET    /healthz {"status":"ok"}
//
// On SIGINT or SIGTERM it stops the admin server, waiting for requests in
// flight, then closes the cluster and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
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
	adminAddr := flag.String("admin", "", "serve the HTTP fault-injection surface on this address, e.g. 127.0.0.1:0 (default: off)")
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *adminAddr == "" {
		fmt.Println(strings.Join(c.ListenAddrs(), ","))
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", *adminAddr)
	if err != nil {
		return fmt.Errorf("-admin: %w", err)
	}
	fmt.Println(strings.Join(c.ListenAddrs(), ","))
	fmt.Println("admin http://" + ln.Addr().String())
	// serveAdmin returns once the server has stopped, before the deferred
	// c.Close: the handlers call into the cluster, which hangs once closed.
	return serveAdmin(ctx, ln, newAdminHandler(c))
}
