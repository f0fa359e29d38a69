package worker

import (
	"strings"

	"streamedge/ipc"
)

// kicker is a server whose sessions can be ended one by one by id. It is
// apart from server: a protocol without kicks still fits the table.
type kicker interface {
	kick(id, reason string) bool
}

func (s *rtmpServer) kick(id, reason string) bool { return s.srv.Kick(id, reason) }
func (s *httpServer) kick(id, reason string) bool { return s.flv.Kick(id, reason) }

// clientID is the worker's name for a session: the socket its server
// serves and the server's own id, so a kick finds its server again.
func clientID(socket, id string) string { return socket + "." + id }

// kick ends the session client names, if this worker has it.
func (w *Worker) kick(k *ipc.Kick) *ipc.Kicked {
	socket, id, ok := strings.Cut(k.Client, ".")
	reply := &ipc.Kicked{ID: k.ID}
	if !ok {
		return reply
	}
	for _, s := range w.servers {
		if kc, can := s.(kicker); can && s.name() == socket {
			reply.Found = kc.kick(id, k.Reason)
			break
		}
	}
	return reply
}
