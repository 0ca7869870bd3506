// Package openapi checks JSON against an OpenAPI 3.0 document, so that the document
// is the contract between a server and its clients: a real response must have the
// shape its operation declares (no field the document does not declare, every
// required field present, every value of the declared type), and every field a client
// reads must be one the document declares.
//
// It understands the part of OpenAPI 3.0 the console's document uses: local $ref,
// type, properties, required, additionalProperties (true, false or a schema), items,
// nullable, enum, allOf (merged: a field declared by any member is declared), oneOf
// and anyOf. An object schema that declares properties allows no other field unless
// additionalProperties says otherwise; a schema with neither (e.g. {} or a bare
// `type: object`) allows anything. Formats, patterns, lengths and numeric ranges are
// not checked.
//
// The console's document is agent/console/openapi.yaml (served at GET /openapi.yaml);
// Handler checks every response of a test console, or of a reverse proxy to a real one.
package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Doc is a loaded OpenAPI document.
type Doc struct {
	doc document
}

// document is the part of an OpenAPI document the checks read.
type document struct {
	OpenAPI    string               `yaml:"openapi"`
	Paths      map[string]*pathItem `yaml:"paths"`
	Components struct {
		Schemas   map[string]*Schema   `yaml:"schemas"`
		Responses map[string]*response `yaml:"responses"`
	} `yaml:"components"`
}

// pathItem is one path's operations.
type pathItem struct {
	Get    *operation `yaml:"get"`
	Put    *operation `yaml:"put"`
	Post   *operation `yaml:"post"`
	Delete *operation `yaml:"delete"`
	Patch  *operation `yaml:"patch"`
}

// operation is one method of a path.
type operation struct {
	OperationID string               `yaml:"operationId"`
	Responses   map[string]*response `yaml:"responses"`
}

// response is one status of an operation, or a $ref to components/responses.
type response struct {
	Ref     string               `yaml:"$ref"`
	Content map[string]mediaType `yaml:"content"`
}

// mediaType is the schema of one content type of a response.
type mediaType struct {
	Schema *Schema `yaml:"schema"`
}

// Schema is an OpenAPI schema object (the part the checks read).
type Schema struct {
	Ref                  string             `yaml:"$ref"`
	Type                 string             `yaml:"type"`
	Properties           map[string]*Schema `yaml:"properties"`
	Required             []string           `yaml:"required"`
	AdditionalProperties *Additional        `yaml:"additionalProperties"`
	Items                *Schema            `yaml:"items"`
	Nullable             bool               `yaml:"nullable"`
	Enum                 []any              `yaml:"enum"`
	AllOf                []*Schema          `yaml:"allOf"`
	OneOf                []*Schema          `yaml:"oneOf"`
	AnyOf                []*Schema          `yaml:"anyOf"`
}

// Additional is additionalProperties: a boolean, or a schema for every other field.
type Additional struct {
	Allowed bool    // true, or a schema
	Schema  *Schema // nil for a boolean
}

// UnmarshalYAML reads additionalProperties as a boolean or a schema.
func (a *Additional) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&a.Allowed)
	}
	a.Allowed, a.Schema = true, &Schema{}
	return n.Decode(a.Schema)
}

// Parse reads an OpenAPI 3.0 document in YAML (or JSON).
func Parse(b []byte) (*Doc, error) {
	var d Doc
	if err := yaml.Unmarshal(b, &d.doc); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	if !strings.HasPrefix(d.doc.OpenAPI, "3.") {
		return nil, fmt.Errorf("openapi: not an OpenAPI 3 document (openapi: %q)", d.doc.OpenAPI)
	}
	return &d, nil
}

// Load reads the OpenAPI document in the file path.
func Load(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return Parse(b)
}

// Error lists what does not agree with the document, one problem a line.
type Error struct {
	// Op is the operation and status checked, e.g. "GET /api/v1/doors 200".
	Op string
	// Problems are each "$.path: what is wrong".
	Problems []string
}

