package random

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"math/big"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"golang.org/x/crypto/bcrypt"
)

// RandomPassword is random:index/randomPassword:RandomPassword. Any change of its inputs (the
// generation arguments or keepers) replaces it, so a new password is generated; there is no Update,
// as upstream marks every argument RequiresReplace. Its ID is "none", never the value.
type RandomPassword struct{}

var (
	_ infer.CustomResource[RandomPasswordArgs, RandomPasswordState]       = RandomPassword{}
	_ infer.CustomCheck[RandomPasswordArgs]                               = RandomPassword{}
	_ infer.CustomDiff[RandomPasswordArgs, RandomPasswordState]           = RandomPassword{}
	_ infer.ExplicitDependencies[RandomPasswordArgs, RandomPasswordState] = RandomPassword{}
)

// WireDependencies keeps infer's default flows and makes the generated values always secret.
func (RandomPassword) WireDependencies(f infer.FieldSelector, _ *RandomPasswordArgs, state *RandomPasswordState) {
	f.OutputField(&state.Result).AlwaysSecret()
	f.OutputField(&state.BcryptHash).AlwaysSecret()
}

// Diff compares the state's resolved arguments with the new ones resolved the same way, so that
// leaving out a default (special: true) is no change, and any real change replaces.
func (RandomPassword) Diff(_ context.Context, req infer.DiffRequest[RandomPasswordArgs, RandomPasswordState]) (infer.DiffResponse, error) {
	old, want := req.State, req.Inputs.resolve()
	d := map[string]p.PropertyDiff{}
	mark := func(name string, changed bool) {
		if changed {
			d[name] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
		}
	}
	mark("length", old.Length != want.Length)
	mark("lower", old.Lower != want.Lower)
	mark("upper", old.Upper != want.Upper)
	mark("numeric", old.Numeric != want.Numeric)
	mark("special", old.Special != want.Special)
	mark("minLower", old.MinLower != want.MinLower)
	mark("minUpper", old.MinUpper != want.MinUpper)
	mark("minNumeric", old.MinNumeric != want.MinNumeric)
	mark("minSpecial", old.MinSpecial != want.MinSpecial)
	// Upstream does not replace for "" <-> unset.
	mark("overrideSpecial", deref(old.OverrideSpecial) != deref(want.OverrideSpecial))
	mark("keepers", !maps.Equal(old.Keepers, want.Keepers))
	return infer.DiffResponse{HasChanges: len(d) > 0, DetailedDiff: d}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *RandomPassword) Annotate(a infer.Annotator) {
	a.SetToken("index/randomPassword", "RandomPassword")
	a.Describe(&r, "Identical to RandomString, except that the result is treated as sensitive. The value is "+
		"generated with crypto/rand and stored in the state as a secret.")
}

// RandomPasswordArgs are the inputs of RandomPassword, as in @pulumi/random 4.21.1.
type RandomPasswordArgs struct {
	Keepers         map[string]string `pulumi:"keepers,optional"`
	Length          int               `pulumi:"length"`
	Lower           *bool             `pulumi:"lower,optional"`
	MinLower        *int              `pulumi:"minLower,optional"`
	MinNumeric      *int              `pulumi:"minNumeric,optional"`
	MinSpecial      *int              `pulumi:"minSpecial,optional"`
	MinUpper        *int              `pulumi:"minUpper,optional"`
	Number          *bool             `pulumi:"number,optional"`
	Numeric         *bool             `pulumi:"numeric,optional"`
	OverrideSpecial *string           `pulumi:"overrideSpecial,optional"`
	Special         *bool             `pulumi:"special,optional"`
	Upper           *bool             `pulumi:"upper,optional"`
}

