package configs

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// keyIndex records where each key of a parsed file sits, so messages about
// a key path ("rtmp.chunk_size") or a line can be tied to each other.
type keyIndex struct {
	entries []keyEntry
}

type keyEntry struct {
	path       string // dotted, e.g. "play.queue_length"
	key, value *yaml.Node
}

func newKeyIndex(doc *yaml.Node) *keyIndex {
	ix := &keyIndex{}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		ix.walk("", doc.Content[0])
	}
	return ix
}

// walk does not follow aliases: a key reached only through an anchor has no
// line of its own, and its messages fall back to line 0.
func (ix *keyIndex) walk(prefix string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := k.Value
		if prefix != "" {
			path = prefix + "." + path
		}
		ix.entries = append(ix.entries, keyEntry{path: path, key: k, value: v})
		ix.walk(path, v)
	}
}

// line returns the line of the key at path, or 0 when the file does not
// set it.
func (ix *keyIndex) line(path string) int {
	for _, e := range ix.entries {
		if e.path == path {
			return e.key.Line
		}
	}
	return 0
}

// lineNear is line, falling back to the nearest enclosing key the file
// sets: a required key that is missing is best reported where its section is.
func (ix *keyIndex) lineNear(path string) int {
	for {
		if l := ix.line(path); l > 0 {
			return l
		}
		i := strings.LastIndex(path, ".")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

// keyAt finds the key named name written on line.
func (ix *keyIndex) keyAt(line int, name string) *keyEntry {
	for i, e := range ix.entries {
		if e.key.Line == line && e.key.Value == name {
			return &ix.entries[i]
		}
	}
	return nil
}

// valueAt finds the key whose value starts on line and satisfies match.
// Several keys can share a line (a flow mapping, or a section and its first
// child, whose mapping starts where that child does), hence the predicate.
func (ix *keyIndex) valueAt(line int, match func(path string, v *yaml.Node) bool) *keyEntry {
	for i, e := range ix.entries {
		if e.value.Line == line && match(e.path, e.value) {
			return &ix.entries[i]
		}
	}
	return nil
}
