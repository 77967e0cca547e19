package consumer

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/userflow-sync/userflow-sync/mapping"
	"github.com/userflow-sync/userflow-sync/userflow"
)

// Dead-letter header names. A dead-letter record is the original record (key,
// value, headers) plus these headers; it never holds the API key: errors from
// the userflow package do not contain it.
const (
	HeaderError           = "userflow-sync.error"            // the error message
	HeaderErrorClass      = "userflow-sync.error_class"      // decode | mapping | userflow_rejected | retries_exhausted
	HeaderSync            = "userflow-sync.sync"             // the sync's name
	HeaderSourceTopic     = "userflow-sync.source_topic"     // where the record came from
	HeaderSourcePartition = "userflow-sync.source_partition" //
	HeaderSourceOffset    = "userflow-sync.source_offset"    //
	HeaderAttempts        = "userflow-sync.attempts"         // Userflow attempts made (0 for decode and mapping errors)
	HeaderHTTPStatus      = "userflow-sync.http_status"      // Userflow's status, when it answered
	HeaderUserflowCode    = "userflow-sync.userflow_code"    // Userflow's error code
	HeaderUserflowMessage = "userflow-sync.userflow_message" // Userflow's error message
	HeaderRequestID       = "userflow-sync.request_id"       // Userflow's request id
	HeaderFailedAt        = "userflow-sync.failed_at"        // RFC 3339, UTC
)

// Error classes of dead-letter records.
const (
	ClassDecode           = "decode"
	ClassMapping          = "mapping"
	ClassUserflowRejected = "userflow_rejected"
	ClassRetriesExhausted = "retries_exhausted"
)

// rejection is why an event cannot be applied.
type rejection struct {
	class    string
	err      error
	attempts int
}

func classOfMapping(err error) string {
	var de *mapping.DecodeError
	if errors.As(err, &de) {
		return ClassDecode
	}
	return ClassMapping
}

func rejectionOf(ae *ApplyError) rejection {
	class := ClassUserflowRejected
	if ae.Exhausted {
		class = ClassRetriesExhausted
	}
	return rejection{class: class, err: ae.Err, attempts: ae.Attempts}
}

// reject disposes of an event that cannot be applied: to the dead-letter
// topic (the event is done once the write succeeded; failed writes are
// retried until ctx ends), or by the policy without one. It reports whether
// the caller may go on; false means ctx ended or the pipeline must stop.
func (g *generation) reject(ctx context.Context, ev *event, why rejection) bool {
	log := g.log.With(zap.String("sync", ev.sync.Name), zap.String("topic", ev.msg.Topic),
		zap.Int("partition", ev.msg.Partition), zap.Int64("offset", ev.msg.Offset),
		zap.String("error_class", why.class), zap.Error(why.err))
	if g.c.dryRun {
		log.Warn("bad event (dry run: not dead-lettered)")
		g.c.stats.event(ev, opLabel(ev, why), OutcomeLabelSkippedBad)
		g.done(ev)
		return true
	}
	if g.c.dlq == nil {
		if g.c.cfg.NoDeadLetter == PolicyStop {
			log.Error("bad event and no dead-letter topic: stopping (policy stop)")
			g.fail(&BadEventError{Topic: ev.msg.Topic, Partition: ev.msg.Partition, Offset: ev.msg.Offset, Class: why.class, Err: why.err})
			return false
		}
		log.Error("bad event skipped: no dead-letter topic (policy skip)")
		g.c.stats.skippedBad.Add(1)
		g.c.stats.event(ev, opLabel(ev, why), OutcomeLabelSkippedBad)
		g.done(ev)
		return true
	}
	rec := deadLetterRecord(ev, why, time.Now())
	b := backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(0), backoff.WithMaxInterval(10*time.Second)), ctx)
	err := backoff.RetryNotify(func() error { return g.c.dlq.WriteMessages(ctx, rec) }, b, func(err error, wait time.Duration) {
		log.Warn("dead-letter write failed, retrying", zap.Duration("wait", wait), zap.NamedError("write_error", err))
	})
	if err != nil {
		return false // ctx ended: the event stays uncommitted
	}
	log.Warn("event dead-lettered", zap.String("dead_letter_topic", g.c.cfg.DeadLetterTopic))
	g.c.stats.deadLettered.Add(1)
	g.c.stats.event(ev, opLabel(ev, why), OutcomeLabelDeadLettered)
	g.done(ev)
	return true
}

// opLabel is the op of a rejected event: invalid when it never mapped.
func opLabel(ev *event, why rejection) string {
	if why.class == ClassDecode || why.class == ClassMapping {
		return "invalid"
	}
	return ev.action.String()
}

// BadEventError stops the consumer under the "stop" policy.
type BadEventError struct {
	Topic     string
	Partition int
	Offset    int64
	Class     string
	Err       error
}

func (e *BadEventError) Error() string {
	return "bad event at " + e.Topic + "/" + strconv.Itoa(e.Partition) + "@" + strconv.FormatInt(e.Offset, 10) + " (" + e.Class + "): " + e.Err.Error()
}

func (e *BadEventError) Unwrap() error { return e.Err }

// deadLetterRecord is the original record with the reason in headers.
func deadLetterRecord(ev *event, why rejection, now time.Time) kafka.Message {
	h := make([]kafka.Header, 0, len(ev.msg.Headers)+12)
	h = append(h, ev.msg.Headers...)
	add := func(k, v string) {
		if v != "" {
			h = append(h, kafka.Header{Key: k, Value: []byte(v)})
		}
	}
	add(HeaderError, why.err.Error())
	add(HeaderErrorClass, why.class)
	add(HeaderSync, ev.sync.Name)
	add(HeaderSourceTopic, ev.msg.Topic)
	add(HeaderSourcePartition, strconv.Itoa(ev.msg.Partition))
	add(HeaderSourceOffset, strconv.FormatInt(ev.msg.Offset, 10))
	add(HeaderAttempts, strconv.Itoa(why.attempts))
	var er *userflow.ErrorResponse
	if errors.As(why.err, &er) {
		add(HeaderHTTPStatus, strconv.Itoa(er.StatusCode))
		add(HeaderUserflowCode, er.Code)
		add(HeaderUserflowMessage, er.Message)
		add(HeaderRequestID, er.RequestID)
	}
	add(HeaderFailedAt, now.UTC().Format(time.RFC3339Nano))
	return kafka.Message{Key: ev.msg.Key, Value: ev.msg.Value, Headers: h}
}