// Error is the operation and its problems.
func (e *Error) Error() string {
	return fmt.Sprintf("openapi: %s: %s", e.Op, strings.Join(e.Problems, "; "))
}

// Match returns the path pattern of the document (e.g. /api/v1/doors/{id}/unlock)
// that the request path p matches with the method, preferring literal segments over
// parameters; ok is false when none does.
func (d *Doc) Match(method, p string) (pattern string, ok bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	best := -1
	for pat, item := range d.doc.Paths {
		if item.op(method) == nil {
			continue
		}
		ps := strings.Split(strings.Trim(pat, "/"), "/")
		if len(ps) != len(segs) {
			continue
		}
		literal := 0
		for i, s := range ps {
			switch {
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && segs[i] != "":
			case s == segs[i]:
				literal++
			default:
				literal = -1
			}
			if literal < 0 {
				break
			}
		}
		if literal > best || (literal == best && pat < pattern) {
			best, pattern = literal, pat
		}
	}
	return pattern, best >= 0
}

// op is the item's operation for method, or nil.
func (p *pathItem) op(method string) *operation {
	if p == nil {
		return nil
	}
	switch strings.ToUpper(method) {
	case http.MethodGet:
		return p.Get
	case http.MethodPut:
		return p.Put
	case http.MethodPost:
		return p.Post
	case http.MethodDelete:
		return p.Delete
	case http.MethodPatch:
		return p.Patch
	}
	return nil
}

// response finds the response the document declares for method, the path pattern
// and status (its exact code, else NXX, else default), with $ref resolved.
func (d *Doc) response(method, pattern string, status int) (*response, error) {
	op := d.doc.Paths[pattern].op(method)
	if op == nil {
		return nil, fmt.Errorf("openapi: no operation %s %s in the document", method, pattern)
	}
	code := strconv.Itoa(status)
	r := op.Responses[code]
	if r == nil {
		r = op.Responses[code[:1]+"XX"]
	}
	if r == nil {
		r = op.Responses["default"]
	}
	if r == nil {
		return nil, fmt.Errorf("openapi: %s %s declares no response %d", method, pattern, status)
	}
	for i := 0; r.Ref != "" && i < 8; i++ {
		name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
		if !ok || d.doc.Components.Responses[name] == nil {
			return nil, fmt.Errorf("openapi: %s %s %d: unresolved $ref %q", method, pattern, status, r.Ref)
		}
		r = d.doc.Components.Responses[name]
	}
	return r, nil
}

// JSONSchema is the application/json schema of the response to method and the path
// pattern with status.
func (d *Doc) JSONSchema(method, pattern string, status int) (*Schema, error) {
	r, err := d.response(method, pattern, status)
	if err != nil {
		return nil, err
	}
	mt, ok := r.Content["application/json"]
	if !ok || mt.Schema == nil {
		return nil, fmt.Errorf("openapi: %s %s %d has no application/json content", method, pattern, status)
	}
	return mt.Schema, nil
}

// CheckResponse checks the JSON body of a response against the schema the document
// declares for method, the path pattern (or a request path matching one) and status.
// Its error is an *Error listing every problem.
func (d *Doc) CheckResponse(method, path string, status int, body []byte) error {
	pattern, ok := d.pattern(method, path)
	if !ok {
		return fmt.Errorf("openapi: no operation %s %s in the document", method, path)
	}
	s, err := d.JSONSchema(method, pattern, status)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return &Error{Op: fmt.Sprintf("%s %s %d", method, pattern, status), Problems: []string{"$: not JSON: " + err.Error()}}
	}
	if probs := d.validate(s, v, "$", 0); len(probs) > 0 {
		return &Error{Op: fmt.Sprintf("%s %s %d", method, pattern, status), Problems: probs}
	}
	return nil
}

