package supervisor

import (
	"strconv"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// systemd's Type=notify protocol: READY=1 once every slot serves, and
// RELOADING=1 ... READY=1 around a reload, so `systemctl start` and
// `systemctl reload` return when the server is really in that state.
// Outside systemd (no NOTIFY_SOCKET) each call does nothing.

// notifyReady tells systemd the server is up, the first time every slot
// has a ready worker.
func (m *Master) notifyReady() {
	if m.sdReady {
		return
	}
	for _, s := range m.slots {
		if s.proc == nil || s.proc.state != StateReady {
			return
		}
	}
	m.sdReady = true
	m.sdNotify(daemon.SdNotifyReady)
}

// notifyReloading brackets a reload; the returned func says it is over,
// applied or not (a refused file leaves the old config serving).
func (m *Master) notifyReloading() func() {
	// systemd 253+ wants the monotonic time with RELOADING=1, to tell
	// this reload's READY=1 from an older one.
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	m.sdNotify(daemon.SdNotifyReloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10))
	return func() { m.sdNotify(daemon.SdNotifyReady) }
}

func (m *Master) notifyStopping() { m.sdNotify(daemon.SdNotifyStopping) }

func (m *Master) sdNotify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		m.log.Warn("systemd notify failed", "state", state, "err", err)
	}
}
