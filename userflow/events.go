package userflow

import (
	"context"
	"errors"
	"net/http"
)

// EventsService calls the /events endpoint.
type EventsService service

// Track records the event r (POST /events) [seen]. An invalid r (see
// TrackEventRequest.Validate) is refused before anything is sent. Not
// idempotent: no idempotency key is known, so a retried Track may record the
// event twice.
func (s *EventsService) Track(ctx context.Context, r *TrackEventRequest) (*Event, *Response, error) {
	if r == nil {
		return nil, nil, errors.New("userflow: track event: nil request")
	}
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	return send[Event](ctx, s.client, http.MethodPost, "events", r)
}
