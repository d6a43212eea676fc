package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Problem is one mistake in a configuration file.
type Problem struct {
	// File is the name of the configuration file.
	File string
	// Line is the 1-based line the problem is reported at: the field's own
	// line, or the line of its closest enclosing field when it is missing.
	Line int
	// Field is the path of the field, such as "teams[0].agents[1].password";
	// empty for syntax errors.
	Field string
	// Message says what is wrong, never quoting secrets.
	Message string
}

// String formats p as "file:line: field: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(p.Line))
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError reports every problem found in a configuration file, one
// per line, ordered by line.
type ValidationError struct {
	// Problems lists the mistakes, ordered by line.
	Problems []Problem
}

// Error implements error: one "file:line: field: message" line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LookupEnv looks up an environment variable, like os.LookupEnv.
type LookupEnv func(key string) (string, bool)

// Load reads, validates and returns the configuration in the YAML file at
// path. Fields the file omits take the values of Default; the environment
// supplies DATABASE_URL and agents' password_env secrets.
//
// Mistakes are returned together as a *ValidationError whose lines read
// "path:line: field: message".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse is Load for a file already read: name is used in error messages and
// as Config.Source, env supplies the environment (nil means none).
func Parse(name string, data []byte, env LookupEnv) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	cfg := Default()
	cfg.Source = name
	d := &decoder{
		file:    name,
		lines:   map[string]int{},
		anchors: map[string]ast.Node{},
		failed:  map[string]bool{},
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		line := 1
		msg := err.Error()
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			msg = yerr.GetMessage()
			if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
				line = tk.Position.Line
			}
		}
		return nil, &ValidationError{Problems: []Problem{{File: name, Line: line, Message: "yaml: " + msg}}}
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) > 1 {
		d.problem(nodeLine(docs[1].Body), "", "only one YAML document is allowed")
	}
	if len(docs) > 0 {
		d.decode("", docs[0].Body, reflect.ValueOf(&cfg).Elem())
	}
	if d.failed[""] {
		return nil, d.err() // not a mapping at all: nothing to validate
	}
	// Validate even after decoding problems so that every mistake is reported
	// at once; the validator keeps quiet about fields that failed to decode.
	v := &validator{decoder: d, env: env}
	v.validate(&cfg)
	if len(d.problems) > 0 {
		return nil, d.err()
	}
	return &cfg, nil
}

// decoder fills a Config from the YAML syntax tree, field by field, so that
// every mistake is reported with its line and field path, not just the first.
// Scalars and lists of scalars are converted by go-yaml; unknown fields are
// rejected (the strict equivalent of yaml.DisallowUnknownField).
type decoder struct {
	file     string
	lines    map[string]int
	anchors  map[string]ast.Node
	problems []Problem
	// failed holds the fields that could not be decoded.
	failed map[string]bool
}

// fail records a problem with decoding field.
func (d *decoder) fail(line int, field, format string, args ...any) {
	d.failed[field] = true
	d.problem(line, field, format, args...)
}

// failedAt reports whether field, or a field enclosing it, failed to decode.
func (d *decoder) failedAt(field string) bool {
	for field != "" {
		if d.failed[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return false
		}
		field = field[:i]
	}
	return false
}

