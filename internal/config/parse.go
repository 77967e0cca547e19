package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/userflow-sync/userflow-sync/mapping"
)

// Load reads the file at path and parses it with the process's environment;
// see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, os.LookupEnv)
}

// Parse reads a configuration: it expands variables in the raw text with
// lookupEnv (see expand), decodes the YAML strictly, takes userflow.api_key
// from USERFLOW_API_KEY when it is empty, applies the defaults and validates.
// It returns the config, or nil and an errors.Join of every problem found:
// those of the text first (unset variables; else unknown keys and values of
// the wrong type), then Validate's.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	var secrets []string
	lookup := func(name string) (string, bool) {
		v, ok := lookupEnv(name)
		if ok && secretName(name) {
			secrets = append(secrets, v)
		}
		return v, ok
	}
	c, err := parseExpanded(data, lookup)
	if err != nil {
		return nil, redactErr(err, secrets)
	}
	return c, nil
}

func parseExpanded(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	text, err := expand(data, lookupEnv)
	if err != nil {
		return nil, err
	}
	c := new(Config)
	decodeErr := decode(text, c)
	var fe *FieldError
	if decodeErr != nil && !errors.As(decodeErr, &fe) {
		return nil, decodeErr // not YAML, or more than one document
	}
	if c.Userflow.APIKey == "" {
		v, _ := lookupEnv(APIKeyEnv)
		c.Userflow.APIKey = Secret(v)
	}
	if errs := append(unjoin(decodeErr), unjoin(c.Validate())...); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// secretName reports whether an environment variable's name says it holds a
// secret. Its value is kept out of every problem Parse reports, wherever the
// file put it: YAML errors quote the values they reject, and a key pasted
// into the wrong field must not be printed by validate.
func secretName(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range []string{"KEY", "SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// redactErr replaces every secret (of four or more bytes) in the problems of
// err with [REDACTED].
func redactErr(err error, secrets []string) error {
	var rs []string
	for _, s := range secrets {
		if len(s) >= 4 {
			rs = append(rs, s, redacted)
		}
	}
	if len(rs) == 0 {
		return err
	}
	r := strings.NewReplacer(rs...)
	var out []error
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, &FieldError{Line: fe.Line, Path: r.Replace(fe.Path), Problem: r.Replace(fe.Problem)})
			continue
		}
		out = append(out, errors.New(r.Replace(e.Error())))
	}
	return errors.Join(out...)
}

// expand replaces, in text, ${VAR} with the value of the environment variable
// VAR, ${VAR:-default} with that value or, when VAR is unset or empty, with
// default (the text up to the first "}"), and $$ with $. Any other $ is kept.
// Lines that are comments (# after blanks) are kept as they are. An unset
// variable without a default, or a malformed reference, is a *FieldError
// naming its line; every one is reported.
//
// Values are pasted in as they are: a value with YAML syntax in it (": ",
// " #", a leading quote or bracket) needs the reference to be quoted.
func expand(text []byte, lookupEnv func(string) (string, bool)) ([]byte, error) {
	var out bytes.Buffer
	var errs []error
	for n, line := range bytes.SplitAfter(text, []byte("\n")) {
		if t := bytes.TrimLeft(line, " \t"); len(t) > 0 && t[0] == '#' {
			out.Write(line)
			continue
		}
		for {
			i := bytes.IndexByte(line, '$')
			if i < 0 || i == len(line)-1 {
				out.Write(line)
				break
			}
			out.Write(line[:i])
			switch line[i+1] {
			case '$':
				out.WriteByte('$')
				line = line[i+2:]
				continue
			case '{':
			default:
				out.WriteByte('$')
				line = line[i+1:]
				continue
			}
			end := bytes.IndexByte(line[i:], '}')
			if end < 0 {
				errs = append(errs, &FieldError{Line: n + 1, Problem: "${ without a closing }"})
				break
			}
			ref := string(line[i+2 : i+end])
			line = line[i+end+1:]
			name, def, hasDef := strings.Cut(ref, ":-")
			if !envName.MatchString(name) {
				errs = append(errs, &FieldError{Line: n + 1, Problem: fmt.Sprintf("${%s}: not a variable name", name)})
				continue
			}
			switch v, set := lookupEnv(name); {
			case set && (v != "" || !hasDef):
				out.WriteString(v)
			case hasDef:
				out.WriteString(def)
			default:
				errs = append(errs, &FieldError{Line: n + 1, Problem: fmt.Sprintf("environment variable %s is not set", name)})
			}
		}
	}
	return out.Bytes(), errors.Join(errs...)
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// decode decodes text into c strictly. Unknown keys and values of the wrong
// type are *FieldErrors with their line and path; decoding goes on past them,
// so that all are reported. An empty text leaves c as it is.
func decode(text []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	err := dec.Decode(c)
	var te *yaml.TypeError
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		if !errors.Is(dec.Decode(new(yaml.Node)), io.EOF) {
			return errors.New("config: more than one YAML document")
		}
		return nil
	case !errors.As(err, &te):
		return err
	}
	var root yaml.Node
	_ = yaml.Unmarshal(text, &root) // the decoder has just parsed it
	var nodes []located
	locate(&root, "", reflect.TypeFor[Config](), &nodes)
	errs := make([]error, len(te.Errors))
	for i, msg := range te.Errors {
		errs[i] = problemAt(msg, nodes)
	}
	return errors.Join(errs...)
}

