package userflow

import (
	"context"
	"errors"
	"net/http"
)

// GroupsService calls the /groups endpoints. Groups are "companies" in
// Userflow's UI; memberships are set through UsersService.Upsert [doc].
type GroupsService service

// Upsert creates the group r.ID or merges r's attributes into it
// (POST /groups) [seen], and returns the group as Userflow stores it. An
// invalid r (see GroupRequest.Validate) is refused before anything is sent.
func (s *GroupsService) Upsert(ctx context.Context, r *GroupRequest) (*Group, *Response, error) {
	if r == nil {
		return nil, nil, errors.New("userflow: upsert group: nil request")
	}
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	return send[Group](ctx, s.client, http.MethodPost, "groups", r)
}

// Get returns the group id (GET /groups/{id}). An absent group gives an error
// for which IsNotFound is true [assumed].
func (s *GroupsService) Get(ctx context.Context, id string) (*Group, *Response, error) {
	path, err := idPath("groups", id)
	if err != nil {
		return nil, nil, err
	}
	return send[Group](ctx, s.client, http.MethodGet, path, nil)
}

// Delete deletes the group id; its users stay (DELETE /groups/{id}) [seen].
func (s *GroupsService) Delete(ctx context.Context, id string) (*Response, error) {
	path, err := idPath("groups", id)
	if err != nil {
		return nil, err
	}
	return del(ctx, s.client, path)
}
