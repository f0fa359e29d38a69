// Package access decides who may publish and play: SRS-compatible HTTP hooks
// (on_connect, on_publish, on_play and the fire-and-forget on_unpublish,
// on_stop) and signed URLs checked without an outside service.
//
// It knows nothing of protocols: a server describes a session as a Request
// and gets back nil or a *Denied that says why, in words fit to send to the
// client. Hooks run in the worker that holds the session, so a slow hook
// server stalls only the session that waits on it, never the master or other
// sessions.
package access
