package random_test

import (
	"strings"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"golang.org/x/crypto/bcrypt"

	"k3s-over-usb/tools/pulumi-engine/providers/random"
)

const urn = presource.URN("urn:pulumi:test::k3ou-provtest::random:index/randomPassword:RandomPassword::pw")

func server(t *testing.T) integration.Server {
	t.Helper()
	prov, err := random.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := integration.NewServer(t.Context(), "random", semver.MustParse("4.21.1"), integration.WithProvider(prov))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func inputs(kv map[string]any) property.Map {
	m := map[string]property.Value{}
	for k, v := range kv {
		switch v := v.(type) {
		case int:
			m[k] = property.New(float64(v))
		case bool:
			m[k] = property.New(v)
		case string:
			m[k] = property.New(v)
		case map[string]string:
			mm := map[string]property.Value{}
			for a, b := range v {
				mm[a] = property.New(b)
			}
			m[k] = property.New(property.NewMap(mm))
		default:
			panic(v)
		}
	}
	return property.NewMap(m)
}

func create(t *testing.T, s integration.Server, in map[string]any) (property.Map, property.Map) {
	t.Helper()
	c, err := s.Check(p.CheckRequest{Urn: urn, Inputs: inputs(in)})
	if err != nil || len(c.Failures) > 0 {
		t.Fatalf("check: %v %+v", err, c.Failures)
	}
	r, err := s.Create(p.CreateRequest{Urn: urn, Properties: c.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "none" {
		t.Errorf("id = %q, want none", r.ID)
	}
	return c.Inputs, r.Properties
}

func TestPassword(t *testing.T) {
	s := server(t)
	_, state := create(t, s, map[string]any{"length": 48, "special": false})
	result := state.Get("result")
	if !result.Secret() || !state.Get("bcryptHash").Secret() {
		t.Errorf("result/bcryptHash not secret")
	}
	pw := result.AsString()
	if len(pw) != 48 || strings.ContainsAny(pw, "!@#$%&*()-_=+[]{}<>:?") {
		t.Errorf("password %q", pw)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(state.Get("bcryptHash").AsString()), []byte(pw)); err != nil {
		t.Errorf("bcryptHash does not match: %v", err)
	}
	for k, want := range map[string]bool{"upper": true, "lower": true, "numeric": true, "number": true, "special": false} {
		if got := state.Get(k).AsBool(); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}

	// Minimums and the override set are honoured.
	for range 20 {
		_, st := create(t, s, map[string]any{
			"length": 12, "upper": false, "minNumeric": 3, "minSpecial": 2, "overrideSpecial": "-_",
		})
		pw := st.Get("result").AsString()
		var digits, specials int
		for _, c := range pw {
			switch {
			case c >= '0' && c <= '9':
				digits++
			case c == '-' || c == '_':
				specials++
			case c >= 'a' && c <= 'z':
			default:
				t.Fatalf("unexpected character %q in %q", c, pw)
			}
		}
		if len(pw) != 12 || digits < 3 || specials < 2 {
			t.Fatalf("%q: %d digits, %d specials", pw, digits, specials)
		}
	}

	// numeric false (or the deprecated number false) removes digits.
	for _, k := range []string{"numeric", "number"} {
		_, st := create(t, s, map[string]any{"length": 64, k: false})
		if pw := st.Get("result").AsString(); strings.ContainsAny(pw, "0123456789") {
			t.Errorf("%s=false: %q has digits", k, pw)
		}
	}
}

func TestInvalid(t *testing.T) {
	s := server(t)
	for name, in := range map[string]map[string]any{
		"zero length":   {"length": 0},
		"mins too big":  {"length": 3, "minUpper": 2, "minLower": 2},
		"no characters": {"length": 8, "upper": false, "lower": false, "numeric": false, "special": false},
	} {
		c, err := s.Check(p.CheckRequest{Urn: urn, Inputs: inputs(in)})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Failures) == 0 {
			t.Errorf("%s: no check failure", name)
		}
	}
}

func TestEveryChangeReplaces(t *testing.T) {
	s := server(t)
	base := map[string]any{"length": 16, "special": false, "keepers": map[string]string{"k": "1"}}
	olds, state := create(t, s, base)

	same, _ := s.Check(p.CheckRequest{Urn: urn, Inputs: inputs(base)})
	d, err := s.Diff(p.DiffRequest{ID: "none", Urn: urn, State: state, OldInputs: olds, Inputs: same.Inputs})
	if err != nil || d.HasChanges {
		t.Fatalf("no change: %+v %v", d, err)
	}
	for name, change := range map[string]map[string]any{
		"keepers":         {"length": 16, "special": false, "keepers": map[string]string{"k": "2"}},
		"length":          {"length": 17, "special": false, "keepers": map[string]string{"k": "1"}},
		"special":         {"length": 16, "special": true, "keepers": map[string]string{"k": "1"}},
		"minUpper":        {"length": 16, "special": false, "keepers": map[string]string{"k": "1"}, "minUpper": 1},
		"overrideSpecial": {"length": 16, "special": false, "keepers": map[string]string{"k": "1"}, "overrideSpecial": "-"},
	} {
		news, err := s.Check(p.CheckRequest{Urn: urn, Inputs: inputs(change)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Diff(p.DiffRequest{ID: "none", Urn: urn, State: state, OldInputs: olds, Inputs: news.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		replace := false
		for _, pd := range d.DetailedDiff {
			if pd.Kind == p.UpdateReplace || pd.Kind == p.AddReplace || pd.Kind == p.DeleteReplace {
				replace = true
			}
		}
		if !d.HasChanges || !replace {
			t.Errorf("%s: %+v", name, d)
		}
	}
}