// located is a node of the document with its path and the Go type it
// decodes into (nil if none).
type located struct {
	key  *yaml.Node // nil for an item of a sequence
	node *yaml.Node
	path string
	typ  reflect.Type
}

// locate lists the nodes below n, which decodes into t, in document order.
func locate(n *yaml.Node, path string, t reflect.Type, out *[]located) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			locate(c, path, t, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + p
			}
			ct := childType(t, k.Value)
			*out = append(*out, located{k, v, p, ct})
			locate(v, p, ct, out)
		}
	case yaml.SequenceNode:
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = deref(t.Elem())
		}
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			*out = append(*out, located{nil, v, p, et})
			locate(v, p, et, out)
		}
	}
}

// childType is the type of key's value in a t: a struct's field, inline
// fields' included, or a map's element; nil if none.
func childType(t reflect.Type, key string) reflect.Type {
	switch {
	case t == nil:
		return nil
	case t.Kind() == reflect.Map:
		return deref(t.Elem())
	case t.Kind() != reflect.Struct:
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opt, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opt == "inline" {
			if ft := childType(f.Type, key); ft != nil {
				return ft
			}
		} else if name == key {
			return deref(f.Type)
		}
	}
	return nil
}

// deref is the type a pointer type's values decode into: the decoder
// names that one.
func deref(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// The decoder's messages, the only form in which yaml.v3 reports them.
var (
	unknownKeyMsg = regexp.MustCompile(`^line (\d+): field (.*) not found in type \S+$`)
	badValueMsg   = regexp.MustCompile("^line (\\d+): cannot unmarshal (\\S+)(?: `(.*)`)? into (\\S+)$")
)

// describe says what a value of type t looks like in the file.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration such as 100ms or 10s"
	case reflect.TypeFor[mapping.AttributeSpec]():
		return "a column name or a mapping of column, type, unit and null"
	}
	switch t.Kind() {
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	}
	return "a mapping"
}

// decodedAs maps the types that the decoder names in place of the field's:
// AttributeSpec.UnmarshalYAML decodes its mapping form as attributeSpec.
var decodedAs = map[string]string{"mapping.attributeSpec": "mapping.AttributeSpec"}

// collections are the decoder's tags of lists and mappings: the kind of
// node, and what a problem calls it.
var collections = map[string]struct {
	kind yaml.Kind
	name string
}{"!!seq": {yaml.SequenceNode, "a list"}, "!!map": {yaml.MappingNode, "a mapping"}}

// problemAt turns one of the decoder's messages into a *FieldError naming
// the path of the node it is about.
func problemAt(msg string, nodes []located) error {
	if m := unknownKeyMsg.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		for _, l := range nodes {
			if l.key != nil && l.key.Line == line && l.key.Value == m[2] {
				return &FieldError{Line: line, Path: l.path, Problem: "unknown key"}
			}
		}
	}
	if m := badValueMsg.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		typ := cmp.Or(decodedAs[m[4]], m[4])
		kind, got := yaml.ScalarNode, ""
		if c, ok := collections[m[2]]; ok {
			kind, got = c.kind, c.name
		}
		// The decoder cuts a value of more than 10 bytes to 7 and "...".
		shown, cut := strings.CutSuffix(m[3], "...")
		cut = cut && len(m[3]) == 10
		for _, l := range nodes {
			if l.node.Line != line || l.node.Kind != kind || l.typ == nil || l.typ.String() != typ ||
				!(l.node.Value == shown || cut && strings.HasPrefix(l.node.Value, shown)) {
				continue
			}
			if got == "" {
				got = strconv.Quote(l.node.Value)
			}
			return &FieldError{Line: line, Path: l.path, Problem: got + " is not " + describe(l.typ)}
		}
	}
	return &FieldError{Problem: msg} // a message of another form, as it is
}
