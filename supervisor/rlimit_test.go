package supervisor

import (
	"strings"
	"testing"

	"streamedge/configs"
)

func TestFileLimitShortfall(t *testing.T) {
	cases := []struct {
		name  string
		cap   int
		limit uint64
		want  string // substring; "" = fits
	}{
		{"no cap promises nothing", 0, 256, ""},
		{"cap fits", 1000, 1_048_576, ""},
		{"cap just fits", 1000, 1000 + fdsPerWorkerOverhead, ""},
		{"cap over the limit", 1000, 1024, "max_connections 1000"},
		{"tiny limit", 50, 100, "limit is 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fileLimitShortfall(configs.Balance{MaxConnections: c.cap}, c.limit)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Fatalf("shortfall %q, want %q", got, c.want)
			}
		})
	}
}

func TestRaiseFileLimitReachesHard(t *testing.T) {
	soft, hard, err := raiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if soft != hard {
		t.Fatalf("soft limit %d after raising, want the hard limit %d", soft, hard)
	}
}
