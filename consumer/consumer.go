package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// Consumer runs the pipeline from Kafka to Userflow for one consumer group
// member. Build it with New and call Run once.
type Consumer struct {
	cfg     Config
	log     *zap.Logger
	apply   *applier
	dlq     messageWriter // nil without a dead-letter topic
	syncs   map[string]*Sync
	stats   counters
	newRead func(topic string, partition int) fetcher
	current atomic.Pointer[generation] // for Stats; nil between generations

	dryRun    bool  // WithDryRun: never commit
	maxEvents int64 // WithMaxEvents: stop fetching after this many events
	taken     atomic.Int64

	// resume is where the previous generation left each partition it
	// owned; only Run's goroutine uses it, between generations.
	resume resumePoint
}

// resumePoint is the done watermark of every partition a generation owned.
type resumePoint struct {
	gen  int32
	next map[topicPartition]int64
}

// startOffset is where a partition assigned in gen starts: the committed
// offset, or, when this process owned the partition in the generation just
// before (gen-1) and had finished more than the broker has committed (the
// final commit failed: a dropped connection, an error), its own watermark.
// Nobody else can have read the partition since: a generation has one owner
// per partition, and none came between. Without this, a failed final commit
// makes the same process apply the same events again.
func (r resumePoint) startOffset(gen int32, tp topicPartition, committed int64) (int64, bool) {
	w, ok := r.next[tp]
	if !ok || gen != r.gen+1 || committed >= 0 && w <= committed {
		return committed, false
	}
	return w, true
}

// messageWriter is the part of *kafka.Writer the dead-letter path uses.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// fetcher is the part of *kafka.Reader a partition worker uses.
type fetcher interface {
	SetOffset(offset int64) error
	FetchMessage(ctx context.Context) (kafka.Message, error)
	Lag() int64
	Close() error
}

