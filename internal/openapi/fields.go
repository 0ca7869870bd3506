package openapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// CheckFields checks that every field path a client reads exists in the schema of
// the response to method, the path pattern (or a request path matching one) and
// status. A path names fields from the top, separated by dots, each followed by "[]"
// where its value is an array whose items the rest reads: "centralConnected",
// "events[].seq", "[].window.start" (the items of a top-level array),
// "residents[].curfew.now". A field of an object whose other fields are a map
// (additionalProperties) may be any name, and so may any field below a free-form
// schema ({} or a bare `type: object`), which the document leaves open. Its error is an *Error naming every path
// the schema lacks.
func (d *Doc) CheckFields(method, path string, status int, fields []string) error {
	pattern, ok := d.pattern(method, path)
	if !ok {
		return fmt.Errorf("openapi: no operation %s %s in the document", method, path)
	}
	s, err := d.JSONSchema(method, pattern, status)
	if err != nil {
		return err
	}
	var probs []string
	for _, f := range fields {
		if err := d.lookup(s, f); err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", f, err))
		}
	}
	if len(probs) > 0 {
		return &Error{Op: fmt.Sprintf("%s %s %d", method, pattern, status), Problems: probs}
	}
	return nil
}

// lookup finds the field path in the schema s.
func (d *Doc) lookup(s *Schema, path string) error {
	cur := []*Schema{s}
	for _, seg := range strings.Split(path, ".") {
		name, arrays := seg, 0
		for strings.HasSuffix(name, "[]") {
			name, arrays = strings.TrimSuffix(name, "[]"), arrays+1
		}
		if name != "" {
			next, err := d.field(cur, name)
			if err != nil {
				return err
			}
			cur = next
		}
		for range arrays {
			next, err := d.items(cur)
			if err != nil {
				return fmt.Errorf("%s: %w", seg, err)
			}
			cur = next
		}
	}
	return nil
}

// alternatives are the schemas a value of the schemas ss may have: the merged
// schemas themselves and their oneOf and anyOf alternatives.
func (d *Doc) alternatives(ss []*Schema) ([]*merged, error) {
	var out []*merged
	for _, s := range ss {
		m, err := d.merge(s, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		for _, group := range m.oneOf {
			alts, err := d.alternatives(group)
			if err != nil {
				return nil, err
			}
			out = append(out, alts...)
		}
	}
	return out, nil
}

// field is the schemas of the field name of an object of the schemas ss.
func (d *Doc) field(ss []*Schema, name string) ([]*Schema, error) {
	ms, err := d.alternatives(ss)
	if err != nil {
		return nil, err
	}
	var out []*Schema
	for _, m := range ms {
		if ps, ok := m.properties[name]; ok {
			out = append(out, ps...)
			continue
		}
		if m.freeForm() {
			out = append(out, &Schema{}) // the document does not say: any field may be there
			continue
		}
		for _, a := range m.additional {
			if a == nil {
				a = &Schema{}
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no field %q in the schema", name)
	}
	return out, nil
}

// freeForm says whether m leaves an object's fields open: no properties declared,
// none forbidden, and of type object or no type.
func (m *merged) freeForm() bool {
	if m.declares || m.closed || m.additional != nil || len(m.items) > 0 || len(m.oneOf) > 0 {
		return false
	}
	for _, t := range m.types {
		if t != "object" {
			return false
		}
	}
	return true
}

// items is the schemas of the items of an array of the schemas ss.
func (d *Doc) items(ss []*Schema) ([]*Schema, error) {
	ms, err := d.alternatives(ss)
	if err != nil {
		return nil, err
	}
	var out []*Schema
	for _, m := range ms {
		out = append(out, m.items...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("not an array in the schema")
	}
	return out, nil
}

// JSONFields lists the field paths (in CheckFields' syntax) that decoding JSON into
// a value of v's type reads: every field by its json tag (or Go name), the fields of
// embedded structs as their own, "[]" after a slice or array, nothing below a map,
// an interface, json.RawMessage or a type that decodes itself (time.Time). Sorted.
func JSONFields(v any) []string {
	var out []string
	walkJSON(reflect.TypeOf(v), "", map[reflect.Type]bool{}, &out)
	sort.Strings(out)
	return out
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walkJSON appends the paths below prefix that a value of t reads.
func walkJSON(t reflect.Type, prefix string, seen map[reflect.Type]bool, out *[]string) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return // []byte is a base64 string
		}
		walkJSON(t.Elem(), prefix+"[]", seen, out)
	case reflect.Struct:
		if seen[t] {
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walkJSON(ft, prefix, seen, out)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			*out = append(*out, p)
			walkJSON(f.Type, p, seen, out)
		}
	}
}
