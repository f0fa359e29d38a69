package transcode

import "slices"

// maxDrift is how far, in ms, the output's sample clock may be from the
// input's times before it follows them. Within it is the input's jitter:
// FLV rounds to whole ms, publishers stamp audio a few ms unevenly, one
// lost 20 ms Opus packet. Beyond it the input skipped ahead (packets lost,
// a paused publisher, Opus DTX silence) or went back (a clock reset), and
// audio and video would audibly part.
const maxDrift = 50

// clock stamps output packets. Their times count samples from the first
// input's time, so a long stream never drifts and packets are spaced by
// exactly their length, never overlapping. It follows the input only at a
// discontinuity, measured exactly: it knows which input packet each output
// sample came from, so the samples the codecs hold back (a fifo of up to a
// frame, the encoder's lookahead) are no false gap. When the input is
// ahead by more than maxDrift it leaves a gap of whole output frames, so
// the output stays on its sample grid; when it is behind, the output goes
// on and the input's new times are taken as the reference. Output times
// never go back.
type clock struct {
	rate     int64 // output samples per second
	started  bool
	originMS int64    // the time of grid sample 0: the first input's
	fed      int64    // samples the codec has queued
	pos      int64    // samples given out
	gap      int64    // grid samples left empty: the grid position of pos is pos+gap
	skew     int64    // ms added to input times since the input last went back
	anchors  []anchor // input packets, from the one that holds sample pos on
}

// anchor is where an input packet's samples start in the codec's queue.
type anchor struct {
	at, ms int64
}

// input notes that an input packet presented at ms queued n samples.
func (c *clock) input(ms int64, n int) {
	if !c.started {
		c.started, c.originMS = true, ms
	}
	if n > 0 {
		c.anchors = append(c.anchors, anchor{at: c.fed, ms: ms})
		c.fed += int64(n)
	}
}

// output returns the time of the next output packet, of n samples, and
// moves past it.
func (c *clock) output(n int) int64 {
	k := 0
	for k+1 < len(c.anchors) && c.anchors[k+1].at <= c.pos {
		k++
	}
	c.anchors = slices.Delete(c.anchors, 0, k)
	if len(c.anchors) > 0 {
		a := c.anchors[0]
		want := a.ms + c.skew + (c.pos-a.at)*1000/c.rate // the input's time of sample pos
		switch d := want - c.ms(c.pos+c.gap); {
		case d > maxDrift:
			frame := max(int64(n), 1)
			c.gap += d * c.rate / 1000 / frame * frame
		case d < -maxDrift:
			c.skew -= d
		}
	}
	ms := c.ms(c.pos + c.gap)
	c.pos += int64(n)
	return ms
}

// ms is the time of a grid position.
func (c *clock) ms(sample int64) int64 { return c.originMS + sample*1000/c.rate }
