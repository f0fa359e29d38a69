package amf

import (
	"encoding/binary"
	"math"
	"sort"
)

// Property is one key of an object written in a fixed order; replies such as
// onStatus read better in a capture with code before description.
type Property struct {
	Key   string
	Value any
}

// Append encodes values after dst. It takes float64 (and int), bool, string,
// nil, []Property (an object in that order) and Object (keys sorted).
func Append(dst []byte, values ...any) []byte {
	for _, v := range values {
		dst = appendValue(dst, v)
	}
	return dst
}

func appendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case float64:
		return appendNumber(dst, v)
	case int:
		return appendNumber(dst, float64(v))
	case uint32:
		return appendNumber(dst, float64(v))
	case bool:
		b := byte(0)
		if v {
			b = 1
		}
		return append(dst, markerBoolean, b)
	case string:
		if len(v) > math.MaxUint16 {
			dst = append(dst, markerLongString)
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
			return append(dst, v...)
		}
		dst = append(dst, markerString)
		return appendKey(dst, v)
	case []Property:
		dst = append(dst, markerObject)
		for _, p := range v {
			dst = appendValue(appendKey(dst, p.Key), p.Value)
		}
		return append(dst, 0, 0, markerObjectEnd)
	case Object:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		props := make([]Property, 0, len(keys))
		for _, k := range keys {
			props = append(props, Property{k, v[k]})
		}
		return appendValue(dst, props)
	case []any:
		dst = append(dst, markerStrictArray)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		for _, e := range v {
			dst = appendValue(dst, e)
		}
		return dst
	default: // nil and anything we do not send
		return append(dst, markerNull)
	}
}

func appendNumber(dst []byte, f float64) []byte {
	dst = append(dst, markerNumber)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
}

func appendKey(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}