// CheckContentType checks that the document declares content of the media type
// contentType (its parameters ignored) for the response, or no content for an
// empty body.
func (d *Doc) CheckContentType(method, path string, status int, contentType string, empty bool) error {
	pattern, ok := d.pattern(method, path)
	if !ok {
		return fmt.Errorf("openapi: no operation %s %s in the document", method, path)
	}
	r, err := d.response(method, pattern, status)
	if err != nil {
		return err
	}
	if empty && len(r.Content) == 0 {
		return nil
	}
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	if _, ok := r.Content[mt]; !ok {
		types := make([]string, 0, len(r.Content))
		for t := range r.Content {
			types = append(types, t)
		}
		sort.Strings(types)
		return &Error{Op: fmt.Sprintf("%s %s %d", method, pattern, status),
			Problems: []string{fmt.Sprintf("content type %q, the document declares %v", contentType, types)}}
	}
	return nil
}

// pattern is path itself if it is a pattern of the document, else the one it matches.
func (d *Doc) pattern(method, path string) (string, bool) {
	if d.doc.Paths[path].op(method) != nil {
		return path, true
	}
	return d.Match(method, path)
}

// resolve follows s's $ref, if any, to components/schemas.
func (d *Doc) resolve(s *Schema) (*Schema, error) {
	for i := 0; s != nil && s.Ref != ""; i++ {
		name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
		if !ok || d.doc.Components.Schemas[name] == nil || i > 16 {
			return nil, fmt.Errorf("unresolved $ref %q", s.Ref)
		}
		s = d.doc.Components.Schemas[name]
	}
	return s, nil
}

// merged is a schema with its $ref resolved and its allOf members folded in.
type merged struct {
	types      []string // the declared types (all must hold)
	nullable   bool
	properties map[string][]*Schema // a field's schemas, from every member declaring it
	required   []string
	declares   bool // some member declares properties
	// additional: nil when no member says; else the members' schemas (a nil entry
	// for true), or closed when a member says false and none allows more.
	additional []*Schema
	closed     bool
	items      []*Schema
	enums      [][]any
	oneOf      [][]*Schema // oneOf and anyOf groups: one alternative of each must hold
}

// merge resolves s and folds its allOf members in.
func (d *Doc) merge(s *Schema, depth int) (*merged, error) {
	m := &merged{properties: map[string][]*Schema{}}
	if err := d.mergeInto(m, s, depth, true); err != nil {
		return nil, err
	}
	return m, nil
}

func (d *Doc) mergeInto(m *merged, s *Schema, depth int, outer bool) error {
	if depth > 32 {
		return errors.New("schema nested too deep (a $ref cycle?)")
	}
	s, err := d.resolve(s)
	if err != nil {
		return err
	}
	if s == nil {
		return nil
	}
	if outer && s.Nullable {
		m.nullable = true
	}
	if s.Type != "" {
		m.types = append(m.types, s.Type)
	}
	for name, p := range s.Properties {
		m.properties[name] = append(m.properties[name], p)
	}
	if len(s.Properties) > 0 {
		m.declares = true
	}
	m.required = append(m.required, s.Required...)
	if a := s.AdditionalProperties; a != nil {
		switch {
		case a.Schema != nil:
			m.additional = append(m.additional, a.Schema)
		case a.Allowed:
			m.additional = append(m.additional, nil)
		default:
			m.closed = true
		}
	}
	if s.Items != nil {
		m.items = append(m.items, s.Items)
	}
	if len(s.Enum) > 0 {
		m.enums = append(m.enums, s.Enum)
	}
	if len(s.OneOf) > 0 {
		m.oneOf = append(m.oneOf, s.OneOf)
	}
	if len(s.AnyOf) > 0 {
		m.oneOf = append(m.oneOf, s.AnyOf)
	}
	for _, sub := range s.AllOf {
		// A member's nullable does not make the whole nullable: every member must hold.
		if err := d.mergeInto(m, sub, depth+1, false); err != nil {
			return err
		}
	}
	return nil
}

