package mongoserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
)

// FerretDB v1 runs every update, findAndModify and delete as a read followed by a separate write of
// the whole document, so two concurrent writes to one document can lose one of them — something
// MongoDB never does (a single-document write is atomic there). Code written for MongoDB relies on
// that, so the embedded server puts a small wire-protocol proxy in front of FerretDB that lets only
// one write command run at a time. Reads pass through untouched and in parallel.

// MongoDB wire protocol (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/).
const (
	headerLen      = 16
	opMsg          = 2013
	maxMessageSize = 48 << 20 // MongoDB's maxMessageSizeBytes
	flagMoreToCome = 1 << 1
)

// writeCommands are the commands serialized by the proxy.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true,
}

// serializer is the proxy: it accepts client connections on ln and relays each to backend.
type serializer struct {
	ln        net.Listener
	backend   string
	writes    sync.Mutex                           // held while a write command runs in FerretDB
	onCommand func(db, command, collection string) // Options.OnCommand; set before the first connection

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newSerializer(ln net.Listener, backend string) *serializer {
	s := &serializer{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *serializer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // listener closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.relay(c)
		}()
	}
}

func (s *serializer) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.conns == nil {
			return false // closing
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// relay carries one client connection: each request goes to FerretDB, then its replies come back.
// The driver sends one request at a time per connection, so a request and its replies can be paired
// and a write command can hold the lock until FerretDB has answered it.
func (s *serializer) relay(client net.Conn) {
	defer client.Close()
	backend, err := net.Dial("tcp", s.backend)
	if err != nil {
		return
	}
	defer backend.Close()
	if !s.track(client, true) || !s.track(backend, true) {
		return
	}
	defer s.track(client, false)
	defer s.track(backend, false)

	for {
		req, err := readMessage(client)
		if err != nil {
			return
		}
		if err := s.roundTrip(client, backend, req); err != nil {
			return
		}
	}
}

func (s *serializer) roundTrip(client, backend net.Conn, req []byte) error {
	if s.onCommand != nil {
		if body, err := commandBody(req); err == nil {
			s.onCommand(describe(body))
		}
	}
	if isWrite(req) {
		s.writes.Lock()
		defer s.writes.Unlock()
	}
	if _, err := backend.Write(req); err != nil {
		return err
	}
	if moreToCome(req) {
		return nil // fire-and-forget: no reply
	}
	for {
		reply, err := readMessage(backend)
		if err != nil {
			return err
		}
		if _, err := client.Write(reply); err != nil {
			return err
		}
		if !moreToCome(reply) {
			return nil
		}
	}
}

// close stops accepting and drops every relayed connection.
func (s *serializer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}

func readMessage(r io.Reader) ([]byte, error) {
	var header [headerLen]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(header[0:4])))
	if n < headerLen || n > maxMessageSize {
		return nil, fmt.Errorf("mongoserver: message length %d out of range", n)
	}
	msg := make([]byte, n)
	copy(msg, header[:])
	if _, err := io.ReadFull(r, msg[headerLen:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func opCode(msg []byte) int32 { return int32(binary.LittleEndian.Uint32(msg[12:16])) }

func moreToCome(msg []byte) bool {
	return opCode(msg) == opMsg && len(msg) >= headerLen+4 &&
		binary.LittleEndian.Uint32(msg[headerLen:headerLen+4])&flagMoreToCome != 0
}

// isWrite reports whether msg is an OP_MSG whose command is one of writeCommands.
func isWrite(msg []byte) bool {
	name, err := commandName(msg)
	return err == nil && writeCommands[name]
}

// commandName returns the first key of the body (kind 0) section of an OP_MSG.
func commandName(msg []byte) (string, error) {
	if opCode(msg) != opMsg {
		return "", errors.New("not OP_MSG")
	}
	b := msg[headerLen+4:] // after flagBits
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		if len(b) < 4 {
			return "", errors.New("short section")
		}
		size := int(int32(binary.LittleEndian.Uint32(b[:4])))
		if size < 5 || size > len(b) {
			return "", errors.New("bad section size")
		}
		if kind == 0 {
			doc := b[4:size] // elements and the final 0x00
			if len(doc) < 2 {
				return "", errors.New("empty command")
			}
			key := doc[1:] // skip the element's type byte
			end := bytes.IndexByte(key, 0)
			if end < 0 {
				return "", errors.New("unterminated key")
			}
			return string(key[:end]), nil
		}
		b = b[size:] // kind 1: int32 size covers identifier and documents
	}
	return "", errors.New("no body section")
}

// commandBody returns the body (kind 0) section of an OP_MSG.
func commandBody(msg []byte) (bson.Raw, error) {
	if opCode(msg) != opMsg {
		return nil, errors.New("not OP_MSG")
	}
	b := msg[headerLen+4:]
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		if len(b) < 4 {
			return nil, errors.New("short section")
		}
		size := int(int32(binary.LittleEndian.Uint32(b[:4])))
		if kind == 0 {
			if size < 5 || size > len(b) {
				return nil, errors.New("bad section size")
			}
			return bson.Raw(b[:size]), nil
		}
		// kind 1: size, then the identifier and documents
		if size < 4 || size > len(b) {
			return nil, errors.New("bad section size")
		}
		b = b[size:]
	}
	return nil, errors.New("no body section")
}

// describe returns the database, command name and collection of a command body.
func describe(body bson.Raw) (db, command, collection string) {
	elems, err := body.Elements()
	if err != nil || len(elems) == 0 {
		return "", "", ""
	}
	command = elems[0].Key()
	if v, ok := elems[0].Value().StringValueOK(); ok {
		collection = v
	}
	if v, err := body.LookupErr("$db"); err == nil {
		db, _ = v.StringValueOK()
	}
	return db, command, collection
}
