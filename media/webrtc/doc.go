// Package webrtc serves WebRTC publishers (WHIP) and players (WHEP) from the
// hub, over one UDP socket that the caller hands in.
//
// It knows nothing of processes: a Server is a hub, a net.PacketConn and a
// Config. Every PeerConnection of the server shares one pion API, whose
// SettingEngine routes all ICE traffic through one ICEUDPMux over that
// socket, so a worker needs exactly one UDP port whatever its session count.
//
// Streams live in the hub in FLV form, like an RTMP publish, so that every
// other protocol and the cross-worker relay (RTMP over a unix socket) can
// carry them: a WHIP publisher's H.264 is depacketized into AVC access units
// behind an AVC sequence header built from its SPS and PPS, and its Opus is
// carried as enhanced-RTMP audio (SoundFormat 9, FourCC "Opus"). WHEP players
// turn the hub's messages back into RTP. Each message is packetized once per
// stream (packets.go); every player sends the same payloads and rewrites only
// its own RTP header (sequence number, timestamp base, SSRC and payload type).
//
// Signalling is plain HTTP (http.go): WHIP and WHEP (RFC 9725 and the WHEP
// draft) at /rtc/v1/whip/?app=&stream= and /{app}/{stream}/whip (whep
// likewise), and SRS's JSON API at /rtc/v1/publish/ and /rtc/v1/play/.
package webrtc
