package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// Decode reads the JSON request body into v. Malformed JSON, a missing body and values of the wrong
// type become a client error in the path's style: 422 (plain, as FastAPI answers) or 400/422
// (envelope). Unknown fields are ignored, as FastAPI does.
func Decode(c *fiber.Ctx, v any) error {
	body := c.Body()
	envelope := StyleFor(c.Path()) == Envelope
	if len(bytes.TrimSpace(body)) == 0 {
		if envelope {
			return BadRequest("Request body is required")
		}
		return Invalid(FieldError{Loc: []string{"body"}, Msg: "Field required", Type: "missing"})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = &json.SyntaxError{Offset: dec.InputOffset()}
		}
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		want := jsonTypeName(typeErr.Type.Kind().String())
		return Invalid(Body(typeErr.Field, "Input should be a valid "+want, want+"_type"))
	}
	if envelope {
		return BadRequest("Malformed JSON request body")
	}
	var syntaxErr *json.SyntaxError
	offset := int64(0)
	if errors.As(err, &syntaxErr) {
		offset = syntaxErr.Offset
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		offset = int64(len(body))
	}
	if typeErr != nil { // the body is not an object at all
		return Invalid(FieldError{Loc: []string{"body"}, Msg: "Input should be a valid dictionary or object", Type: "model_attributes_type"})
	}
	return Invalid(FieldError{Loc: []string{"body", strconv.FormatInt(offset, 10)}, Msg: "JSON decode error", Type: "json_invalid"})
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "slice", "array":
		return "list"
	}
	return "object"
}
