package bench

import (
	"errors"
	"fmt"
	"io"
	"os"

	"streamedge/media/flv"
)

// maxFileSize bounds the FLV a publisher loads: it is held in memory and
// shared by every publisher.
const maxFileSize = 1 << 30

// flvFile is an FLV file's tags, timestamps rebased to start at 0.
type flvFile struct {
	tags []flv.Tag
	// span is the file's duration plus one frame: how far the timestamps
	// move on each loop, so the stream's clock never stops or jumps back.
	span  uint32
	bytes uint64
}

func loadFLV(path string) (*flvFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d a publisher loads", path, fi.Size(), maxFileSize)
	}
	r := flv.NewReader(f)
	if _, _, err := r.ReadHeader(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var ff flvFile
	var media, videoFrames int
	var lastVideo uint32
	for {
		tag, err := r.ReadTag()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(ff.tags) > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
				break // a file cut short while recording: play what is whole
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch tag.Type {
		case flv.TagAudio, flv.TagVideo:
			media++
		case flv.TagScript:
		default:
			continue
		}
		if tag.Type == flv.TagVideo {
			videoFrames++
			lastVideo = tag.Timestamp
		}
		ff.tags = append(ff.tags, tag)
		ff.bytes += uint64(len(tag.Data))
	}
	if media == 0 {
		return nil, fmt.Errorf("%s: no audio or video tags", path)
	}
	base := ff.tags[0].Timestamp
	var last uint32
	for i := range ff.tags {
		ff.tags[i].Timestamp -= min(base, ff.tags[i].Timestamp)
		last = max(last, ff.tags[i].Timestamp)
	}
	frame := uint32(40)
	if videoFrames > 1 && lastVideo > base {
		frame = max(1, (lastVideo-base)/uint32(videoFrames-1))
	}
	ff.span = last + frame
	return &ff, nil
}

// bitrate is the file's average media bitrate.
func (ff *flvFile) bitrate() float64 {
	return float64(ff.bytes) * 8 / (float64(ff.span) / 1000)
}

// fileLoop plays a file over and over with rising timestamps.
type fileLoop struct {
	f      *flvFile
	i      int
	offset uint32
}

func (l *fileLoop) next() flv.Tag {
	t := l.f.tags[l.i]
	t.Timestamp += l.offset
	l.i++
	if l.i == len(l.f.tags) {
		l.i = 0
		l.offset += l.f.span
	}
	return t
}
