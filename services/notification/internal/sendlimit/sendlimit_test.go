package sendlimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/sendlimit"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func msgs(to string, channels ...string) []delivery.Message {
	out := make([]delivery.Message, len(channels))
	for i, ch := range channels {
		out[i] = delivery.Message{Channel: ch, To: to}
	}
	return out
}

func TestAllow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	hour := time.Hour
	for _, tc := range []struct {
		name  string
		cfg   sendlimit.Config
		sends [][]delivery.Message
		want  []bool
	}{
		{
			name:  "per destination, any channel",
			cfg:   sendlimit.Config{PerDestination: sendlimit.Limit{Max: 2, Window: hour}},
			sends: [][]delivery.Message{msgs("a@b.co", "EMAIL"), msgs("a@b.co", "EMAIL"), msgs("a@b.co", "EMAIL"), msgs("c@b.co", "EMAIL")},
			want:  []bool{true, true, false, true},
		},
		{
			name:  "both channels count twice",
			cfg:   sendlimit.Config{PerDestination: sendlimit.Limit{Max: 3, Window: hour}},
			sends: [][]delivery.Message{msgs("+15551230001", "SMS", "WHATSAPP"), msgs("+15551230001", "SMS", "WHATSAPP")},
			want:  []bool{true, false},
		},
		{
			name: "per country for phone channels",
			cfg:  sendlimit.Config{PerCountry: sendlimit.Limit{Max: 2, Window: hour}},
			sends: [][]delivery.Message{
				msgs("+4915100000001", "SMS"), msgs("+4915100000002", "WHATSAPP"), msgs("+4915100000003", "SMS"),
				msgs("+15551230001", "SMS"), msgs("x@y.de", "EMAIL"), msgs("z@y.de", "EMAIL"), msgs("w@y.de", "EMAIL"),
			},
			want: []bool{true, true, false, true, true, true, true},
		},
		{
			name: "country override and block",
			cfg: sendlimit.Config{PerCountry: sendlimit.Limit{Max: 100, Window: hour}, Countries: map[string]sendlimit.Limit{
				"234": {Max: 1, Window: hour}, "882": {Max: 0, Window: hour},
			}},
			sends: [][]delivery.Message{msgs("+2348000000001", "SMS"), msgs("+2348000000002", "SMS"), msgs("+88216000001", "SMS"), msgs("+4915100000001", "SMS")},
			want:  []bool{true, false, false, true},
		},
		{
			name:  "off limits nothing",
			cfg:   sendlimit.Config{},
			sends: [][]delivery.Message{msgs("a@b.co", "EMAIL"), msgs("a@b.co", "EMAIL"), msgs("a@b.co", "EMAIL")},
			want:  []bool{true, true, true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := testenv.New(t)
			l := sendlimit.New(env.Database("notification"), tc.cfg)
			if err := l.EnsureIndexes(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i, m := range tc.sends {
				ok, reason, err := l.Allow(context.Background(), m, now)
				if err != nil {
					t.Fatal(err)
				}
				if ok != tc.want[i] || ok == (reason != "") {
					t.Errorf("send %d to %s: allowed %v (%q), want %v", i, m[0].To, ok, reason, tc.want[i])
				}
			}
		})
	}
}

func TestAllowNextWindow(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	l := sendlimit.New(env.Database("notification"), sendlimit.Config{PerDestination: sendlimit.Limit{Max: 1, Window: time.Hour}})
	now := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC)
	for i, tc := range []struct {
		at   time.Time
		want bool
	}{{now, true}, {now.Add(10 * time.Minute), false}, {now.Add(40 * time.Minute), true}} {
		ok, _, err := l.Allow(context.Background(), msgs("a@b.co", "EMAIL"), tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if ok != tc.want {
			t.Errorf("send %d at %s: allowed %v, want %v", i, tc.at.Format(time.TimeOnly), ok, tc.want)
		}
	}
}

func TestCallingCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+15551234567", "1"}, {"+79161234567", "7"}, {"+4915112345678", "49"}, {"+447911123456", "44"},
		{"+2348012345678", "234"}, {"+353861234567", "353"}, {"4915112345678", "49"}, {"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := sendlimit.CallingCode(tc.in); got != tc.want {
				t.Errorf("CallingCode(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    sendlimit.Limit
		wantErr bool
	}{
		{"10/1h", sendlimit.Limit{Max: 10, Window: time.Hour}, false},
		{"0/24h", sendlimit.Limit{Max: 0, Window: 24 * time.Hour}, false},
		{"off", sendlimit.Limit{}, false},
		{"", sendlimit.Limit{}, false},
		{"10", sendlimit.Limit{}, true},
		{"-1/1h", sendlimit.Limit{}, true},
		{"5/forever", sendlimit.Limit{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := sendlimit.ParseLimit(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseLimit(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
	overrides, err := sendlimit.ParseOverrides("+234=5/1h, 44=500/1h")
	if err != nil || overrides["234"] != (sendlimit.Limit{Max: 5, Window: time.Hour}) || overrides["44"].Max != 500 {
		t.Errorf("ParseOverrides = %v, %v", overrides, err)
	}
	for _, bad := range []string{"+234", "+abc=1/1h", "+1=x"} {
		if _, err := sendlimit.ParseOverrides(bad); err == nil {
			t.Errorf("ParseOverrides(%q) succeeded", bad)
		}
	}
}
