package consumer

import (
	"context"
	"testing"
)

// A dry run prints paths as the client would send them: ids escaped as one
// segment.
func TestDryRunEscapesIDs(t *testing.T) {
	var got []DryRunRequest
	d := dryRunAPI{record: func(r DryRunRequest) { got = append(got, r) }}
	_ = d.DeleteUser(context.Background(), "a/b c")
	_ = d.DeleteGroup(context.Background(), "g?1")
	if len(got) != 2 || got[0].Path != "/users/a%2Fb%20c" || got[1].Path != "/groups/g%3F1" {
		t.Fatalf("recorded %+v", got)
	}
}
