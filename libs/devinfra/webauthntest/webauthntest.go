// Package webauthntest is a software WebAuthn authenticator for tests: it answers the options a
// relying party sends to navigator.credentials.create and .get with what a browser would send back
// (the PublicKeyCredential JSON), from ECDSA P-256 keys, "none" attestation and real authenticator
// data (rpIdHash, flags, signature counter, attested credential data with a COSE key). Options let a
// test play a misbehaving client: another origin, another RP ID, no user verification, a counter
// that does not advance (a cloned credential).
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	FlagAT = 0x40 // attested credential data included
)

// Credential is a passkey the authenticator holds.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	// SignCount is the counter of the last signature; the next one is SignCount+1 unless the
	// authenticator counts nothing (ZeroCounter). Set it back to replay a counter (a clone).
	SignCount uint32
}

// Authenticator holds credentials. The zero value is not usable; use New.
type Authenticator struct {
	// AAGUID identifies the authenticator model.
	AAGUID [16]byte
	// BackupEligible marks new credentials as synced passkeys (BE, and BS when BackedUp).
	BackupEligible, BackedUp bool
	// ZeroCounter makes the authenticator always report a zero counter (as synced passkeys do).
	ZeroCounter bool

	mu    sync.Mutex
	creds []*Credential
}

// New returns an authenticator without credentials.
func New() *Authenticator {
	a := &Authenticator{}
	copy(a.AAGUID[:], "latchkey-softkey")
	return a
}

// Options change one ceremony's answer.
type Options struct {
	// Origin is the origin the client reports in clientDataJSON (required).
	Origin string
	// RPID overrides the domain hashed into rpIdHash (default: the options' RP ID).
	RPID string
	// NoUserVerification leaves the UV flag off.
	NoUserVerification bool
	// Credential picks the credential of an assertion (default: the newest one for the RP allowed by
	// the options).
	Credential []byte
	// Challenge overrides the challenge reported in clientDataJSON.
	Challenge string
	// Type overrides clientDataJSON's type.
	Type string
}

// Credentials returns the credentials held, oldest first.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

// creationOptions is the part of PublicKeyCredentialCreationOptions the authenticator reads.
type creationOptions struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Exclude []descriptor `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge string       `json:"challenge"`
	RPID      string       `json:"rpId"`
	Allow     []descriptor `json:"allowCredentials"`
}

type descriptor struct {
	ID string `json:"id"`
}

// unwrap accepts {"publicKey": {...}} (CredentialCreation / CredentialAssertion) or the bare options.
func unwrap(raw []byte) []byte {
	var w struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if json.Unmarshal(raw, &w) == nil && len(w.PublicKey) > 0 {
		return w.PublicKey
	}
	return raw
}

var b64 = base64.RawURLEncoding

func decodeB64(s string) ([]byte, error) {
	if b, err := b64.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

// Create answers navigator.credentials.create(options): it makes a new credential and returns the
// attestation response JSON and the credential.
func (a *Authenticator) Create(options []byte, o Options) (json.RawMessage, *Credential, error) {
	var opts creationOptions
	if err := json.Unmarshal(unwrap(options), &opts); err != nil {
		return nil, nil, fmt.Errorf("creation options: %w", err)
	}
	if opts.Challenge == "" || opts.RP.ID == "" || opts.User.ID == "" {
		return nil, nil, errors.New("creation options lack challenge, rp.id or user.id")
	}
	handle, err := decodeB64(opts.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("user.id: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range opts.Exclude {
		id, _ := decodeB64(ex.ID)
		for _, c := range a.creds {
			if string(c.ID) == string(id) {
				return nil, nil, errors.New("InvalidStateError: a credential of the exclude list is present")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	c := &Credential{ID: make([]byte, 32), Key: key, RPID: opts.RP.ID, UserHandle: handle}
	if _, err := rand.Read(c.ID); err != nil {
		return nil, nil, err
	}
	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	attested := append(append(append([]byte{}, a.AAGUID[:]...), byte(len(c.ID)>>8), byte(len(c.ID))), c.ID...)
	attested = append(attested, cose...)
	authData := a.authData(o, opts.RP.ID, FlagAT, 0, attested)
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	cdj, err := clientData("webauthn.create", opts.Challenge, o)
	if err != nil {
		return nil, nil, err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cdj), "attestationObject": b64.EncodeToString(attObj),
			"transports": []string{"internal", "hybrid"},
		},
	})
	if err != nil {
		return nil, nil, err
	}
	a.creds = append(a.creds, c)
	return resp, c, nil
}

// Get answers navigator.credentials.get(options) with an assertion of one of the credentials held.
func (a *Authenticator) Get(options []byte, o Options) (json.RawMessage, error) {
	var opts requestOptions
	if err := json.Unmarshal(unwrap(options), &opts); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	if opts.Challenge == "" || opts.RPID == "" {
		return nil, errors.New("request options lack challenge or rpId")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c, err := a.pick(opts, o)
	if err != nil {
		return nil, err
	}
	if !a.ZeroCounter {
		c.SignCount++
	}
	authData := a.authData(o, opts.RPID, 0, c.SignCount, nil)
	cdj, err := clientData("webauthn.get", opts.Challenge, o)
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256(cdj)
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, sha256sum(append(append([]byte{}, authData...), hash[:]...)))
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cdj), "authenticatorData": b64.EncodeToString(authData),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(c.UserHandle),
		},
	})
}

func (a *Authenticator) pick(opts requestOptions, o Options) (*Credential, error) {
	allowed := func(c *Credential) bool {
		if len(opts.Allow) == 0 {
			return true
		}
		for _, d := range opts.Allow {
			if id, _ := decodeB64(d.ID); string(id) == string(c.ID) {
				return true
			}
		}
		return false
	}
	for i := len(a.creds) - 1; i >= 0; i-- {
		c := a.creds[i]
		if o.Credential != nil {
			if string(c.ID) == string(o.Credential) {
				return c, nil
			}
			continue
		}
		if c.RPID == opts.RPID && allowed(c) {
			return c, nil
		}
	}
	return nil, errors.New("NotAllowedError: no credential for this request")
}

func sha256sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// authData builds authenticator data for rpID (or o.RPID) with the authenticator's flags.
func (a *Authenticator) authData(o Options, rpID string, extra byte, count uint32, attested []byte) []byte {
	if o.RPID != "" {
		rpID = o.RPID
	}
	rpHash := sha256.Sum256([]byte(rpID))
	flags := byte(FlagUP) | extra
	if !o.NoUserVerification {
		flags |= FlagUV
	}
	if a.BackupEligible {
		flags |= FlagBE
		if a.BackedUp {
			flags |= FlagBS
		}
	}
	out := append(append([]byte{}, rpHash[:]...), flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

func clientData(typ, challenge string, o Options) ([]byte, error) {
	if o.Origin == "" {
		return nil, errors.New("webauthntest: Options.Origin is required")
	}
	if o.Type != "" {
		typ = o.Type
	}
	if o.Challenge != "" {
		challenge = o.Challenge
	}
	return json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": o.Origin, "crossOrigin": false})
}

// coseKey encodes a P-256 public key as a COSE_Key (EC2, ES256).
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	raw, err := pub.Bytes() // uncompressed: 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	enc, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return enc.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}
