package ipc

import "testing"

func TestConnCountsByRole(t *testing.T) {
	c := ConnCounts{ConnRTMPPublish: 2, ConnRTMPPlay: 3, ConnFLVPlay: 4, ConnRelayIn: 1, ConnRelayOut: 5, "whep_play_someday": 7}
	tests := []struct {
		role Role
		want int
	}{
		{RolePublisher, 2},
		{RolePlayer, 7}, // players of every protocol
		{RoleRelayIn, 1},
		{RoleRelayOut, 5},
		{RoleOther, 7}, // a kind the table does not know
	}
	for _, tt := range tests {
		if got := c.ByRole(tt.role); got != tt.want {
			t.Errorf("ByRole(%d) = %d, want %d", tt.role, got, tt.want)
		}
	}
	kinds := ConnKinds()
	if len(kinds) != len(connKinds) {
		t.Fatalf("ConnKinds() = %v", kinds)
	}
	for i, k := range kinds {
		if !k.Known() || k.Role() == RoleOther || (i > 0 && kinds[i-1] >= k) {
			t.Fatalf("ConnKinds() = %v: not sorted known kinds with a role", kinds)
		}
	}
	if ConnKind("nonsense").Known() {
		t.Fatal("an unknown kind is known")
	}
}
