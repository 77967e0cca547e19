package userflow

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGroupsService_Upsert(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("POST /groups", func(w http.ResponseWriter, r *http.Request) {
		testHeaders(t, r, true)
		testJSONBody(t, r, `{"id":"c-7","attributes":{"name":"Acme","plan":null}}`)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"c-7","object":"group","attributes":{"name":"Acme"}}`)
	})
	group, resp, err := c.Groups.Upsert(context.Background(), &GroupRequest{ID: "c-7", Attributes: Attributes{"name": "Acme", "plan": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Group{ID: "c-7", Object: "group", Attributes: Attributes{"name": "Acme"}}, group); diff != "" {
		t.Errorf("group mismatch (-want +got):\n%s", diff)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d", resp.StatusCode)
	}
}

func TestGroupsService_Upsert_invalid(t *testing.T) {
	c, _ := setup(t) // fails the test on any request
	for _, req := range []*GroupRequest{nil, {}, {ID: "c", Attributes: Attributes{"": 1}}} {
		if g, resp, err := c.Groups.Upsert(context.Background(), req); err == nil || g != nil || resp != nil {
			t.Errorf("Upsert(%+v) = %v, %v, %v; want only an error", req, g, resp, err)
		}
	}
}

func TestGroupsService_GetDelete(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /groups/c-7", func(w http.ResponseWriter, r *http.Request) {
		testHeaders(t, r, false)
		testNoBody(t, r)
		fmt.Fprint(w, `{"id":"c-7","object":"group"}`)
	})
	mux.HandleFunc("DELETE /groups/c-7", func(w http.ResponseWriter, r *http.Request) {
		testHeaders(t, r, false)
		testNoBody(t, r)
		w.WriteHeader(http.StatusNoContent)
	})
	group, _, err := c.Groups.Get(context.Background(), "c-7")
	if err != nil || group.ID != "c-7" || group.Object != "group" {
		t.Errorf("Get = %+v, %v", group, err)
	}
	if _, err := c.Groups.Delete(context.Background(), "c-7"); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func TestGroupsService_escaping(t *testing.T) {
	for _, id := range escapedIDs {
		c, mux := setup(t)
		var calls int
		mux.HandleFunc("/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
			calls++
			if got := r.PathValue("id"); got != id {
				t.Errorf("%s id = %q, want %q", r.Method, got, id)
			}
			fmt.Fprint(w, `{}`)
		})
		_, _, errGet := c.Groups.Get(context.Background(), id)
		_, errDel := c.Groups.Delete(context.Background(), id)
		if errGet != nil || errDel != nil || calls != 2 {
			t.Errorf("id %q: Get: %v, Delete: %v, %d requests, want 2", id, errGet, errDel, calls)
		}
	}
	c, _ := setup(t)
	for _, id := range []string{"", ".", ".."} {
		_, _, errGet := c.Groups.Get(context.Background(), id)
		_, errDel := c.Groups.Delete(context.Background(), id)
		if errGet == nil || errDel == nil {
			t.Errorf("id %q: Get: %v, Delete: %v; want errors", id, errGet, errDel)
		}
	}
}
