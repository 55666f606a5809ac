package events

import (
	"crypto/sha1" //nolint:gosec // a name-based UUID (RFC 9562 version 5), not a security function
	"encoding/json"
	"errors"
	"fmt"
)

// What the services producing export parts share (see ExportRequested and ExportPart).

// AlertExportReady tells the owner that an export they asked for can be downloaded. Details:
// exportId. It never carries any of the exported data.
const AlertExportReady = "export_ready"

// Export part producers (ExportPart.Service). Identity adds its own part itself.
const (
	ExportServiceSession      = "session"
	ExportServiceProfile      = "profile"
	ExportServiceNotification = "notification"
)

// ExportPartServices are the services whose parts identity waits for before an export is complete.
var ExportPartServices = []string{ExportServiceSession, ExportServiceProfile, ExportServiceNotification}

// MaxExportPartBytes caps the JSON of one part's Data. A part travels as one Kafka message, and
// Kafka's default message limit (broker message.max.bytes, kafka-go's Writer.BatchBytes) is 1 MiB: the
// cap leaves room for the envelope. A service whose data is larger drops its oldest records until it
// fits and says so ("truncated": true).
const MaxExportPartBytes = 900 << 10

// ErrExportPartTooLarge is a part that does not fit in MaxExportPartBytes even with nothing left to
// drop.
var ErrExportPartTooLarge = errors.New("export part larger than the limit")

// exportPartNamespace is the UUID namespace of export part event ids.
var exportPartNamespace = [16]byte{0x7c, 0x1e, 0x4b, 0x90, 0x35, 0xd2, 0x4f, 0x61, 0x9a, 0x08, 0xe3, 0x5b, 0x27, 0xc4, 0x6d, 0x11}

// ExportPartEventID is the event id of service's part of export exportID: the same for every attempt,
// so a part published twice (redelivered request, relay retry) is stored once.
func ExportPartEventID(exportID, service string) string {
	return nameUUID(exportPartNamespace, exportID+":"+service)
}

// ExportDerivedID is a stable id for something that happens once per export (e.g. its ready alert).
func ExportDerivedID(exportID, what string) string {
	return nameUUID(exportPartNamespace, exportID+"#"+what)
}

// nameUUID is an RFC 9562 version 5 UUID of name in namespace.
func nameUUID(namespace [16]byte, name string) string {
	h := sha1.New() //nolint:gosec // see the import
	h.Write(namespace[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = (b[6] & 0x0f) | 0x50
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// MarshalExportData marshals a part's data and, while it is larger than MaxExportPartBytes, calls
// shrink (which drops some of the oldest records and reports false when nothing is left to drop) and
// tries again. truncated says whether shrink was needed.
func MarshalExportData(data any, shrink func() bool) (raw json.RawMessage, truncated bool, err error) {
	for {
		raw, err = json.Marshal(data)
		if err != nil {
			return nil, truncated, fmt.Errorf("marshal export data: %w", err)
		}
		if len(raw) <= MaxExportPartBytes {
			return raw, truncated, nil
		}
		if shrink == nil || !shrink() {
			return nil, truncated, ErrExportPartTooLarge
		}
		truncated = true
	}
}

// NewExportPart is the envelope of service's part of export exportID of accountID, with its stable
// event id.
func NewExportPart(accountID, exportID, service string, data json.RawMessage) (Envelope, error) {
	ev, err := New(TypeExportPart, accountID, ExportPart{ExportID: exportID, Service: service, Data: data})
	if err != nil {
		return Envelope{}, err
	}
	ev.EventID = ExportPartEventID(exportID, service)
	return ev, nil
}
