package userflow

import (
	"context"
	"errors"
	"net/http"
)

// UsersService calls the /users endpoints.
type UsersService service

// Upsert creates the user r.ID, or merges r's attributes, groups and
// memberships into it (POST /users) [seen], and returns the user as Userflow
// stores it. An invalid r (see UpsertUserRequest.Validate) is refused before
// anything is sent. Safe to repeat as long as r uses no non-idempotent
// attribute operations.
func (s *UsersService) Upsert(ctx context.Context, r *UpsertUserRequest) (*User, *Response, error) {
	if r == nil {
		return nil, nil, errors.New("userflow: upsert user: nil request")
	}
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	return send[User](ctx, s.client, http.MethodPost, "users", r)
}

// Get returns the user id (GET /users/{id}). An absent user gives an error
// for which IsNotFound is true [assumed].
func (s *UsersService) Get(ctx context.Context, id string) (*User, *Response, error) {
	path, err := idPath("users", id)
	if err != nil {
		return nil, nil, err
	}
	return send[User](ctx, s.client, http.MethodGet, path, nil)
}

// Delete deletes the user id with its memberships and events; its groups stay
// (DELETE /users/{id}) [seen].
func (s *UsersService) Delete(ctx context.Context, id string) (*Response, error) {
	path, err := idPath("users", id)
	if err != nil {
		return nil, err
	}
	return del(ctx, s.client, path)
}