func (d *decoder) problem(line int, field, format string, args ...any) {
	if line <= 0 {
		line = 1
	}
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// line returns the line of field, or of its closest enclosing field that
// appears in the file, or 1.
func (d *decoder) line(field string) int {
	for field != "" {
		if l, ok := d.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 1
}

func (d *decoder) err() error {
	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
	return &ValidationError{Problems: d.problems}
}

var durationType = reflect.TypeFor[time.Duration]()

// decode stores node n into v, which lives at field path.
func (d *decoder) decode(path string, n ast.Node, v reflect.Value) {
	n = d.resolve(path, n)
	if n == nil || n.Type() == ast.NullType {
		return // keep the default
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.decodeStruct(path, n, v)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		d.decodeSlice(path, n, v)
	default:
		d.decodeScalar(path, n, v)
	}
}

// resolve follows anchors, aliases and tags to the node holding the value.
func (d *decoder) resolve(path string, n ast.Node) ast.Node {
	for range 16 {
		switch t := n.(type) {
		case *ast.AnchorNode:
			if t.Name != nil {
				d.anchors[t.Name.String()] = t.Value
			}
			n = t.Value
		case *ast.AliasNode:
			name := ""
			if t.Value != nil {
				name = t.Value.String()
			}
			target, ok := d.anchors[name]
			if !ok {
				d.fail(nodeLine(n), path, "unknown alias *%s", name)
				return nil
			}
			n = target
		case *ast.TagNode:
			if _, ok := t.Value.(*ast.MappingNode); ok {
				n = t.Value
				continue
			}
			if _, ok := t.Value.(*ast.SequenceNode); ok {
				n = t.Value
				continue
			}
			return n // scalar tags are go-yaml's business
		default:
			return n
		}
	}
	d.fail(nodeLine(n), path, "aliases nested too deeply")
	return nil
}

func (d *decoder) decodeStruct(path string, n ast.Node, v reflect.Value) {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		d.fail(nodeLine(n), path, "must be a mapping of fields")
		return
	}
	fields := yamlFields(v.Type())
	seen := make(map[string]bool, len(values))
	for _, mv := range values {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			d.fail(nodeLine(mv.Key), path, "merge keys (<<) are not supported")
			continue
		}
		key := keyString(mv.Key)
		field := joinPath(path, key)
		if _, ok := d.lines[field]; !ok {
			d.lines[field] = nodeLine(mv.Key)
		}
		i, ok := fields[key]
		if !ok {
			d.fail(nodeLine(mv.Key), field, "unknown field")
			continue
		}
		if seen[key] {
			d.fail(nodeLine(mv.Key), field, "duplicate field")
			continue
		}
		seen[key] = true
		d.decode(field, mv.Value, v.Field(i))
	}
}

func (d *decoder) decodeSlice(path string, n ast.Node, v reflect.Value) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.fail(nodeLine(n), path, "must be a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, elem := range seq.Values {
		field := path + "[" + strconv.Itoa(i) + "]"
		d.lines[field] = nodeLine(elem)
		d.decode(field, elem, s.Index(i))
	}
	v.Set(s)
}

func (d *decoder) decodeScalar(path string, n ast.Node, v reflect.Value) {
	if v.Kind() == reflect.String {
		// Keep what was written: YAML reads +4930 as the integer 4930, which
		// would silently turn a number into another one.
		if lit, ok := literal(n); ok {
			v.SetString(lit)
			return
		}
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String {
		if seq, ok := n.(*ast.SequenceNode); ok {
			s := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
			for i, elem := range seq.Values {
				field := path + "[" + strconv.Itoa(i) + "]"
				d.lines[field] = nodeLine(elem)
				d.decode(field, elem, s.Index(i))
			}
			v.Set(s)
			return
		}
	}
	ptr := reflect.New(v.Type())
	if err := yaml.NodeToValue(n, ptr.Interface()); err != nil {
		// The value is not quoted: it may be a secret.
		d.fail(nodeLine(n), path, "must be %s", describe(v.Type()))
		return
	}
	v.Set(ptr.Elem())
}

// literal returns the source text of a plain scalar that YAML would read
// as a number, boolean or similar, for string fields.
func literal(n ast.Node) (string, bool) {
	switch n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if tk := n.GetToken(); tk != nil {
			return tk.Value, true
		}
	}
	return "", false
}

// describe names what a field of type t expects, for error messages.
func describe(t reflect.Type) string {
	if t == durationType {
		return `a duration such as "30s" or "4h"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(describe(t.Elem()), "a "), "an ") + "s"
	}
	return "a " + t.String()
}

var fieldCache sync.Map // reflect.Type -> map[string]int

// yamlFields maps the YAML names of t's fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}

func keyString(k ast.MapKeyNode) string {
	if s, ok := k.(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	return k.String()
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nodeLine returns the line a node starts at.
func nodeLine(n ast.Node) int {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		return nodeLine(m.Values[0])
	}
	if mv, ok := n.(*ast.MappingValueNode); ok && mv.Key != nil {
		return nodeLine(mv.Key)
	}
	if n == nil || reflect.ValueOf(n).IsNil() {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}
