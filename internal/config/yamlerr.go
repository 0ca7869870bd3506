package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// minimal is what each kind of file must hold at least, for the message about an
// empty file.
func minimal(v any) string {
	switch v.(type) {
	case *Agent:
		return "an agent configuration needs at least site, key, database, bus.broker, central.broker and devices.bridgeConfig; see configs/agent.yaml"
	case *Bridge:
		return "a bridge configuration needs at least site, stateDir and bus.broker, and its osdp lines and doors; see configs/bridge.yaml"
	case *Central:
		return "a central configuration needs at least database, broker.broker and trust; see configs/central.yaml"
	case *[]Resident:
		return "a roster file is a YAML list of people, e.g. - {crn: X123456, cards: [\"12:10001\"]}; write [] for nobody"
	}
	return "write the configuration as field: value lines"
}

// decodeYAML decodes the YAML document b strictly into v (a pointer), naming the file
// path in its error. Every problem names its field as the YAML writes it (bus.brokr,
// doors[1].lock.mode) with its line, and the fix: for an unknown field, the nearest
// allowed one or the list of those allowed there. root prefixes the paths of a file
// that is itself a list (roster).
func decodeYAML(path string, b []byte, v any, root string) error {
	var c checker
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		c.add("(file)", "not YAML: "+strings.TrimPrefix(err.Error(), "yaml: "), "fix the syntax at that line: indent with spaces, quote values holding ': ' or '#'")
		return c.err(path)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		c.add("(file)", "empty", minimal(v))
		return c.err(path)
	}
	top := doc.Content[0]
	t := reflect.TypeOf(v).Elem()
	lines := map[int]string{}
	walkYAML(&c, top, t, root, lines)
	if len(c.probs) > 0 {
		return c.err(path)
	}
	want := "mapping"
	if t.Kind() == reflect.Slice {
		want = "list"
	}
	if k := nodeKind(top); k != want {
		c.add("(file)", fmt.Sprintf("line %d holds a %s, not a %s", top.Line, k, want), minimal(v))
		return c.err(path)
	}
	if err := top.Decode(v); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			c.add("(file)", err.Error(), minimal(v))
			return c.err(path)
		}
		for _, e := range te.Errors {
			typeProblem(&c, e, lines, root)
		}
	}
	return c.err(path)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// nodeKind names the kind of n as a person writing YAML would.
func nodeKind(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	if isNull(n) {
		return "null"
	}
	return "single value"
}

var (
	typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	typeErrWhat = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (.+)$")
)

// typeProblem turns one of yaml.v3's type errors ("line 5: cannot unmarshal !!str
// `x` into int") into a problem naming the field on that line.
func typeProblem(c *checker, e string, lines map[int]string, root string) {
	field, what, fix := root, e, "write a value of the right type"
	if field == "" {
		field = "(file)"
	}
	if m := typeErrLine.FindStringSubmatch(e); m != nil {
		n, _ := strconv.Atoi(m[1])
		if f, ok := lines[n]; ok {
			field = f
		}
		what = m[2] + " at line " + m[1]
		if w := typeErrWhat.FindStringSubmatch(m[2]); w != nil {
			what = fmt.Sprintf("%q at line %s is not %s", w[2], m[1], typeName(w[3]))
			fix = typeFix(w[3])
		}
	}
	c.add(field, what, fix)
}

// yamlKind is a kind of Go type a YAML value decodes into: which types, what the
// value must be and how to write it.
type yamlKind struct {
	is        func(goType string) bool
	what, fix string
}

// yamlKinds says, for each kind of Go type a YAML value decodes into, what the value
// must be and how to write it; the last entry matches any other type (a struct).
var yamlKinds = []yamlKind{
	{func(t string) bool { return t == "time.Duration" }, "a duration", "write a duration such as 500ms, 30s, 5m or 72h"},
	{func(t string) bool { return t == "time.Time" }, "a time", "write a time in RFC 3339, e.g. 2026-11-22T14:00:00Z"},
	{func(t string) bool { return t == "bool" }, "true or false", "write true or false"},
	{func(t string) bool { return strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") }, "a whole number", "write a whole number, e.g. 3"},
	{func(t string) bool { return strings.HasPrefix(t, "float") }, "a number", "write a number, e.g. 0.05"},
	{func(t string) bool { return t == "string" }, "a single value", "write a single value (quote it if it holds ': ')"},
	{func(t string) bool { return strings.HasPrefix(t, "[]") }, "a list", "write a list: one '- item' a line, or [a, b]"},
	{func(string) bool { return true }, "a mapping of fields", "write its fields indented below it, or {field: value, ...}"},
}

// typeName says what a value of goType must be.
func typeName(goType string) string { return kindOf(goType).what }

// typeFix says how to write a value of goType.
func typeFix(goType string) string { return kindOf(goType).fix }

func kindOf(goType string) yamlKind {
	for _, k := range yamlKinds {
		if k.is(goType) {
			return k
		}
	}
	return yamlKinds[len(yamlKinds)-1]
}

var durationType = reflect.TypeOf(time.Duration(0))

// walkYAML checks the node n against the Go type t, adding a problem for every key
// that names no field, and recording in lines the field each line's value belongs to.
func walkYAML(c *checker, n *yaml.Node, t reflect.Type, path string, lines map[int]string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		if _, ok := lines[n.Line]; !ok {
			lines[n.Line] = path
		}
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) || t == durationType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // yaml.v3's type error says so
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue
			}
			sub := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				unknownField(c, sub, k, fields)
				continue
			}
			lines[k.Line] = sub
			walkYAML(c, val, ft, sub, lines)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, e := range n.Content {
			walkYAML(c, e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := join(path, n.Content[i].Value)
			lines[n.Content[i].Line] = sub
			walkYAML(c, n.Content[i+1], t.Elem(), sub, lines)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the YAML keys of struct t (with its inline structs) to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue // unexported
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					m[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		m[name] = f.Type
	}
	return m
}

// unknownField adds the problem of key k, at field path, which is none of fields.
func unknownField(c *checker, path string, k *yaml.Node, fields map[string]reflect.Type) {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	what := fmt.Sprintf("unknown field at line %d", k.Line)
	if near := nearest(k.Value, names); near != "" {
		c.add(path, what, "did you mean "+near+"?")
		return
	}
	c.add(path, what, "the fields allowed there are "+strings.Join(names, ", "))
}

// nearest returns the name in names closest to s, if it is close enough to be a
// likely typo: a different case, or within a third of its length in edits.
func nearest(s string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return n
		}
		d := editDistance(strings.ToLower(s), strings.ToLower(n))
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if bestD < 0 || bestD > max(1, len(best)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
