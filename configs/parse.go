package configs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// Load reads the config file at path and parses it with Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The *PathError would repeat the path we already lead with.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: cannot read config: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes data on top of the defaults, so omitted keys keep their
// documented values, and validates the result. name only labels errors,
// which read "NAME:LINE: what is wrong" (or "NAME: ..." when no line
// applies); several problems come back joined, one per line.
func Parse(name string, data []byte) (*Config, error) {
	base, err := defaults()
	if err != nil {
		return nil, fmt.Errorf("configs: embedded default.yaml is invalid: %w", err)
	}
	c := base
	ix, err := decode(&c, name, data)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range c.problems() {
		line := ix.line(p.path)
		if p.missing {
			line = ix.lineNear(p.path)
		}
		errs = append(errs, &Error{File: name, Line: line, Msg: p.msg})
	}
	if err := join(errs); err != nil {
		return nil, err
	}
	return &c, nil
}

// decode is Parse without defaults or validation. It also returns where
// each key of data sits, for validation messages to point at.
func decode(c *Config, name string, data []byte) (*keyIndex, error) {
	// The Node pass is only for positions; yaml.v3 cannot decode a Node
	// with KnownFields, so the strict decode reads data a second time.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(name, err)
	}
	ix := newKeyIndex(&doc)
	return ix, decodeStrict(c, name, data, ix)
}

// decodeStrict decodes the single document in data into c, rejecting keys
// c has no field for.
func decodeStrict(c *Config, name string, data []byte, ix *keyIndex) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) {
		return nil // nothing but comments and blank lines
	}
	var te *yaml.TypeError
	if err != nil && !errors.As(err, &te) {
		return syntaxError(name, err)
	}
	errs := ix.floatsForInts(name)
	if te != nil {
		for _, msg := range te.Errors {
			errs = append(errs, ix.decodeError(name, msg))
		}
	}
	if len(errs) > 0 {
		// Two sources of errors; the reader wants them in file order.
		slices.SortStableFunc(errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = e
		}
		return join(out)
	}
	// A second document would otherwise be silently ignored.
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return syntaxError(name, err)
	default:
		return &Error{File: name, Line: extra.Line, Msg: "only one YAML document is allowed"}
	}
}

// join is errors.Join, except that a lone error is returned as is so its
// type is visible without errors.As.
func join(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
