package events_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
)

func TestExportPartEventIDIsStableAndDistinct(t *testing.T) {
	t.Parallel()
	uuid5 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a := events.ExportPartEventID("exp-1", events.ExportServiceSession)
	if a != events.ExportPartEventID("exp-1", events.ExportServiceSession) || !uuid5.MatchString(a) {
		t.Errorf("id %q is not a stable version 5 UUID", a)
	}
	for _, other := range []string{
		events.ExportPartEventID("exp-1", events.ExportServiceProfile),
		events.ExportPartEventID("exp-2", events.ExportServiceSession),
		events.ExportDerivedID("exp-1", events.ExportServiceSession),
	} {
		if other == a {
			t.Errorf("different parts share the id %s", a)
		}
	}
	ev, err := events.NewExportPart("acc-1", "exp-1", events.ExportServiceSession, []byte(`{}`))
	if err != nil || ev.EventID != a || ev.Type != events.TypeExportPart || ev.AccountID != "acc-1" {
		t.Errorf("NewExportPart = %+v, %v", ev, err)
	}
}

func TestMarshalExportDataShrinksToTheCap(t *testing.T) {
	t.Parallel()
	data := struct {
		Items     []string `json:"items"`
		Truncated bool     `json:"truncated,omitempty"`
	}{}
	for range 2000 {
		data.Items = append(data.Items, strings.Repeat("x", 1000))
	}
	raw, truncated, err := events.MarshalExportData(&data, func() bool {
		if len(data.Items) == 0 {
			return false
		}
		data.Items, data.Truncated = data.Items[:len(data.Items)/2], true
		return true
	})
	if err != nil || !truncated || len(raw) > events.MaxExportPartBytes || !strings.Contains(string(raw), `"truncated":true`) || len(data.Items) < 400 {
		t.Errorf("%d bytes, truncated %v, %d items left, err %v", len(raw), truncated, len(data.Items), err)
	}
	big := map[string]string{"x": strings.Repeat("y", events.MaxExportPartBytes)}
	if _, _, err := events.MarshalExportData(big, nil); err == nil {
		t.Errorf("an oversized part without shrink was accepted")
	}
}