func (r *RandomPasswordArgs) Annotate(a infer.Annotator) {
	a.Describe(&r.Keepers, "Arbitrary map of values that, when changed, will trigger recreation of resource.")
	a.Describe(&r.Length, "The length of the string desired. The minimum value for length is 1 and, length must "+
		"also be >= (`minUpper` + `minLower` + `minNumeric` + `minSpecial`).")
	a.Describe(&r.Lower, "Include lowercase alphabet characters in the result. Default value is `true`.")
	a.Describe(&r.MinLower, "Minimum number of lowercase alphabet characters in the result. Default value is `0`.")
	a.Describe(&r.MinNumeric, "Minimum number of numeric characters in the result. Default value is `0`.")
	a.Describe(&r.MinSpecial, "Minimum number of special characters in the result. Default value is `0`.")
	a.Describe(&r.MinUpper, "Minimum number of uppercase alphabet characters in the result. Default value is `0`.")
	a.Describe(&r.Number, "Include numeric characters in the result. Default value is `true`. If `number`, "+
		"`upper`, `lower`, and `special` are all configured, at least one of them must be set to `true`.")
	a.Deprecate(&r.Number, "**NOTE**: This is deprecated, use `numeric` instead.")
	a.Describe(&r.Numeric, "Include numeric characters in the result. Default value is `true`.")
	a.Describe(&r.OverrideSpecial, "Supply your own list of special characters to use for string generation. This "+
		"overrides the default character list in the special argument.  The `special` argument must still be set "+
		"to true for any overwritten characters to be used in generation.")
	a.Describe(&r.Special, "Include special characters in the result. These are `!@#$%&*()-_=+[]{}<>:?`. Default "+
		"value is `true`.")
	a.Describe(&r.Upper, "Include uppercase alphabet characters in the result. Default value is `true`.")
}

// RandomPasswordState is the state: the arguments with every default resolved, and the secrets.
type RandomPasswordState struct {
	Keepers         map[string]string `pulumi:"keepers,optional"`
	Length          int               `pulumi:"length"`
	Lower           bool              `pulumi:"lower"`
	MinLower        int               `pulumi:"minLower"`
	MinNumeric      int               `pulumi:"minNumeric"`
	MinSpecial      int               `pulumi:"minSpecial"`
	MinUpper        int               `pulumi:"minUpper"`
	Number          bool              `pulumi:"number"`
	Numeric         bool              `pulumi:"numeric"`
	OverrideSpecial *string           `pulumi:"overrideSpecial,optional"`
	Special         bool              `pulumi:"special"`
	Upper           bool              `pulumi:"upper"`
	Result          string            `pulumi:"result" provider:"secret"`
	BcryptHash      string            `pulumi:"bcryptHash" provider:"secret"`
}

func (r *RandomPasswordState) Annotate(a infer.Annotator) {
	a.Describe(&r.Result, "The generated random string.")
	a.Describe(&r.BcryptHash, "A bcrypt hash of the generated random string. **NOTE**: If the generated random "+
		"string is greater than 72 bytes in length, `bcryptHash` will contain a hash of the first 72 bytes.")
}

const (
	lowerChars          = "abcdefghijklmnopqrstuvwxyz"
	upperChars          = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars        = "0123456789"
	defaultSpecialChars = "!@#$%&*()-_=+[]{}<>:?"
)

func boolOr(b *bool, d bool) bool {
	if b == nil {
		return d
	}
	return *b
}

func intOr(i *int) int {
	if i == nil {
		return 0
	}
	return *i
}

// resolve applies the defaults: every class on, every minimum 0; number and numeric are one setting
// (numeric wins when both are set, and either one false turns digits off when only it is set).
func (a RandomPasswordArgs) resolve() RandomPasswordState {
	numeric := true
	switch {
	case a.Numeric != nil:
		numeric = *a.Numeric
	case a.Number != nil:
		numeric = *a.Number
	}
	return RandomPasswordState{
		Keepers:         a.Keepers,
		Length:          a.Length,
		Lower:           boolOr(a.Lower, true),
		MinLower:        intOr(a.MinLower),
		MinNumeric:      intOr(a.MinNumeric),
		MinSpecial:      intOr(a.MinSpecial),
		MinUpper:        intOr(a.MinUpper),
		Number:          numeric,
		Numeric:         numeric,
		OverrideSpecial: a.OverrideSpecial,
		Special:         boolOr(a.Special, true),
		Upper:           boolOr(a.Upper, true),
	}
}

func (s RandomPasswordState) problems() []p.CheckFailure {
	var f []p.CheckFailure
	if s.Length < 1 {
		f = append(f, p.CheckFailure{Property: "length", Reason: "length must be at least 1"})
	}
	for name, v := range map[string]int{"minLower": s.MinLower, "minUpper": s.MinUpper, "minNumeric": s.MinNumeric, "minSpecial": s.MinSpecial} {
		if v < 0 {
			f = append(f, p.CheckFailure{Property: name, Reason: name + " must not be negative"})
		}
	}
	if sum := s.MinLower + s.MinUpper + s.MinNumeric + s.MinSpecial; s.Length >= 1 && s.Length < sum {
		f = append(f, p.CheckFailure{Property: "length", Reason: fmt.Sprintf(
			"length (%d) must be at least minUpper + minLower + minNumeric + minSpecial (%d)", s.Length, sum)})
	}
	if s.charset() == "" {
		f = append(f, p.CheckFailure{Property: "length", Reason: "at least one of upper, lower, numeric and special must be true"})
	}
	return f
}

