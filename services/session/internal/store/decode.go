package store

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// decodeSessionDoc reads a session document (whole or projected) into d without the driver's
// reflection-based struct codec, which was most of the CPU a session list spends outside the round
// trip. It reads exactly what sessionDoc's bson tags name; other fields are ignored, a missing one
// keeps its zero value, and a field of another type than sessionDoc's is an error (as with Decode).
func decodeSessionDoc(raw bson.Raw, d *sessionDoc) error {
	elems, err := bsoncore.Document(raw).Elements()
	if err != nil {
		return fmt.Errorf("decode session: %w", err)
	}
	for _, e := range elems {
		v := e.Value()
		var err error
		key := e.KeyBytes()
		switch string(key) { // no allocation: the compiler compares the bytes
		case "_id":
			d.ID, err = str(key, v)
		case "accountId":
			d.AccountID, err = str(key, v)
		case "deviceId":
			d.DeviceID, err = str(key, v)
		case "deviceName":
			d.DeviceName, err = str(key, v)
		case "platform":
			d.Platform, err = str(key, v)
		case "browser":
			d.Browser, err = str(key, v)
		case "os":
			d.OS, err = str(key, v)
		case "ipAddress":
			d.IPAddress, err = str(key, v)
		case "userAgent":
			d.UserAgent, err = str(key, v)
		case "location":
			d.Location, err = str(key, v)
		case "revokeReason":
			d.RevokeReason, err = str(key, v)
		case "refreshHash":
			d.RefreshHash, err = str(key, v)
		case "graceHash":
			d.GraceHash, err = str(key, v)
		case "acr":
			d.ACR, err = str(key, v)
		case "createdAt":
			d.CreatedAt, err = date(key, v)
		case "lastActiveAt":
			d.LastActiveAt, err = date(key, v)
		case "expiresAt":
			d.ExpiresAt, err = date(key, v)
		case "absoluteExpiresAt":
			d.AbsoluteExpiresAt, err = date(key, v)
		case "revokedAt":
			d.RevokedAt, err = optionalDate(key, v)
		case "graceUntil":
			d.GraceUntil, err = optionalDate(key, v)
		case "authTime":
			d.AuthTime, err = optionalDate(key, v)
		case "rotatedRefreshHashes":
			d.RotatedRefreshHashes, err = strs(key, v)
		case "amr":
			d.AMR, err = strs(key, v)
		case "graceSealed":
			switch v.Type {
			case bsontype.Binary:
				_, data := v.Binary()
				d.GraceSealed = append([]byte(nil), data...)
			case bsontype.Null:
			default:
				err = typeError(key, v)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func typeError(key []byte, v bsoncore.Value) error {
	return fmt.Errorf("decode session: field %s is a BSON %s", key, v.Type)
}

func str(key []byte, v bsoncore.Value) (string, error) {
	switch v.Type {
	case bsontype.String:
		return v.StringValue(), nil
	case bsontype.Null:
		return "", nil
	}
	return "", typeError(key, v)
}

func date(key []byte, v bsoncore.Value) (time.Time, error) {
	switch v.Type {
	case bsontype.DateTime:
		return time.UnixMilli(v.DateTime()).UTC(), nil
	case bsontype.Null:
		return time.Time{}, nil
	}
	return time.Time{}, typeError(key, v)
}

func optionalDate(key []byte, v bsoncore.Value) (*time.Time, error) {
	if v.Type == bsontype.Null {
		return nil, nil
	}
	t, err := date(key, v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func strs(key []byte, v bsoncore.Value) ([]string, error) {
	switch v.Type {
	case bsontype.Array:
	case bsontype.Null:
		return nil, nil
	default:
		return nil, typeError(key, v)
	}
	vals, err := v.Array().Values()
	if err != nil {
		return nil, fmt.Errorf("decode session: field %s: %w", key, err)
	}
	out := make([]string, len(vals))
	for i, e := range vals {
		if out[i], err = str(key, e); err != nil {
			return nil, err
		}
	}
	return out, nil
}
