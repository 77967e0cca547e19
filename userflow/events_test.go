package userflow

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

func TestEventsService_Track(t *testing.T) {
	for _, tt := range []struct {
		req      TrackEventRequest
		wantBody string
	}{
		{TrackEventRequest{Name: "plan_changed", UserID: "u-42", Attributes: Attributes{"plan": "pro"}},
			`{"name":"plan_changed","user_id":"u-42","attributes":{"plan":"pro"}}`},
		{TrackEventRequest{Name: "renewed", GroupID: "c-7"}, `{"name":"renewed","group_id":"c-7"}`},
		{TrackEventRequest{Name: "invited", UserID: "u-42", GroupID: "c-7"}, `{"name":"invited","user_id":"u-42","group_id":"c-7"}`},
	} {
		c, mux := setup(t)
		mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
			testHeaders(t, r, true)
			testJSONBody(t, r, tt.wantBody)
			fmt.Fprintf(w, `{"id":"e-1","object":"event","name":%q}`, tt.req.Name)
		})
		ev, _, err := c.Events.Track(context.Background(), &tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Event{ID: "e-1", Object: "event", Name: tt.req.Name}); *ev != want {
			t.Errorf("event = %+v, want %+v", *ev, want)
		}
	}
}

func TestEventsService_Track_invalid(t *testing.T) {
	c, _ := setup(t) // fails the test on any request
	for _, req := range []*TrackEventRequest{
		nil,
		{UserID: "u"},
		{Name: "x"},
		{Name: "x", UserID: "u", Attributes: Attributes{"bad!": 1}},
	} {
		if ev, resp, err := c.Events.Track(context.Background(), req); err == nil || ev != nil || resp != nil {
			t.Errorf("Track(%+v) = %v, %v, %v; want only an error", req, ev, resp, err)
		}
	}
}