// New builds a Consumer sending to Userflow through client. log is the
// consumer's logger (zap.NewNop() for none).
func New(cfg Config, client *userflow.Client, log *zap.Logger, opts ...Option) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("consumer config: %w", err)
	}
	c := &Consumer{cfg: cfg, log: log.Named("consumer"), syncs: make(map[string]*Sync, len(cfg.Syncs))}
	for i := range cfg.Syncs {
		c.syncs[cfg.Syncs[i].Topic] = &c.cfg.Syncs[i]
	}
	c.apply = &applier{api: clientAPI{c: client, stats: &c.stats}, retry: cfg.Retry, onRetry: c.onRetry}
	dialer := cfg.Dialer
	if dialer == nil {
		dialer = kafka.DefaultDialer
	}
	if cfg.DeadLetterTopic != "" {
		c.dlq = &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Topic:        cfg.DeadLetterTopic,
			Balancer:     &kafka.Hash{}, // the original key keeps a row's dead letters together
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 10 * time.Millisecond,
			Transport:    transportFor(dialer),
		}
	}
	c.newRead = func(topic string, partition int) fetcher {
		return kafka.NewReader(kafka.ReaderConfig{
			Brokers:   cfg.Brokers,
			Topic:     topic,
			Partition: partition,
			Dialer:    dialer,
			MinBytes:  1,
			MaxBytes:  10 << 20,
			MaxWait:   cfg.FetchMaxWait,
		})
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// transportFor carries a dialer's TLS and SASL settings over to a writer.
func transportFor(d *kafka.Dialer) *kafka.Transport {
	return &kafka.Transport{TLS: d.TLS, SASL: d.SASLMechanism, MetadataTTL: 10 * time.Second}
}

func (c *Consumer) onRetry(op *mapping.Operation, err error, wait time.Duration) {
	c.stats.retries.Add(1)
	c.log.Warn("userflow request failed, retrying",
		zap.Stringer("target", op.Target()), zap.Stringer("action", op.Action),
		zap.Duration("wait", wait), zap.Error(err))
}

// Run consumes until ctx ends, then drains within DrainTimeout, commits and
// leaves the group, returning nil. It returns an error for what must stop the
// process: Userflow rejecting the API key (wrapping ErrUnauthorized), or a
// bad event under the "stop" policy (a *BadEventError). Trouble joining the
// group (coordinator moving, broker down) is logged and retried.
func (c *Consumer) Run(ctx context.Context) error {
	topics := make([]string, 0, len(c.cfg.Syncs))
	for _, s := range c.cfg.Syncs {
		topics = append(topics, s.Topic)
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                c.cfg.GroupID,
		Brokers:           c.cfg.Brokers,
		Dialer:            c.cfg.Dialer,
		Topics:            topics,
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		SessionTimeout:    c.cfg.SessionTimeout,
		RebalanceTimeout:  c.cfg.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		StartOffset:       c.cfg.startOffset(),
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group %q: %w", c.cfg.GroupID, err)
	}
	defer func() {
		if err := cg.Close(); err != nil {
			c.log.Warn("leaving consumer group", zap.Error(err))
		}
		if c.dlq != nil {
			if err := c.dlq.Close(); err != nil {
				c.log.Warn("closing dead-letter writer", zap.Error(err))
			}
		}
	}()
	// Leave as soon as ctx ends. kafka-go rejoins the moment a generation's
	// functions return; closing the group while the last generation drains
	// keeps it from joining one more generation, which would hand partitions
	// to a member that is leaving and make the rest of the group rebalance
	// twice. The draining generation keeps its connection, so its final
	// commit still goes through.
	stopLeave := context.AfterFunc(ctx, func() { _ = cg.Close() })
	defer stopLeave()
	for {
		gen, err := cg.Next(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// kafka-go rejoins by itself; errors here are transient
			// (coordinator moved, rebalance in progress).
			c.log.Warn("joining consumer group", zap.Error(err))
			continue
		}
		if err := c.runGeneration(ctx, gen); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// event is one fetched message on its way through the pipeline. Its
// operation is not kept: the batcher coalesces it into its key's on arrival,
// and process maps the message again in the rare case it needs it alone.
type event struct {
	msg     kafka.Message
	sync    *Sync
	tracker *offsetTracker
	// of its operation, for the counters
	action     mapping.Action
	sourceTime time.Time
}

// generation is the pipeline of one consumer group generation. It owns its
// goroutines: fetchers (one per assigned partition), the batching window,
// the workers and the committer; all stop before runGeneration returns.
type generation struct {
	c          *Consumer
	gen        *kafka.Generation
	log        *zap.Logger
	batch      *batcher[*event]
	mu         sync.Mutex
	trackers   map[topicPartition]*offsetTracker
	readers    map[topicPartition]fetcher
	committed  map[topicPartition]int64
	fatal      atomic.Pointer[error]
	stop       context.CancelFunc // stops fetching: generation over, shutdown or fatal error
	cutRejects context.CancelFunc // ends the fetchers' dead-letter writes: drain deadline or fatal error
}

type topicPartition struct {
	topic     string
	partition int
}

func (c *Consumer) runGeneration(ctx context.Context, gen *kafka.Generation) error {
	done := make(chan error, 1)
	gen.Start(func(genCtx context.Context) {
		done <- c.generation(ctx, genCtx, gen)
	})
	return <-done
}

func (c *Consumer) generation(ctx, genCtx context.Context, gen *kafka.Generation) error {
	g := &generation{
		c: c, gen: gen,
		log:       c.log.With(zap.Int32("generation", gen.ID)),
		batch:     newBatcher[*event](c.cfg.BatchMaxEvents, c.cfg.BatchMaxWait, c.cfg.MaxBuffered, c.cfg.MaxBufferedBytes),
		trackers:  make(map[topicPartition]*offsetTracker),
		readers:   make(map[topicPartition]fetcher),
		committed: make(map[topicPartition]int64),
	}
	c.current.Store(g)
	defer c.current.Store(nil)
	fetchCtx, stop := context.WithCancel(ctx)
	defer stop()
	g.stop = stop
	context.AfterFunc(genCtx, stop)
	workCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	// The fetchers write the dead letters of events that do not map. Such a
	// write must not be cut off the moment the generation ends: the broker
	// may have taken it all the same, and the event, left uncommitted, would
	// be dead-lettered twice (the chaos suite saw it on a clean rebalance).
	// It gets the drain's time, like work in flight, and a fatal error cuts
	// it at once (fail).
	rejectCtx, cutRejects := context.WithCancel(workCtx)
	defer cutRejects()
	g.cutRejects = cutRejects

	var fetchers, workers sync.WaitGroup
	workers.Go(func() { g.batch.run(workCtx) })
	for range c.cfg.MaxInFlight {
		workers.Go(func() { g.work(workCtx) })
	}
	var assigned, resumed []string
	prev := c.resume
	c.resume = resumePoint{}
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			tp := topicPartition{topic, p.ID}
			offset, own := prev.startOffset(gen.ID, tp, p.Offset)
			if own {
				g.mu.Lock()                               // fetchers of other partitions are running
				g.trackers[tp] = newOffsetTracker(offset) // committed at the next interval
				g.mu.Unlock()
				resumed = append(resumed, fmt.Sprintf("%s/%d@%d (committed %d)", topic, p.ID, offset, p.Offset))
			}
			assigned = append(assigned, fmt.Sprintf("%s/%d@%d", topic, p.ID, offset))
			fetchers.Go(func() { g.fetch(fetchCtx, rejectCtx, topic, p.ID, offset) })
		}
	}
	g.log.Info("generation started", zap.Strings("assigned", assigned))
	if len(resumed) > 0 {
		c.stats.resumed.Add(int64(len(resumed)))
		g.log.Info("resuming after this process's own uncommitted work", zap.Strings("partitions", resumed))
	}
	fetchers.Go(func() { g.commitLoop(fetchCtx) })

	<-fetchCtx.Done()
	// One deadline for the whole drain: fetchers finishing their dead-letter
	// writes, then the work in flight.
	deadline := time.Now().Add(c.cfg.DrainTimeout)
	cut := time.AfterFunc(c.cfg.DrainTimeout, cutRejects)
	fetchers.Wait()
	cut.Stop()
	// A fatal error commits nothing further, so there is nothing to drain
	// for: abandon at once rather than keep sending requests.
	drained := false
	if g.fatalErr() == nil {
		drainCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		drained = g.batch.drain(drainCtx)
		cancel()
	}
	abandon()
	workers.Wait()
	if err := g.fatalErr(); err != nil {
		return err
	}
	if !drained {
		g.log.Warn("drain timed out; unfinished events stay uncommitted and will be redelivered", zap.Duration("drain_timeout", c.cfg.DrainTimeout))
	}
	g.commit()
	c.resume = g.resumePoint()
	g.log.Info("generation ended")
	return nil
}

// resumePoint is where the next generation may resume g's partitions.
func (g *generation) resumePoint() resumePoint {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := resumePoint{gen: g.gen.ID, next: make(map[topicPartition]int64, len(g.trackers))}
	for tp, tr := range g.trackers {
		r.next[tp], _ = tr.watermark()
	}
	return r
}

func (g *generation) fatalErr() error {
	if p := g.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// fail stops the generation for good: nothing further is committed.
func (g *generation) fail(err error) {
	g.fatal.CompareAndSwap(nil, &err)
	g.stop()
	g.cutRejects()
}

// fetch reads one partition from offset (or the group's start offset) and
// feeds the pipeline until ctx ends. Dead letters of events that do not map
// are written under rejectCtx, which outlives ctx by the drain.
func (g *generation) fetch(ctx, rejectCtx context.Context, topic string, partition int, offset int64) {
	log := g.log.With(zap.String("topic", topic), zap.Int("partition", partition))
	sync := g.c.syncs[topic]
	r := g.c.newRead(topic, partition)
	tp := topicPartition{topic, partition}
	g.mu.Lock()
	g.readers[tp] = r
	g.mu.Unlock()
	defer func() {
		if err := r.Close(); err != nil {
			log.Warn("closing partition reader", zap.Error(err))
		}
	}()
	if err := r.SetOffset(offset); err != nil {
		log.Error("setting start offset", zap.Int64("offset", offset), zap.Error(err))
		return
	}
	g.mu.Lock()
	tr := g.trackers[tp] // set when resuming, else at the first message
	g.mu.Unlock()
	retry := backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(0), backoff.WithMaxInterval(5*time.Second))
	for {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// kafka-go retries most broker errors itself; what reaches here
			// is worth a log line and a pause, not the end of the partition.
			wait := retry.NextBackOff()
			log.Warn("fetch failed, retrying", zap.Duration("wait", wait), zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		retry.Reset()
		if offset >= 0 && msg.Offset < offset {
			g.c.stats.belowCommitted.Add(1) // older than what the group committed
			continue
		}
		if g.c.maxEvents > 0 && g.c.taken.Add(1) > g.c.maxEvents {
			<-ctx.Done() // the limit is reached: fetch nothing more
			return
		}
		if tr == nil {
			tr = newOffsetTracker(msg.Offset)
			g.mu.Lock()
			g.trackers[tp] = tr
			g.mu.Unlock()
		}
		if err := tr.add(msg.Offset); err != nil {
			log.Error("offset accounting", zap.Error(err))
			continue
		}
		g.c.stats.eventsRead.Add(1)
		ev := &event{msg: msg, sync: sync, tracker: tr}
		op, err := sync.Mapper.Map(messageOf(&ev.msg))
		ev.action, ev.sourceTime = op.Action, op.SourceTime
		switch {
		case err != nil:
			if !g.reject(rejectCtx, ev, rejection{class: classOfMapping(err), err: err}) {
				return
			}
		case op.Action == mapping.ActionSkip:
			g.skipped(ev, op.Skip)
		default:
			if g.batch.submit(ctx, ev, op, eventBytes(&ev.msg)) != nil {
				return
			}
		}
	}
}

func messageOf(m *kafka.Message) mapping.Message {
	return mapping.Message{Key: m.Key, Value: m.Value, Headers: headersOf(m)}
}

func headersOf(m *kafka.Message) []mapping.Header {
	if len(m.Headers) == 0 {
		return nil
	}
	hs := make([]mapping.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = mapping.Header{Key: h.Key, Value: h.Value}
	}
	return hs
}

func (g *generation) applied(ev *event) {
	g.c.stats.event(ev, ev.action.String(), OutcomeLabelApplied)
	g.done(ev)
}

func (g *generation) skipped(ev *event, why mapping.SkipReason) {
	g.c.stats.skip(why)
	g.c.stats.event(ev, ev.action.String(), OutcomeLabelSkipped)
	g.done(ev)
}

func (g *generation) done(ev *event) {
	if err := ev.tracker.done(ev.msg.Offset); err != nil {
		g.log.Error("offset accounting", zap.Error(err))
	}
}

// work applies keys handed out by the batcher until ctx ends.
func (g *generation) work(ctx context.Context) {
	for {
		key, evs, ops, ok := g.batch.next(ctx)
		if !ok {
			return
		}
		g.process(ctx, evs, ops)
		g.batch.finish(key)
	}
}

// process applies the events of one key: their operations coalesced (ops)
// first; if Userflow rejects a coalesced request for good, one event at a
// time, so that only the bad event is dead-lettered. An event's own
// operation is its message mapped again: mapping is deterministic, so it is
// the operation that went into ops. Events are marked done only when their
// work succeeded or was dead-lettered.
func (g *generation) process(ctx context.Context, evs []*event, ops []mapping.Operation) {
	g.c.stats.coalesced.Add(int64(len(evs) - len(ops)))
	err := g.applyAll(ctx, ops)
	var ae *ApplyError
	switch {
	case err == nil:
		for _, ev := range evs {
			g.applied(ev)
		}
		return
	case !errors.As(err, &ae):
		g.interrupted(err)
		return
	case ae.Exhausted:
		// Isolating would wait out MaxElapsed once per event: dead-letter
		// the batch instead.
		for _, ev := range evs {
			if !g.reject(ctx, ev, rejectionOf(ae)) {
				return
			}
		}
		return
	}
	for _, ev := range evs {
		op, err := ev.sync.Mapper.Map(messageOf(&ev.msg))
		switch {
		case err != nil: // it mapped when fetched: only a broken Mapper gets here
			if !g.reject(ctx, ev, rejection{class: classOfMapping(err), err: err}) {
				return
			}
			continue
		case op.Action == mapping.ActionSkip: // likewise
			g.skipped(ev, op.Skip)
			continue
		}
		err = g.applyAll(ctx, []mapping.Operation{op})
		switch {
		case err == nil:
			g.applied(ev)
		case errors.As(err, &ae):
			if !g.reject(ctx, ev, rejectionOf(ae)) {
				return
			}
		default:
			g.interrupted(err)
			return
		}
	}
}

func (g *generation) applyAll(ctx context.Context, ops []mapping.Operation) error {
	for i := range ops {
		outcome, err := g.c.apply.apply(ctx, &ops[i])
		if err != nil {
			return err
		}
		g.c.stats.outcome(outcome)
	}
	return nil
}

// interrupted handles an apply that neither succeeded nor failed for good:
// the generation is ending (its events stay uncommitted), or the API key was
// rejected, which stops everything.
func (g *generation) interrupted(err error) {
	if errors.Is(err, ErrUnauthorized) {
		g.log.Error("userflow rejected the API key: stopping, nothing further is committed", zap.Error(err))
		g.fail(err)
	}
}

// commitLoop commits every CommitInterval until ctx ends.
func (g *generation) commitLoop(ctx context.Context) {
	t := time.NewTicker(g.c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.commit()
		}
	}
}

// commit commits, for every partition whose watermark moved, the offset
// after its longest done prefix. A failed commit changes nothing: the next
// one, or the partition's next owner, covers it.
func (g *generation) commit() {
	if g.fatalErr() != nil || g.c.dryRun {
		return
	}
	g.mu.Lock()
	offsets := map[string]map[int]int64{}
	moved := map[topicPartition]int64{}
	for tp, tr := range g.trackers {
		next, _ := tr.watermark()
		if last, ok := g.committed[tp]; ok && next <= last {
			continue
		}
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int]int64{}
		}
		offsets[tp.topic][tp.partition] = next
		moved[tp] = next
	}
	g.mu.Unlock()
	if len(moved) == 0 {
		return
	}
	if err := g.gen.CommitOffsets(offsets); err != nil {
		g.c.stats.commitFailures.Add(1)
		g.log.Warn("commit failed; offsets will be committed later or redelivered", zap.Error(err))
		return
	}
	g.c.stats.commits.Add(1)
	g.mu.Lock()
	for tp, off := range moved {
		if off > g.committed[tp] {
			g.committed[tp] = off
		}
	}
	g.mu.Unlock()
}