// validate checks the decoded JSON value v (numbers as json.Number) against s and
// returns its problems, each prefixed with at, v's place in the document.
func (d *Doc) validate(s *Schema, v any, at string, depth int) []string {
	m, err := d.merge(s, depth)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	if v == nil {
		if m.nullable || (len(m.types) == 0 && !m.declares && len(m.items) == 0 && len(m.enums) == 0 && len(m.oneOf) == 0) {
			return nil
		}
		return []string{fmt.Sprintf("%s: null, but the schema is not nullable (type %s)", at, strings.Join(m.types, ", "))}
	}
	var probs []string
	for _, t := range m.types {
		if !hasType(v, t) {
			probs = append(probs, fmt.Sprintf("%s: %s, want %s", at, jsonType(v), t))
		}
	}
	if len(probs) > 0 {
		return probs
	}
	for _, enum := range m.enums {
		if !inEnum(v, enum) {
			probs = append(probs, fmt.Sprintf("%s: %s is not one of %v", at, short(v), enum))
		}
	}
	for _, group := range m.oneOf {
		// Report the problems of the closest alternative: one of v's type, if any,
		// with the fewest problems.
		var best []string
		bestTyped := false
		for i, alt := range group {
			p := d.validate(alt, v, at, depth+1)
			if len(p) == 0 {
				best = nil
				break
			}
			typed := d.typeMatches(alt, v)
			if i == 0 || (typed && !bestTyped) || (typed == bestTyped && len(p) < len(best)) {
				best, bestTyped = p, typed
			}
		}
		probs = append(probs, best...)
	}
	switch v := v.(type) {
	case map[string]any:
		probs = append(probs, d.validateObject(m, v, at, depth)...)
	case []any:
		for i, item := range v {
			for _, is := range m.items {
				probs = append(probs, d.validate(is, item, fmt.Sprintf("%s[%d]", at, i), depth+1)...)
			}
		}
	}
	return probs
}

// typeMatches says whether v is of every type s declares.
func (d *Doc) typeMatches(s *Schema, v any) bool {
	m, err := d.merge(s, 0)
	if err != nil {
		return false
	}
	for _, t := range m.types {
		if !hasType(v, t) {
			return false
		}
	}
	return true
}

// validateObject checks an object's fields against m.
func (d *Doc) validateObject(m *merged, v map[string]any, at string, depth int) []string {
	var probs []string
	seen := map[string]bool{}
	for _, r := range m.required {
		if _, ok := v[r]; !ok && !seen[r] {
			probs = append(probs, fmt.Sprintf("%s: required field %q missing", at, r))
		}
		seen[r] = true
	}
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fat := at + "." + k
		if ps, ok := m.properties[k]; ok {
			for _, p := range ps {
				probs = append(probs, d.validate(p, v[k], fat, depth+1)...)
			}
			continue
		}
		switch {
		case m.additional != nil:
			for _, a := range m.additional {
				if a != nil {
					probs = append(probs, d.validate(a, v[k], fat, depth+1)...)
				}
			}
		case m.closed || m.declares:
			probs = append(probs, fmt.Sprintf("%s: field not in the schema", fat))
		}
	}
	return probs
}

// hasType says whether the JSON value v is of the OpenAPI type t.
func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			_, err = strconv.ParseUint(n.String(), 10, 64)
		}
		return err == nil
	}
	return true // a type this package does not know is not checked
}

// jsonType names the JSON type of v.
func jsonType(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string " + short(v)
	case bool:
		return "boolean"
	case json.Number:
		return "number " + v.String()
	}
	return fmt.Sprintf("%T", v)
}

// short is v as JSON, cut to 40 bytes.
func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		return string(b[:39]) + "…"
	}
	return string(b)
}

// inEnum says whether v is one of enum, compared as their JSON texts (YAML may have
// read a number or a boolean where the JSON has one).
func inEnum(v any, enum []any) bool {
	for _, e := range enum {
		if reflect.DeepEqual(v, e) || fmt.Sprint(v) == fmt.Sprint(e) {
			return true
		}
	}
	return false
}