func (s RandomPasswordState) specialChars() string {
	if s.OverrideSpecial != nil && *s.OverrideSpecial != "" {
		return *s.OverrideSpecial
	}
	return defaultSpecialChars
}

func (s RandomPasswordState) charset() string {
	chars := ""
	if s.Upper {
		chars += upperChars
	}
	if s.Lower {
		chars += lowerChars
	}
	if s.Numeric {
		chars += numericChars
	}
	if s.Special {
		chars += s.specialChars()
	}
	return chars
}

func (RandomPassword) Check(ctx context.Context, req infer.CheckRequest) (infer.CheckResponse[RandomPasswordArgs], error) {
	args, failures, err := infer.DefaultCheck[RandomPasswordArgs](ctx, req.NewInputs)
	if err != nil || len(failures) > 0 {
		return infer.CheckResponse[RandomPasswordArgs]{Inputs: args, Failures: failures}, err
	}
	// Unknown values decode as zero; they are checked once known.
	for _, k := range []string{"length", "minLower", "minUpper", "minNumeric", "minSpecial", "upper", "lower", "numeric", "number", "special", "overrideSpecial"} {
		if v, ok := req.NewInputs.GetOk(k); ok && v.IsComputed() {
			return infer.CheckResponse[RandomPasswordArgs]{Inputs: args}, nil
		}
	}
	return infer.CheckResponse[RandomPasswordArgs]{Inputs: args, Failures: args.resolve().problems()}, nil
}

func (RandomPassword) Create(ctx context.Context, req infer.CreateRequest[RandomPasswordArgs]) (infer.CreateResponse[RandomPasswordState], error) {
	state := req.Inputs.resolve()
	if req.DryRun {
		return infer.CreateResponse[RandomPasswordState]{ID: "none", Output: state}, nil
	}
	if f := state.problems(); len(f) > 0 {
		return infer.CreateResponse[RandomPasswordState]{}, fmt.Errorf("%s: %s", f[0].Property, f[0].Reason)
	}
	result, err := state.generate()
	if err != nil {
		return infer.CreateResponse[RandomPasswordState]{}, err
	}
	// bcrypt reads at most 72 bytes; newer x/crypto refuses longer input instead of ignoring the rest.
	hashed := []byte(result)
	if len(hashed) > 72 {
		hashed = hashed[:72]
	}
	hash, err := bcrypt.GenerateFromPassword(hashed, bcrypt.DefaultCost)
	if err != nil {
		return infer.CreateResponse[RandomPasswordState]{}, fmt.Errorf("bcrypt: %w", err)
	}
	state.Result, state.BcryptHash = result, string(hash)
	return infer.CreateResponse[RandomPasswordState]{ID: "none", Output: state}, nil
}

// generate draws the minimum counts from their classes, fills up to length from the whole charset,
// then shuffles, all with crypto/rand.
func (s RandomPasswordState) generate() (string, error) {
	out := make([]byte, 0, s.Length)
	for _, part := range []struct {
		chars string
		n     int
	}{{upperChars, s.MinUpper}, {lowerChars, s.MinLower}, {numericChars, s.MinNumeric}, {s.specialChars(), s.MinSpecial}} {
		b, err := pick(part.chars, part.n)
		if err != nil {
			return "", err
		}
		out = append(out, b...)
	}
	b, err := pick(s.charset(), s.Length-len(out))
	if err != nil {
		return "", err
	}
	out = append(out, b...)
	for i := len(out) - 1; i > 0; i-- {
		j, err := randInt(i + 1)
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

func pick(chars string, n int) ([]byte, error) {
	out := make([]byte, 0, max(n, 0))
	for range n {
		i, err := randInt(len(chars))
		if err != nil {
			return nil, err
		}
		out = append(out, chars[i])
	}
	return out, nil
}

func randInt(n int) (int, error) {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, fmt.Errorf("crypto/rand: %w", err)
	}
	return int(v.Int64()), nil
}
