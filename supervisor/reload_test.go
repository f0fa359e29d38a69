package supervisor

import (
	"testing"
	"time"

	"streamedge/configs"
)

func TestPlanReload(t *testing.T) {
	base := func() *configs.Config {
		c := configs.Default()
		c.Listen.RTMP, c.Listen.HTTP, c.Listen.API = "0.0.0.0:1935", "0.0.0.0:8080", "127.0.0.1:1985"
		return c
	}
	bound := socketTable(base())
	tests := []struct {
		name     string
		edit     func(c *configs.Config)
		boundAPI string
		slots    int
		workers  int
		want     reloadPlan
	}{
		{"live settings only", func(c *configs.Config) {
			c.Log.Level, c.Play.MWLatency, c.GraceFinalWait = "debug", 0, configs.Duration(time.Minute)
		}, "127.0.0.1:1985", 2, 2, reloadPlan{workers: 2}},
		// Edge mode's settings reach the workers with the configuration, and
		// the master reads them where it decides: nothing to restart.
		{"a vhost becomes an edge of new origins", func(c *configs.Config) {
			c.Vhosts = map[string]configs.Vhost{"__defaultVhost__": {Cluster: configs.Cluster{Mode: "remote", Origin: []string{"10.0.0.1:1935"}}}}
		}, "127.0.0.1:1985", 2, 2, reloadPlan{workers: 2}},
		{"more slots", nil, "127.0.0.1:1985", 2, 4, reloadPlan{workers: 4, grow: 2}},
		{"fewer slots", nil, "127.0.0.1:1985", 4, 1, reloadPlan{workers: 1, shrink: 3}},
		{"a new rtmp address moves every slot", func(c *configs.Config) { c.Listen.RTMP = "0.0.0.0:1936" },
			"127.0.0.1:1985", 2, 3, reloadPlan{workers: 3, listen: true}},
		{"a new http address moves every slot", func(c *configs.Config) { c.Listen.HTTP = "127.0.0.1:8080" },
			"127.0.0.1:1985", 2, 2, reloadPlan{workers: 2, listen: true}},
		{"the api moves", func(c *configs.Config) { c.Listen.API = "127.0.0.1:1986" },
			"127.0.0.1:1985", 2, 2, reloadPlan{workers: 2, api: true}},
		{"the api goes off", func(c *configs.Config) { c.Listen.API = "" },
			"127.0.0.1:1985", 2, 2, reloadPlan{workers: 2, api: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base()
			if tt.edit != nil {
				tt.edit(next)
			}
			if got := planReload(base(), next, bound, tt.boundAPI, tt.slots, tt.workers); got != tt.want {
				t.Fatalf("planReload = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Port 0 is whatever the kernel gave: reloading the same file, or naming
// the port it got, keeps the sockets.
func TestPlanReloadPortZero(t *testing.T) {
	prev := configs.Default()
	prev.Listen.RTMP, prev.Listen.HTTP, prev.Listen.API = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	bound := []sockSpec{{name: "rtmp", network: netTCP, addr: "127.0.0.1:40001"}, {name: "http", network: netTCP, addr: "127.0.0.1:40002"}}
	same := *prev
	named := *prev
	named.Listen.RTMP, named.Listen.API = "127.0.0.1:40001", "127.0.0.1:40003"
	for _, next := range []*configs.Config{&same, &named} {
		if got := planReload(prev, next, bound, "127.0.0.1:40003", 2, 2); got != (reloadPlan{workers: 2}) {
			t.Errorf("reload to %+v: %+v, want nothing to change", next.Listen, got)
		}
	}
}
