package configs

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// fieldTypes maps every key path Config understands ("rtmp.chunk_size") to
// its Go type. It lets messages about a line pick the right key when
// several share that line, and spots values yaml.v3 would accept loosely.
var fieldTypes = sync.OnceValue(func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			path, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if prefix != "" {
				path = prefix + "." + path
			}
			m[path] = f.Type
			if f.Type.Kind() == reflect.Struct {
				walk(path, f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return m
})

// floatsForInts reports floats written for integer keys: yaml.v3 truncates
// them without complaint, so "workers: 1.5" would quietly mean 1.
func (ix *keyIndex) floatsForInts(name string) []*Error {
	var errs []*Error
	for _, e := range ix.entries {
		t, ok := fieldTypes()[e.path]
		v := e.value
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if ok && t.Kind() == reflect.Int && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!float" {
			errs = append(errs, &Error{
				File: name,
				Line: e.value.Line,
				Msg:  fmt.Sprintf("%s must be an integer, got %s", e.path, v.Value),
			})
		}
	}
	return errs
}
