package supervisor

import (
	"errors"
	"net"
	"testing"

	"streamedge/configs"
)

func TestHostBytesOutMax(t *testing.T) {
	nics := []nic{
		{name: "lo", loopback: true, up: true, addrs: []net.IP{net.ParseIP("127.0.0.1")}},
		{name: "eth0", up: true, addrs: []net.IP{net.ParseIP("10.0.0.5")}},
		{name: "eth1", up: true, addrs: []net.IP{net.ParseIP("192.168.1.5")}},
		{name: "virt0", up: true, addrs: []net.IP{net.ParseIP("172.16.0.1")}},
		{name: "down0", up: false, addrs: []net.IP{net.ParseIP("172.17.0.1")}},
	}
	speeds := map[string]int{"eth0": 10000, "eth1": 1000, "virt0": -1, "down0": 40000}
	speed := func(n string) (int, error) {
		if s, ok := speeds[n]; ok {
			return s, nil
		}
		return 0, errors.New("no such file")
	}
	for _, tc := range []struct {
		name   string
		set    configs.Rate
		listen []string
		want   float64
	}{
		{"configured wins", 5e8, []string{"0.0.0.0:1935"}, 5e8},
		{"0 is no limit", 0, []string{"0.0.0.0:1935"}, 0},
		{"every interface: known speeds summed", configs.RateAuto, []string{"0.0.0.0:1935", ":8080"}, 0.8 * 11000e6 / 8},
		{"one address: its interface", configs.RateAuto, []string{"10.0.0.5:1935"}, 0.8 * 10000e6 / 8},
		{"loopback only: unknown", configs.RateAuto, []string{"127.0.0.1:1935"}, 0},
		{"speed -1: unknown", configs.RateAuto, []string{"172.16.0.1:1935"}, 0},
	} {
		got, why := hostBytesOutMax(tc.set, tc.listen, nics, speed)
		if got != tc.want || why == "" {
			t.Errorf("%s: %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
}
