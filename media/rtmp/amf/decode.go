package amf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// AMF0 type markers.
const (
	markerNumber      = 0x00
	markerBoolean     = 0x01
	markerString      = 0x02
	markerObject      = 0x03
	markerNull        = 0x05
	markerUndefined   = 0x06
	markerECMAArray   = 0x08
	markerObjectEnd   = 0x09
	markerStrictArray = 0x0A
	markerDate        = 0x0B
	markerLongString  = 0x0C
)

// maxDepth bounds object nesting; real commands nest two or three levels.
const maxDepth = 32

// Errors for malformed input.
var (
	ErrTruncated   = errors.New("amf: value truncated")
	ErrTooDeep     = errors.New("amf: values nested too deep")
	ErrUnsupported = errors.New("amf: unsupported type marker")
	ErrTooLarge    = errors.New("amf: decoded values over the budget")
	ErrLongString  = errors.New("amf: string longer than the limit")
)

// Limits bound what one Decode may cost. The wire size alone is no bound:
// a strict array of nulls costs one byte per element on the wire and 16 in
// memory, an object of empty keys three bytes against a map entry.
type Limits struct {
	// MaxCost is the budget, in bytes of memory the decoded values are
	// estimated to take (see cost below).
	MaxCost int
	// MaxString is the longest string accepted, key or value.
	MaxString int
}

// CommandLimits fit every RTMP command a client sends: a connect from
// ffmpeg, OBS or a Flash player decodes to about 1 KiB, and its longest
// string, the tcUrl, is a URL (browsers and servers cap those at 2-8 KiB).
var CommandLimits = Limits{MaxCost: 64 << 10, MaxString: 4096}

// Estimated memory of decoded values, per kind: an interface slot for every
// value, the box behind a float64, string headers, map and slice headers and
// a map entry's share of its buckets. Rough, but within a small factor of
// what the runtime really takes, which is all a budget needs.
const (
	costSlot   = 16
	costNumber = 8
	costString = 16
	costMap    = 48
	costEntry  = 48
	costSlice  = 24
)

// Object is an AMF object or ECMA array. Key order is not kept: no command
// we handle depends on it.
type Object map[string]any

// Decode reads every value in b: a command is name, transaction id, command
// object and arguments one after another. Numbers decode to float64, strings
// to string, booleans to bool, null and undefined to nil, objects and ECMA
// arrays to Object, strict arrays to []any and dates to float64 (ms).
//
// Decoding stops with ErrTooLarge as soon as the values would cost more
// than lim.MaxCost, before the memory is taken.
func Decode(b []byte, lim Limits) ([]any, error) {
	d := decoder{b: b, lim: lim}
	var vals []any
	for len(d.b) > 0 {
		if err := d.charge(costSlot); err != nil {
			return vals, fmt.Errorf("value %d: %w", len(vals), err)
		}
		v, err := d.value(0)
		if err != nil {
			return vals, fmt.Errorf("value %d: %w", len(vals), err)
		}
		vals = append(vals, v)
	}
	return vals, nil
}

type decoder struct {
	b    []byte
	lim  Limits
	cost int
}

// charge adds n bytes to the decoded cost.
func (d *decoder) charge(n int) error {
	d.cost += n
	if d.cost > d.lim.MaxCost {
		return fmt.Errorf("%w of %d bytes", ErrTooLarge, d.lim.MaxCost)
	}
	return nil
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.b) {
		return nil, ErrTruncated
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v, nil
}

func (d *decoder) u16() (int, error) {
	v, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(v)), nil
}

func (d *decoder) u32() (uint32, error) {
	v, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(v), nil
}

func (d *decoder) str(n int) (string, error) {
	if n > d.lim.MaxString {
		return "", fmt.Errorf("%w of %d bytes (%d)", ErrLongString, d.lim.MaxString, n)
	}
	if err := d.charge(costString + n); err != nil {
		return "", err
	}
	v, err := d.take(n)
	return string(v), err
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, ErrTooDeep
	}
	m, err := d.take(1)
	if err != nil {
		return nil, err
	}
	switch m[0] {
	case markerNumber:
		if err := d.charge(costNumber); err != nil {
			return nil, err
		}
		v, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(v)), nil
	case markerBoolean:
		v, err := d.take(1)
		if err != nil {
			return nil, err
		}
		return v[0] != 0, nil
	case markerString:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		return d.str(n)
	case markerLongString:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.str(int(min(n, math.MaxInt32)))
	case markerNull, markerUndefined:
		return nil, nil
	case markerObject:
		return d.object(depth)
	case markerECMAArray:
		if _, err := d.take(4); err != nil { // the count is a hint; the end marker decides
			return nil, err
		}
		return d.object(depth)
	case markerStrictArray:
		return d.array(depth)
	case markerDate:
		if err := d.charge(costNumber); err != nil {
			return nil, err
		}
		v, err := d.take(10) // float64 ms + int16 time zone
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(v)), nil
	default:
		return nil, fmt.Errorf("%w 0x%02x", ErrUnsupported, m[0])
	}
}

func (d *decoder) object(depth int) (Object, error) {
	if err := d.charge(costMap); err != nil {
		return nil, err
	}
	obj := Object{}
	for {
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		key, err := d.str(n)
		if err != nil {
			return nil, err
		}
		if key == "" && len(d.b) > 0 && d.b[0] == markerObjectEnd {
			d.b = d.b[1:]
			return obj, nil
		}
		if err := d.charge(costEntry); err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
}

func (d *decoder) array(depth int) ([]any, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	// Every element takes at least one byte: a longer claim is a lie.
	if int64(n) > int64(len(d.b)) {
		return nil, ErrTruncated
	}
	// Charged before make: the slice is the whole cost of an array of nulls.
	if err := d.charge(costSlice + costSlot*int(n)); err != nil {
		return nil, err
	}
	arr := make([]any, 0, n)
	for range n {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	return arr, nil
}
