package supervisor

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"streamedge/configs"
)

// linkShare is the part of the link a full host may use: SRS's 80 %.
const linkShare = 0.8

// nic is one network interface, as far as link speed goes.
type nic struct {
	name     string
	loopback bool
	up       bool
	addrs    []net.IP
}

// hostBytesOutMax resolves balance.host_bytes_out_max: a figure is used as
// it is; auto is 80 % of the summed link speed of the interfaces the
// listeners use, where the kernel knows it (a VM's virtio NIC often says
// -1), and 0 (no limit) otherwise. The string says how, for the log.
func hostBytesOutMax(set configs.Rate, listen []string, nics []nic, speedMbps func(string) (int, error)) (float64, string) {
	if set != configs.RateAuto {
		return float64(set), "configured"
	}
	used := map[string]bool{}
	for _, addr := range listen {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		ip := net.ParseIP(host)
		for _, n := range nics {
			if !n.up || n.loopback {
				continue
			}
			if host == "" || (ip != nil && ip.IsUnspecified()) {
				used[n.name] = true
				continue
			}
			for _, a := range n.addrs {
				if a.Equal(ip) {
					used[n.name] = true
				}
			}
		}
	}
	var total int
	var known, unknown []string
	for name := range used {
		if mbps, err := speedMbps(name); err == nil && mbps > 0 {
			total += mbps
			known = append(known, fmt.Sprintf("%s %d Mbit/s", name, mbps))
		} else {
			unknown = append(unknown, name)
		}
	}
	if total == 0 {
		return 0, "auto: no link speed known for the listeners' interfaces, no limit"
	}
	why := fmt.Sprintf("auto: %.0f%% of %s", 100*linkShare, strings.Join(known, " + "))
	if len(unknown) > 0 {
		why += " (speed unknown: " + strings.Join(unknown, ", ") + ")"
	}
	return linkShare * float64(total) * 1e6 / 8, why
}

// systemNICs lists the host's interfaces.
func systemNICs() []nic {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []nic
	for _, i := range ifs {
		n := nic{name: i.Name, loopback: i.Flags&net.FlagLoopback != 0, up: i.Flags&net.FlagUp != 0}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				n.addrs = append(n.addrs, ipn.IP)
			}
		}
		out = append(out, n)
	}
	return out
}

// sysSpeed reads /sys/class/net/NAME/speed (Mbit/s; -1 or an error when
// the driver does not know).
func sysSpeed(name string) (int, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/speed")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
