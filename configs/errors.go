package configs

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem found in a config file. Parse and Load return these,
// joined with errors.Join when there are several, so callers can recover
// the position with errors.As.
type Error struct {
	File string // empty for problems not tied to a file (Validate)
	Line int    // 0 when unknown, e.g. the value came from the defaults
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line <= 0:
		return e.File + ": " + e.Msg
	default:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
}

// The shapes of yaml.v3 v3.0.1 messages that are worth rewriting. Anything
// else keeps yaml's wording and only has its line moved up front.
var (
	// (?s): yaml quotes values verbatim, and they may span lines.
	syntaxRe    = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)
	lineRe      = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	unknownRe   = regexp.MustCompile(`(?s)^field (.*) not found in type \S+$`)
	duplicateRe = regexp.MustCompile(`(?s)^mapping key (".*") already defined at line (\d+)$`)
	typeRe      = regexp.MustCompile("(?s)^cannot unmarshal (\\S+)(?: `(.*)`)? into (\\S+)$")
	durationRe  = regexp.MustCompile(`^invalid duration(?: ("(?:[^"\\]|\\.)*"))?`)
	rateRe      = regexp.MustCompile(`^invalid rate ("(?:[^"\\]|\\.)*")`)
)

// syntaxError turns yaml's "yaml: line 7: msg" into "NAME:7: yaml: msg".
func syntaxError(name string, err error) *Error {
	if m := syntaxRe.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: oneLine("yaml: " + m[2])}
	}
	return &Error{File: name, Msg: oneLine(err.Error())}
}

// decodeError rewrites one entry of a *yaml.TypeError, which speaks in Go
// types and struct names, into terms of the keys the user wrote.
func (ix *keyIndex) decodeError(name, msg string) *Error {
	m := lineRe.FindStringSubmatch(msg)
	if m == nil {
		return &Error{File: name, Msg: oneLine(msg)}
	}
	line, _ := strconv.Atoi(m[1])
	return &Error{File: name, Line: line, Msg: oneLine(ix.rewrite(line, m[2]))}
}

// oneLine keeps a message that quotes raw YAML on one line, as callers
// split joined errors on newlines.
func oneLine(msg string) string {
	return strings.ReplaceAll(msg, "\n", `\n`)
}

func (ix *keyIndex) rewrite(line int, msg string) string {
	if m := unknownRe.FindStringSubmatch(msg); m != nil {
		e := ix.keyAt(line, m[1])
		if e == nil {
			return fmt.Sprintf("unknown key %q", m[1])
		}
		return fmt.Sprintf("unknown key %q", e.path)
	}
	if m := duplicateRe.FindStringSubmatch(msg); m != nil {
		key, err := strconv.Unquote(m[1])
		if e := ix.keyAt(line, key); err == nil && e != nil {
			return fmt.Sprintf("key %q is set twice (first at line %s)", e.path, m[2])
		}
		return msg
	}
	if m := typeRe.FindStringSubmatch(msg); m != nil {
		return ix.typeMismatch(line, m[1], m[2], m[3])
	}
	if m := durationRe.FindStringSubmatch(msg); m != nil {
		want, _ := strconv.Unquote(m[1])
		e := ix.valueAt(line, func(path string, v *yaml.Node) bool {
			if fieldTypes()[path] != reflect.TypeFor[Duration]() {
				return false
			}
			if m[1] == "" {
				return v.Kind != yaml.ScalarNode
			}
			return v.Kind == yaml.ScalarNode && v.Value == want
		})
		if e != nil {
			return e.path + ": " + msg
		}
	}
	if m := rateRe.FindStringSubmatch(msg); m != nil {
		want, _ := strconv.Unquote(m[1])
		e := ix.valueAt(line, func(path string, v *yaml.Node) bool {
			return fieldTypes()[path] == reflect.TypeFor[Rate]() && v.Value == want
		})
		if e != nil {
			return e.path + ": " + msg
		}
	}
	return msg
}

// typeMismatch explains "cannot unmarshal !!str `abc` into int". yaml
// truncates long values in that message, so the value shown is taken from
// the document when the key can be found.
func (ix *keyIndex) typeMismatch(line int, tag, shown, goType string) string {
	if goType == "configs.Config" {
		return "the file must be a mapping of keys, got " + describe(tag, shown)
	}
	prefix := strings.TrimSuffix(shown, "...")
	e := ix.valueAt(line, func(path string, v *yaml.Node) bool {
		t := fieldTypes()[path]
		return t != nil && t.String() == goType &&
			v.ShortTag() == tag && strings.HasPrefix(v.Value, prefix)
	})
	if e == nil {
		return fmt.Sprintf("want %s, got %s", describeType(goType), describe(tag, shown))
	}
	return fmt.Sprintf("%s must be %s, got %s", e.path, describeType(goType), describeNode(e.value))
}

func describeNode(n *yaml.Node) string {
	return describe(n.ShortTag(), n.Value)
}

func describe(tag, value string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!str":
		return strconv.Quote(value)
	case "!!int", "!!float", "!!bool", "!!null":
		return value
	}
	return tag + " " + strconv.Quote(value)
}

func describeType(goType string) string {
	switch goType {
	case "int", "int64", "uint", "uint64":
		return "an integer"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	}
	if strings.HasPrefix(goType, "configs.") {
		return "a mapping" // every named type but Duration is a section struct
	}
	return "a value of type " + goType
}
