// Package userflow is a client for the Userflow REST API: upserting, reading
// and deleting users and groups, and tracking events. It knows HTTP and the
// Userflow API, and nothing about where the data comes from.
//
//	c, err := userflow.NewClient(userflow.EUBaseURL, apiKey,
//		userflow.WithLimiter(userflow.NewLimiter(20, 10)))
//	...
//	user, resp, err := c.Users.Upsert(ctx, &userflow.UpsertUserRequest{ID: "u-42", ...})
//	switch {
//	case userflow.IsAuthError(err): // stop: the configuration is wrong
//	case userflow.IsRetryable(err): // back off (see userflow.RetryAfter) and send again
//	case err != nil:                // the record itself is wrong
//	}
//
// # What the client guarantees
//
//   - Every request carries Authorization: Bearer <key>, Userflow-Version:
//     2020-01-03, Accept: application/json and a User-Agent; requests with a
//     body carry Content-Type: application/json.
//   - Paths stay below the base URL, path prefix included. Ids are escaped as
//     one path segment (url.PathEscape), so "/", "?", "#", spaces and any
//     Unicode reach Userflow as part of the id; empty ids, and "." and "..",
//     are refused before sending.
//   - Requests are validated before sending (for example, a user request with
//     both groups and memberships); an invalid request sends nothing.
//   - Each call sends one request: the client never retries. Response bodies
//     are always drained (up to a bound) and closed, so connections are
//     reused. The default HTTP client does not follow redirects.
//   - Errors are typed: a non-2xx answer is an *ErrorResponse, a 429 a
//     *RateLimitError with the wait Userflow named; transport errors are
//     wrapped. IsRetryable, IsNotFound, IsAuthError and RetryAfter classify any
//     error the client returns; their policy is a table of statuses in errors.go.
//   - A Limiter, shared by a process, paces requests (a token bucket) and
//     holds all of them back while a 429's wait lasts. A 429 without a wait
//     does not pause it: the caller's backoff decides.
//   - The API key is never printed: not by the client's String, GoString or
//     fmt verbs, not in JSON or logs, not in any error (error bodies that echo
//     it are redacted).
//
// # What is known about the API
//
// Comments tag each API fact: [doc] from Userflow's documentation or its
// official userflow.js, [seen] from third-party code that calls the live API,
// [assumed] confirmed nowhere: the code names each assumption where it relies
// on it, and stays safe if it is wrong.
//
// Confirmed:
//   - base URLs (US and EU), Bearer authentication, the Userflow-Version
//     header, JSON bodies [doc];
//   - POST /users upserts, with groups or memberships (not both) and
//     prune_memberships [seen; prune_memberships doc]; GET and DELETE
//     /users/{id}; POST, GET and DELETE /groups/{id}; POST /events [seen];
//   - error bodies are {"error": {"code", "message"}}, 400 for invalid
//     requests, 5xx for Userflow's failures [seen].
//
// Assumed:
//   - a successful answer is 200 or 201 (any 2xx is accepted);
//   - GET of an absent user or group answers 404 (IsNotFound);
//   - a bad key answers 401 or 403 (IsAuthError);
//   - the request id is in X-Request-Id, else Request-Id (Response.RequestID);
//   - rate limiting answers 429, with the wait in Retry-After (delta seconds or
//     an HTTP date) or X-RateLimit-Reset (Unix seconds when above 1e9, else
//     seconds from now), capped at MaxRetryAfter; without either, no wait is
//     known;
//   - whether a null attribute value clears the attribute (see Attributes);
//   - an event needs a user id or a group id (TrackEventRequest.Validate).
package userflow
